//! What each plugin instance's `Store` holds: its WASI context (granting
//! nothing), its name for the log, and its key-value state.

use std::collections::BTreeMap;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

pub struct PluginData {
    pub(crate) plugin: String,
    pub(crate) state: BTreeMap<String, Vec<u8>>,
    /// Previous values of the keys changed by the call in progress, so a
    /// failed call can be undone: a batch that goes to the dead-letter must
    /// leave no trace in state.
    pub(crate) undo: Vec<(String, Option<Vec<u8>>)>,
    /// The instance's memory cap (a failed grow traps, naming the limit).
    pub(crate) limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl PluginData {
    pub fn new(plugin: &str, state: BTreeMap<String, Vec<u8>>, memory_limit: usize) -> Self {
        // No preopened directories, environment, arguments or sockets: a
        // plugin sees only what the contract gives it. Its stderr reaches the
        // host's, so a panic message is not lost.
        let wasi = WasiCtx::builder().inherit_stderr().build();
        let limits = StoreLimitsBuilder::new()
            .memory_size(memory_limit)
            .trap_on_grow_failure(true)
            .build();
        PluginData {
            plugin: plugin.to_string(),
            state,
            undo: Vec::new(),
            limits,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// Keeps the state changes of the call that just succeeded.
    pub fn commit_call(&mut self) {
        self.undo.clear();
    }

    /// Reverts the state changes of the call that just failed.
    pub fn roll_back_call(&mut self) {
        while let Some((key, previous)) = self.undo.pop() {
            match previous {
                Some(value) => self.state.insert(key, value),
                None => self.state.remove(&key),
            };
        }
    }
}

impl WasiView for PluginData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

// The `types` interface has no functions; its host trait is empty.
impl super::bindings::wit::Host for PluginData {}

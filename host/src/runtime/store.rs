//! What each plugin instance's `Store` holds: its WASI context (granting
//! nothing but what the pipeline grants), its name for the log, and its
//! key-value state.

use super::PluginSettings;
use std::collections::BTreeMap;
use std::time::Duration;
use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

pub struct PluginData {
    pub(crate) plugin: String,
    pub(crate) state: BTreeMap<String, Vec<u8>>,
    /// Previous values of the keys changed by the call in progress, so a
    /// failed call can be undone: a batch that goes to the dead-letter must
    /// leave no trace in state.
    pub(crate) undo: Vec<(String, Option<Vec<u8>>)>,
    /// The instance's memory cap (a grow past it traps, naming the limit).
    pub(crate) limits: MemoryCap,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl PluginData {
    pub fn new(plugin: &str, state: BTreeMap<String, Vec<u8>>, settings: &PluginSettings) -> Self {
        // No preopened directories, environment, arguments or sockets
        // (wasmtime-wasi denies TCP, UDP and name lookup unless allowed): a
        // plugin sees only what the contract gives it. Its stderr reaches the
        // host's, so a panic message is not lost.
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        if !settings.clock {
            wasi.wall_clock(StoppedClock).monotonic_clock(StoppedClock);
        }
        let wasi = wasi.build();
        let limits = MemoryCap {
            limit: settings.limits.memory,
            size: 0,
        };
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
impl crate::contract::wit::Host for PluginData {}

/// The clocks of a plugin granted none: they read the Unix epoch, always.
/// Time-dependent output would differ when a batch is replayed after a
/// crash, which exactly-once delivery cannot allow.
struct StoppedClock;

impl HostWallClock for StoppedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl HostMonotonicClock for StoppedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Caps an instance's linear memory and remembers its size for metrics
/// (memories only grow, so the last size granted is the current one).
pub struct MemoryCap {
    pub(crate) limit: usize,
    pub(crate) size: usize,
}

/// The message of the trap a grow past the cap raises; `trap_reason`
/// recognises it.
pub(crate) const MEMORY_CAP_TRAP: &str = "the instance's memory cap was reached";

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            // An error, not `Ok(false)`: a refused grow would hand the guest
            // -1, and most guests abort with a vaguer message; a trap names it.
            return Err(wasmtime::format_err!("{MEMORY_CAP_TRAP}"));
        }
        self.size = self.size.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

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
    /// Read it anywhere; change it through `set_state`, `put` and `remove`,
    /// which keep `state_bytes` right.
    pub(crate) state: BTreeMap<String, Vec<u8>>,
    /// Bytes of keys and values in `state`, against `state_limit`.
    pub(crate) state_bytes: usize,
    pub(crate) state_limit: usize,
    /// Writes refused because they would pass `state_limit` (for metrics).
    pub(crate) state_refusals: u64,
    /// Log messages the current call may still send, and those it dropped.
    pub(crate) log_budget: usize,
    pub(crate) logs_dropped: u64,
    /// Log messages dropped over the instance's calls (for metrics).
    pub(crate) logs_dropped_total: u64,
    /// Previous values of the keys changed by the call in progress, so a
    /// failed call can be undone: a batch that goes to the dead-letter must
    /// leave no trace in state.
    pub(crate) undo: Vec<(String, Option<Vec<u8>>)>,
    /// The instance's memory cap (a grow past it traps, naming the limit).
    pub(crate) limits: MemoryCap,
    /// The reference tables the plugin may look keys up in.
    pub(crate) tables: Option<super::lookup::TableGrants>,
    /// Time the call in progress spent waiting for a table's database to
    /// come back, which its deadline does not count.
    pub(crate) waited: Duration,
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
            state_bytes: bytes_of(&state),
            state,
            state_limit: settings.limits.state,
            state_refusals: 0,
            log_budget: LOG_MESSAGES_PER_CALL,
            logs_dropped: 0,
            logs_dropped_total: 0,
            undo: Vec::new(),
            limits,
            tables: settings.tables.clone(),
            waited: Duration::ZERO,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// Replaces the whole state (a restore or a rolled-back reload).
    pub fn set_state(&mut self, state: BTreeMap<String, Vec<u8>>) {
        self.state_bytes = bytes_of(&state);
        self.state = state;
        self.undo.clear();
    }

    /// Sets `key`, unless the state would then pass its limit; returns the
    /// previous value. Replacing a value counts only the difference.
    pub(crate) fn put(&mut self, key: String, value: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
        let old = self.state.get(&key).map_or(0, |v| key.len() + v.len());
        let new = key.len() + value.len();
        let after = (self.state_bytes - old).saturating_add(new);
        if new > old && after > self.state_limit {
            self.state_refusals += 1;
            return Err(format!(
                "setting state key `{}` ({new} bytes) would take its state to {after} bytes, \
                 over its limit of {} bytes (`state_limit_mb`)",
                shorten(&key),
                self.state_limit
            ));
        }
        self.state_bytes = after;
        Ok(self.state.insert(key, value))
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        let previous = self.state.remove(key);
        if let Some(v) = &previous {
            self.state_bytes -= key.len() + v.len();
        }
        previous
    }

    /// Keeps the state changes of the call that just succeeded.
    pub fn commit_call(&mut self) {
        self.undo.clear();
        self.end_call();
    }

    /// Reverts the state changes of the call that just failed.
    pub fn roll_back_call(&mut self) {
        while let Some((key, previous)) = self.undo.pop() {
            match previous {
                Some(value) => {
                    // Undoing never needs the limit: it goes back to a state
                    // that was within it.
                    self.remove(&key);
                    self.state_bytes += key.len() + value.len();
                    self.state.insert(key, value);
                }
                None => {
                    self.remove(&key);
                }
            };
        }
        self.end_call();
    }

    /// Says how many log messages the call dropped, and refills the budget.
    fn end_call(&mut self) {
        if self.logs_dropped > 0 {
            tracing::warn!(plugin = %self.plugin, dropped = self.logs_dropped, "The plugin logged more than {LOG_MESSAGES_PER_CALL} messages in one call; the rest were dropped.");
        }
        self.logs_dropped_total += std::mem::take(&mut self.logs_dropped);
        self.log_budget = LOG_MESSAGES_PER_CALL;
        self.waited = Duration::ZERO;
    }
}

/// Log messages one call may send: enough to explain a batch, few enough
/// that a plugin logging in a loop cannot drown the host's log.
pub const LOG_MESSAGES_PER_CALL: usize = 1000;

/// Longest log message kept whole (longer ones are cut, saying so).
pub const LOG_MESSAGE_BYTES: usize = 4096;

fn bytes_of(state: &BTreeMap<String, Vec<u8>>) -> usize {
    state.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// A key as an error shows it: long keys are cut.
fn shorten(key: &str) -> String {
    match key.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &key[..i]),
        None => key.to_string(),
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

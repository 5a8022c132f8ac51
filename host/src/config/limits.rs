//! The limits of a plugin's calls and their defaults, in one place: the
//! pipeline file's defaults, the `type =` shorthand sinks and
//! `PluginLimits::default` all read these constants, and the limits of a
//! transform or a sink entry are built from its config here only.

use super::{PluginSinkConfig, TransformConfig};
use std::time::Duration;

/// Memory an instance may grow to, in MiB (`memory_limit_mb`).
pub const DEFAULT_MEMORY_LIMIT_MB: u64 = 512;
/// The most `memory_limit_mb` may be: the instance pool reserves this much
/// address space for each of its memories (`runtime::Runtime::new`), so an
/// instance can never grow past it whatever its limit says.
pub const MAX_MEMORY_LIMIT_MB: u64 = 1024;
/// How long one transform call may run, in ms (`timeout_ms`).
pub const DEFAULT_TRANSFORM_TIMEOUT_MS: u64 = 10_000;
/// How long one sink call may run, in ms (`timeout_ms`): sinks write
/// whole batches, so they get longer (time in the database does not count).
pub const DEFAULT_SINK_TIMEOUT_MS: u64 = 60_000;
/// Rows one transform call may output (`max_output_rows`).
pub const DEFAULT_MAX_OUTPUT_ROWS: usize = 4 << 20;
/// Bytes of keys and values a plugin's key-value state may hold, in MiB
/// (`state_limit_mb`): generous for counters and small lookups, far below
/// what would endanger the host (state lives in the host's memory, outside
/// the plugin's `memory_limit_mb`, and is written whole into every
/// checkpoint).
pub const DEFAULT_STATE_LIMIT_MB: u64 = 64;

/// A plugin call that runs longer than `timeout`, or an instance that grows
/// its memory past `memory` bytes, traps; an output of more than
/// `max_output_rows` rows, or with more than `max_rejected` rejections,
/// fails. Either way the batch goes to the dead-letter.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    pub timeout: Duration,
    pub memory: usize,
    pub max_output_rows: usize,
    pub max_rejected: Option<usize>,
    /// Bytes of keys and values the plugin's key-value state may hold; a
    /// `set` past it traps its call (`state_limit_mb`).
    pub state: usize,
}

impl PluginLimits {
    fn new(timeout_ms: u64, memory_limit_mb: u64) -> Self {
        PluginLimits {
            timeout: Duration::from_millis(timeout_ms),
            memory: (memory_limit_mb as usize).saturating_mul(1 << 20),
            ..PluginLimits::default()
        }
    }
}

impl Default for PluginLimits {
    fn default() -> Self {
        PluginLimits {
            timeout: Duration::from_millis(DEFAULT_TRANSFORM_TIMEOUT_MS),
            memory: (DEFAULT_MEMORY_LIMIT_MB as usize) << 20,
            max_output_rows: DEFAULT_MAX_OUTPUT_ROWS,
            max_rejected: None,
            state: (DEFAULT_STATE_LIMIT_MB as usize) << 20,
        }
    }
}

impl TransformConfig {
    /// The limits of this transform's calls.
    pub fn limits(&self) -> PluginLimits {
        PluginLimits {
            max_output_rows: self.max_output_rows,
            max_rejected: self.max_rejected_per_batch,
            state: (self.state_limit_mb as usize).saturating_mul(1 << 20),
            ..PluginLimits::new(self.timeout_ms, self.memory_limit_mb)
        }
    }
}

impl PluginSinkConfig {
    /// The limits of this sink's calls.
    pub fn limits(&self) -> PluginLimits {
        PluginLimits::new(self.timeout_ms, self.memory_limit_mb)
    }
}

/// Refuses a `memory_limit_mb` the instance pool cannot honour (it would
/// silently act as `MAX_MEMORY_LIMIT_MB`).
pub(super) fn check_memory_limit(memory_limit_mb: u64) -> Result<(), String> {
    if memory_limit_mb > MAX_MEMORY_LIMIT_MB {
        return Err(format!(
            "{memory_limit_mb} MiB is more than a plugin instance can have \
             ({MAX_MEMORY_LIMIT_MB} MiB, the size of each memory in weir's instance pool)"
        ));
    }
    Ok(())
}

pub(super) fn default_state_limit_mb() -> u64 {
    DEFAULT_STATE_LIMIT_MB
}
pub(super) fn default_memory_limit_mb() -> u64 {
    DEFAULT_MEMORY_LIMIT_MB
}
pub(super) fn default_transform_timeout_ms() -> u64 {
    DEFAULT_TRANSFORM_TIMEOUT_MS
}
pub(super) fn default_sink_timeout_ms() -> u64 {
    DEFAULT_SINK_TIMEOUT_MS
}
pub(super) fn default_max_output_rows() -> usize {
    DEFAULT_MAX_OUTPUT_ROWS
}

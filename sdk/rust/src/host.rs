//! What the host offers a plugin: its log and its key-value state.

use crate::bindings::weir::plugin::{log as wit_log, state as wit_state};

/// Writes to the host's log, tagged with the plugin's name.
pub mod log {
    use super::wit_log::{Level, log};

    pub fn trace(message: &str) {
        log(Level::Trace, message)
    }
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// A key-value store kept by the host for this plugin, across batches and
/// instances (and, with checkpoints, across restarts).
pub mod state {
    use super::wit_state;

    pub fn get(key: &str) -> Option<Vec<u8>> {
        wit_state::get(key)
    }
    pub fn set(key: &str, value: &[u8]) {
        wit_state::set(key, value)
    }
    pub fn delete(key: &str) {
        wit_state::delete(key)
    }
}

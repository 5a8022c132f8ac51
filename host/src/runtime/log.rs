//! The `log` capability: plugin messages become tracing events tagged with
//! the plugin's name.

use super::store::{LOG_MESSAGE_BYTES, PluginData};
use crate::contract::weir::plugin::log::{self, Level};
use wasmtime::component::{HasSelf, Linker};

impl log::Host for PluginData {
    /// At most `LOG_MESSAGES_PER_CALL` messages per call, each cut at
    /// `LOG_MESSAGE_BYTES`: a plugin logging without end must not fill the
    /// host's log or disk. What was dropped is counted and said once.
    fn log(&mut self, level: Level, mut message: String) {
        if self.log_budget == 0 {
            self.logs_dropped += 1;
            return;
        }
        self.log_budget -= 1;
        if message.len() > LOG_MESSAGE_BYTES {
            let mut end = LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            let cut = message.len() - end;
            message.truncate(end);
            message.push_str(&format!("… ({cut} more bytes cut)"));
        }
        let plugin = self.plugin.as_str();
        match level {
            Level::Trace => tracing::trace!(plugin, "{message}"),
            Level::Debug => tracing::debug!(plugin, "{message}"),
            Level::Info => tracing::info!(plugin, "{message}"),
            Level::Warn => tracing::warn!(plugin, "{message}"),
            Level::Error => tracing::error!(plugin, "{message}"),
        }
    }
}

pub fn add_to_linker(linker: &mut Linker<PluginData>) -> wasmtime::Result<()> {
    log::add_to_linker::<_, HasSelf<_>>(linker, |data| data)
}

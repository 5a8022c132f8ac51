//! The `log` capability: plugin messages become tracing events tagged with
//! the plugin's name.

use super::store::PluginData;
use crate::contract::weir::plugin::log::{self, Level};
use wasmtime::component::{HasSelf, Linker};

impl log::Host for PluginData {
    fn log(&mut self, level: Level, message: String) {
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

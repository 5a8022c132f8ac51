//! The `state` capability: a key-value map owned by the host, one per plugin
//! per pipeline, kept across batches and across instances of the plugin.

use super::store::PluginData;
use crate::contract::weir::plugin::state;
use wasmtime::component::{HasSelf, Linker};

impl state::Host for PluginData {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.state.get(&key).cloned()
    }

    /// A write that would take the state past its limit traps the call
    /// (`set` has no error result in the contract): its batch fails with
    /// the reason, and the call's earlier writes are rolled back with it.
    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        let previous = self
            .put(key.clone(), value)
            .map_err(|reason| wasmtime::Error::new(StateLimit(reason)))?;
        self.undo.push((key, previous));
        Ok(())
    }

    fn delete(&mut self, key: String) {
        let previous = self.remove(&key);
        self.undo.push((key, previous));
    }
}

/// The error a refused `set` traps with; `trap_reason` shows its message.
#[derive(Debug)]
pub(crate) struct StateLimit(pub String);

impl std::fmt::Display for StateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StateLimit {}

pub fn add_to_linker(linker: &mut Linker<PluginData>) -> wasmtime::Result<()> {
    state::add_to_linker::<_, HasSelf<_>>(linker, |data| data)
}

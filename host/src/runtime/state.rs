//! The `state` capability: a key-value map owned by the host, one per plugin
//! per pipeline, kept across batches and across instances of the plugin.

use super::store::PluginData;
use crate::contract::weir::plugin::state;
use wasmtime::component::{HasSelf, Linker};

impl state::Host for PluginData {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.state.get(&key).cloned()
    }

    fn set(&mut self, key: String, value: Vec<u8>) {
        let previous = self.state.insert(key.clone(), value);
        self.undo.push((key, previous));
    }

    fn delete(&mut self, key: String) {
        let previous = self.state.remove(&key);
        self.undo.push((key, previous));
    }
}

pub fn add_to_linker(linker: &mut Linker<PluginData>) -> wasmtime::Result<()> {
    state::add_to_linker::<_, HasSelf<_>>(linker, |data| data)
}

//! The builds this process has loaded, compiled, by SHA-256: what a
//! rollback swaps back in when the file on disk has since been rebuilt.
//! Bounded, oldest dropped first; a compiled component is shared, so a
//! build that is also running costs nothing more here.

use super::PluginVersion;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use wasmtime::component::Component;

/// Builds kept: enough for each plugin's current and previous build in a
/// pipeline of a few transforms.
const KEPT: usize = 16;

#[derive(Clone, Default)]
pub struct LoadedBuilds(Arc<Mutex<VecDeque<(Component, PluginVersion)>>>);

impl LoadedBuilds {
    pub fn remember(&self, component: &Component, version: &PluginVersion) {
        let mut builds = self.0.lock().unwrap_or_else(|p| p.into_inner());
        builds.retain(|(_, v)| v.sha256 != version.sha256);
        if builds.len() == KEPT {
            builds.pop_front();
        }
        builds.push_back((component.clone(), version.clone()));
    }

    /// The build with this SHA-256, if this process still has it.
    pub fn find(&self, sha256: &str) -> Option<(Component, PluginVersion)> {
        let builds = self.0.lock().unwrap_or_else(|p| p.into_inner());
        builds.iter().find(|(_, v)| v.sha256 == sha256).cloned()
    }
}

//! Hot reload requests: a new build of a transform, compiled off the
//! processing path, and what swapping it in did. The swap itself happens
//! in the transform's slot, at a batch boundary.

use super::{PluginError, PluginVersion, Runtime};
use serde::Serialize;
use std::sync::mpsc;
use wasmtime::component::Component;

/// Batches a reloaded build runs on probation.
pub const PROBATION_BATCHES: u32 = 10;

/// A request to swap a plugin for another build, compiled already (off the
/// processing path); the pipeline answers on `reply`.
pub struct ReloadRequest {
    pub plugin: String,
    pub component: Component,
    pub version: PluginVersion,
    pub reply: mpsc::Sender<Result<ReloadReport, String>>,
}

impl ReloadRequest {
    /// Reads and compiles (or takes from the cache) the build at `path`.
    pub fn prepare(
        runtime: &Runtime,
        plugin: &str,
        path: &std::path::Path,
    ) -> Result<(Self, mpsc::Receiver<Result<ReloadReport, String>>), PluginError> {
        let (component, version) = runtime.load(path)?;
        Ok(Self::new(plugin, component, version))
    }

    /// A request for a build compiled already (a rollback's).
    pub fn new(
        plugin: &str,
        component: Component,
        version: PluginVersion,
    ) -> (Self, mpsc::Receiver<Result<ReloadReport, String>>) {
        let (reply, answer) = mpsc::channel();
        let request = ReloadRequest {
            plugin: plugin.to_string(),
            component,
            version,
            reply,
        };
        (request, answer)
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ReloadReport {
    pub plugin: String,
    pub from_sha256: String,
    pub to_sha256: String,
    pub probation_batches: u32,
}

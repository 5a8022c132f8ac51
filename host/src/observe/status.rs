//! What a running pipeline shows the admin server: counts, watermark,
//! plugin versions and statistics, and the log of reloads. The pipeline
//! publishes a fresh copy at every batch boundary; readers never block it
//! for longer than a clone.

use crate::runtime::{PluginStats, PluginVersion};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The status of one pipeline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineStatus {
    pub pipeline: String,
    /// `starting`, `running` or `stopped`.
    pub state: String,
    pub batches: u64,
    pub records_read: u64,
    pub rows_out: u64,
    pub dead_lettered: u64,
    /// The window's event-time watermark, if there is a window.
    pub watermark: Option<String>,
    /// How far the source has read (files done, partition offsets).
    pub source: crate::source::SourceProgress,
    pub plugins: Vec<PluginStatus>,
    /// Every reload and rollback, oldest first (the last 100).
    pub reloads: Vec<ReloadEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    pub name: String,
    /// `transforms` or `after_window`.
    pub stage: &'static str,
    pub version: PluginVersion,
    pub stats: PluginStats,
    /// Batches left before a freshly reloaded version is trusted.
    pub probation_batches_left: Option<u32>,
}

/// One step of a reload, as the log and `/status` show it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEvent {
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub plugin: String,
    /// `swapped`, `refused`, `rolled-back` or `trusted`.
    pub outcome: String,
    pub from_sha256: String,
    pub to_sha256: String,
    pub detail: String,
}

impl ReloadEvent {
    pub fn now(plugin: &str, outcome: &str, from: &str, to: &str, detail: String) -> Self {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        ReloadEvent {
            at,
            plugin: plugin.to_string(),
            outcome: outcome.to_string(),
            from_sha256: from.to_string(),
            to_sha256: to.to_string(),
            detail,
        }
    }
}

/// The shared, latest status of a pipeline.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<PipelineStatus>>);

impl StatusBoard {
    pub fn publish(&self, update: impl FnOnce(&mut PipelineStatus)) {
        let mut status = self.0.lock().unwrap_or_else(|p| p.into_inner());
        update(&mut status);
    }

    pub fn snapshot(&self) -> PipelineStatus {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn record(&self, event: ReloadEvent) {
        tracing::info!(plugin = %event.plugin, outcome = %event.outcome, from = %short(&event.from_sha256), to = %short(&event.to_sha256), detail = %event.detail, "Reload.");
        self.publish(|s| {
            s.reloads.push(event);
            let excess = s.reloads.len().saturating_sub(100);
            s.reloads.drain(..excess);
        });
    }
}

/// The first 12 hex digits of a hash, as logs show it.
pub fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

//! What a running pipeline shows the admin server: counts, watermark,
//! plugin versions and statistics, and the log of reloads. The pipeline
//! publishes a fresh copy at every batch boundary; readers never block it
//! for longer than a clone. The counts are the run summary's own
//! ([`RunSummary`]), so `/status`, `/metrics` and the summary cannot differ.

use super::epochs::EpochJournal;
use super::letters::LetterLog;
use super::summary::RunSummary;
use crate::runtime::{PluginStats, PluginVersion};
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// The status of one pipeline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PipelineStatus {
    /// `starting`, `running` or `stopped`.
    pub state: String,
    /// Every stage's counts, as the run summary shows them.
    #[serde(flatten)]
    pub counts: RunSummary,
    /// The window's event-time watermark, if there is a window.
    pub watermark: Option<String>,
    /// How far the source has read (files done, partition offsets).
    pub progress: SourceProgress,
    pub plugins: Vec<PluginStatus>,
    /// The build each sink runs.
    pub sink_builds: Vec<SinkBuild>,
    /// Every reload and rollback, oldest first (the last 100).
    pub reloads: Vec<ReloadEvent>,
    /// The newest epochs committed, failures and restarts.
    pub checkpoints: EpochJournal,
    /// The newest dead letters and a count per reason.
    pub dead_letters: LetterLog,
}

/// Which build a sink runs.
#[derive(Debug, Clone, Serialize)]
pub struct SinkBuild {
    pub name: String,
    /// `builtin:…` for a bundled sink, `plugin` for a file.
    pub kind: String,
    pub version: PluginVersion,
}

/// How far a source has read, as live progress shows it (`weir run
/// --available-now` on a terminal, and `/status`); what a source does not
/// know is left empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SourceProgress {
    /// Files read to their end, of the files found so far.
    pub files: Option<Done>,
    /// Bytes read, of the bytes of the files found so far.
    pub bytes: Option<Done>,
    /// Each partition being read, in topic and partition order.
    pub partitions: Vec<PartitionProgress>,
}

/// So much done of a total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Done {
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartitionProgress {
    pub topic: String,
    pub partition: i32,
    /// Where this run started reading.
    pub start: i64,
    /// The next offset to read.
    pub next: i64,
    /// The end offset a bounded run reads up to, when known.
    pub end: Option<i64>,
    /// Records in the partition not read yet (its high watermark less
    /// `next`), as the broker last reported it.
    pub lag: Option<i64>,
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
        ReloadEvent {
            at: super::unix_now(),
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

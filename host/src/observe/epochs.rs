//! The log of a pipeline's epochs as the web console and `/status` show it:
//! each committed epoch (how long it ran and took to commit, its checkpoint's
//! size, where the source stood), each failure and retry. Shared between the
//! checkpoint coordinator, which writes it, and the status board, which is
//! read; bounded, so a long run keeps only the newest.

use super::{keep_newest, unix_now};
use serde::{Serialize, Serializer};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Epochs, and failures, kept.
const KEPT: usize = 50;

/// One committed epoch.
#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: u64,
    /// When it committed, seconds since the Unix epoch.
    pub at: f64,
    /// How long the epoch ran, from its first batch to its end.
    pub ran_ms: f64,
    /// How long its end took: pre-commit, checkpoint, commit.
    pub commit_ms: f64,
    pub batches: usize,
    pub records: u64,
    /// The checkpoint's size in bytes (`None` without `[checkpoint]`, or
    /// for a replayed epoch, whose checkpoint was written by the run before).
    pub checkpoint_bytes: Option<u64>,
    /// A replay of an epoch the run before did not finish committing.
    pub replayed: bool,
    /// Where the source stood at its end, in a few words.
    pub source: String,
    /// The operators that committed it, in pipeline order.
    pub committed: Vec<String>,
}

/// An epoch that failed, and what was done about it.
#[derive(Debug, Clone, Serialize)]
pub struct FailureRecord {
    pub epoch: u64,
    pub at: f64,
    /// The stage that failed (`source`, `transform:NAME`, `window`,
    /// `sink:NAME`, `dead_letter`, `checkpoint`), when one did.
    pub stage: Option<String>,
    pub error: String,
    /// `retrying in Ns (attempt K)`, or `stopped`.
    pub action: String,
}

#[derive(Debug, Default, Serialize)]
struct Journal {
    epochs: VecDeque<EpochRecord>,
    failures: VecDeque<FailureRecord>,
    /// Restarts from the last checkpoint after a failure, by this process.
    restarts: u64,
}

/// The journal, shared; serialises as it stands.
#[derive(Debug, Clone, Default)]
pub struct EpochJournal(Arc<Mutex<Journal>>);

impl Serialize for EpochJournal {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.lock().serialize(serializer)
    }
}

impl EpochJournal {
    fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn committed(&self, record: EpochRecord) {
        keep_newest(&mut self.lock().epochs, record, KEPT);
    }

    pub fn failed(&self, epoch: u64, stage: Option<String>, error: String, action: String) {
        let failure = FailureRecord {
            epoch,
            at: unix_now(),
            stage,
            error,
            action,
        };
        keep_newest(&mut self.lock().failures, failure, KEPT);
    }

    pub fn restarted(&self) {
        self.lock().restarts += 1;
    }

    /// The newest committed epoch's commit time, for the latency chart.
    pub fn newest_commit_ms(&self) -> Option<f64> {
        self.lock().epochs.back().map(|e| e.commit_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_keeps_the_newest_epochs_and_failures() {
        let journal = EpochJournal::default();
        for epoch in 1..=(KEPT as u64 + 3) {
            journal.committed(EpochRecord {
                epoch,
                at: 0.0,
                ran_ms: 1.0,
                commit_ms: epoch as f64,
                batches: 1,
                records: 1,
                checkpoint_bytes: None,
                replayed: false,
                source: String::new(),
                committed: vec![],
            });
        }
        journal.failed(
            9,
            Some("sink:pg".into()),
            "sink down".into(),
            "retrying in 2s (attempt 1)".into(),
        );
        let json = serde_json::to_value(&journal).unwrap();
        assert_eq!(json["epochs"].as_array().unwrap().len(), KEPT);
        assert_eq!(json["epochs"][0]["epoch"], 4);
        assert_eq!(json["failures"][0]["error"], "sink down");
        assert_eq!(journal.newest_commit_ms(), Some((KEPT + 3) as f64));
    }
}

//! The checkpoint coordinator: epochs and their two-phase end. An epoch
//! ends at a batch boundary once its interval is up (or at the end of the
//! run): the dead-letter is flushed, every operator pre-commits, the
//! checkpoint (source position, every operator's state) is written durably,
//! every operator commits, the store records the epoch as committed, and
//! only then does the source commit its offsets to the Kafka group. A crash
//! anywhere in that sequence is recovered by [`super::recover`]; the
//! `crash_point`s let the tests stop there.

use super::{Checkpoint, OperatorSnapshot, Recovery, StateTable, Store, StoreError, crash_point};
use crate::dead_letter::DeadLetterWriter;
use crate::observe::epochs::{EpochJournal, EpochRecord};
use crate::operator::{Operator, OperatorError, StateTables};
use crate::source::{Mark, Position, Source, SourceError};
use std::time::{Duration, Instant};

/// What the end of an epoch reaches: the source, every operator, the
/// dead-letter.
pub struct Barrier<'a> {
    pub source: &'a mut dyn Source,
    pub operators: &'a mut [Box<dyn Operator>],
    pub dead_letter: &'a mut DeadLetterWriter,
}

#[derive(Debug, thiserror::Error)]
pub enum EpochError {
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("checkpoint of epoch {epoch} failed (the epoch was aborted): {error}")]
    CheckpointWrite { epoch: u64, error: StoreError },
    #[error("cannot write the dead-letter {target}: {error}")]
    DeadLetterWrite {
        target: String,
        error: std::io::Error,
    },
    #[error("source failed: {0}")]
    Source(SourceError),
}

pub struct Coordinator {
    pipeline: String,
    /// Where checkpoints go; `None` without `[checkpoint]`.
    store: Option<Store>,
    keep: usize,
    interval: Duration,
    /// The operators' current epoch: what they write until the next commit.
    epoch: u64,
    /// When the current epoch began.
    started: Instant,
    /// The source's position when the current epoch began.
    start: Position,
    /// The current epoch's batches.
    batches: Vec<Mark>,
    /// A replayed epoch: its checkpoint, to end it exactly where it ended.
    replay: Option<Checkpoint>,
    /// The epoch ending now is a replay, whose checkpoint is stored.
    replaying: bool,
    /// The state this process started from: what a retry goes back to
    /// before the first checkpoint.
    origin: Option<Checkpoint>,
    /// Epochs committed by this process.
    commits: u64,
    /// What the console shows of the epochs.
    journal: EpochJournal,
}

impl Coordinator {
    pub fn new(
        pipeline: &str,
        store: Option<Store>,
        keep: usize,
        interval: Duration,
        start: Position,
        journal: EpochJournal,
    ) -> Self {
        Coordinator {
            pipeline: pipeline.to_string(),
            store,
            keep,
            interval,
            epoch: 1,
            started: Instant::now(),
            start,
            batches: Vec::new(),
            replay: None,
            replaying: false,
            origin: None,
            commits: 0,
            journal,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Whether checkpoints are written (`[checkpoint]`).
    pub fn checkpointed(&self) -> bool {
        self.store.is_some()
    }

    /// Epochs committed by this process so far.
    pub fn commits(&self) -> u64 {
        self.commits
    }

    /// What the console shows of the epochs: restarts write to it too.
    pub fn journal(&self) -> &EpochJournal {
        &self.journal
    }

    /// Whether the batches now are a replayed epoch's: they must meet the
    /// same builds, so no reload is applied.
    pub fn replaying(&self) -> bool {
        self.replay.is_some()
    }

    /// Remembers the state the process starts from, for a retry before
    /// the first checkpoint.
    pub fn remember_origin(&mut self, barrier: &mut Barrier<'_>) {
        self.origin = Some(self.snapshot(0, barrier));
    }

    /// Where a retry goes back to: the newest usable checkpoint, or the
    /// state this process started from.
    pub fn recovery(&self) -> Result<Recovery, StoreError> {
        let store = self.store.as_ref().expect("retried only with checkpoints");
        let mut recovery = super::recover(store)?;
        if recovery.base.is_none() {
            recovery.base = self.origin.clone();
        }
        Ok(recovery)
    }

    /// Loads the state of the checkpoint recovery chose and points the
    /// source at where to read; a replayed epoch is read batch for batch.
    pub fn resume(
        &mut self,
        recovery: Recovery,
        source: &mut dyn Source,
        operators: &mut [Box<dyn Operator>],
    ) -> Result<(), EpochError> {
        let Recovery {
            base,
            replay,
            next_epoch,
            ..
        } = recovery;
        self.epoch = match &replay {
            Some(replayed) => replayed.epoch,
            None => next_epoch.max(1),
        };
        self.batches.clear();
        self.replay = None;
        self.started = Instant::now();
        if let Some(base) = &base {
            for operator in operators.iter_mut() {
                let Some(saved) = base.operators.iter().find(|o| o.name == operator.name()) else {
                    continue;
                };
                let tables: StateTables = saved
                    .tables
                    .iter()
                    .map(|(name, table)| (name.clone(), table.0.clone()))
                    .collect();
                operator.restore(saved.build.as_deref(), &tables)?;
            }
        }
        let position = match (&replay, &base) {
            (Some(replayed), _) => Some(&replayed.start),
            (None, Some(base)) => Some(&base.end),
            (None, None) => None,
        };
        if let Some(position) = position {
            source.restore(position).map_err(EpochError::Source)?;
            self.start = source.position();
        }
        if let Some(replayed) = replay {
            tracing::info!(
                epoch = replayed.epoch,
                batches = replayed.batches.len(),
                "Replaying the newest epoch: its sinks may not all have committed it."
            );
            source.replay(&replayed.batches);
            if !replayed.batches.is_empty() {
                self.replay = Some(replayed);
            }
        } else if let Some(base) = &base {
            tracing::info!(
                epoch = base.epoch,
                "Resuming after the checkpoint of epoch {}.",
                base.epoch
            );
        }
        Ok(())
    }

    /// After each batch: records it in the epoch, and ends the epoch when
    /// its interval is up, or when a replayed epoch is whole again.
    pub fn after_batch(
        &mut self,
        mark: Option<Mark>,
        barrier: &mut Barrier<'_>,
    ) -> Result<(), EpochError> {
        if let Some(mark) = mark {
            self.batches.push(mark);
        }
        if let Some(replayed) = &self.replay {
            let done = self.batches.len();
            if let Some(mark) = mark
                && replayed.batches.get(done - 1) != Some(&mark)
            {
                tracing::warn!(epoch = replayed.epoch, batch = done, expected = ?replayed.batches.get(done - 1), got = ?mark, "The replayed epoch diverged from the first run: the input changed.");
            }
            if done >= replayed.batches.len() {
                self.replay = None;
                self.replaying = true;
                return self.end_epoch(barrier);
            }
            return Ok(());
        }
        if self.started.elapsed() >= self.interval {
            self.end_epoch(barrier)?;
        }
        Ok(())
    }

    /// Ends the current epoch: two-phase commit across the operators around
    /// a durable checkpoint. An epoch without batches ends without one.
    pub fn end_epoch(&mut self, barrier: &mut Barrier<'_>) -> Result<(), EpochError> {
        let epoch = self.epoch;
        let ran = self.started.elapsed();
        let ending = Instant::now();
        self.started = ending;
        if self.replay.is_some() {
            // Stopped before the replayed epoch was whole: committing a part
            // of it would split it. The next run replays it again.
            tracing::warn!(
                epoch,
                "Stopped during a replayed epoch; it is aborted and replayed at the next start."
            );
            self.abort(barrier.operators, barrier.dead_letter);
            return Ok(());
        }
        if self.batches.is_empty() {
            return Ok(());
        }
        let target = barrier.dead_letter.target.clone();
        barrier
            .dead_letter
            .flush()
            .map_err(|error| EpochError::DeadLetterWrite { target, error })?;
        crash_point("before-pre-commit", epoch);
        for i in 0..barrier.operators.len() {
            if let Err(error) = barrier.operators[i].pre_commit(epoch) {
                self.abort(barrier.operators, barrier.dead_letter);
                return Err(error.into());
            }
        }
        crash_point("after-pre-commit", epoch);
        let replayed = std::mem::take(&mut self.replaying);
        // A replayed epoch's checkpoint is already stored, and the replay
        // ended in the same state.
        let mut checkpoint_bytes = None;
        if let Some(store) = self.store.as_ref().filter(|_| !replayed) {
            let checkpoint = self.snapshot(epoch, barrier);
            match store.write(&checkpoint) {
                Ok(size) => checkpoint_bytes = Some(size),
                Err(error) => {
                    self.abort(barrier.operators, barrier.dead_letter);
                    return Err(EpochError::CheckpointWrite { epoch, error });
                }
            }
        }
        crash_point("after-write", epoch);
        for operator in barrier.operators.iter_mut() {
            operator.commit(epoch)?;
        }
        let target = barrier.dead_letter.target.clone();
        barrier
            .dead_letter
            .commit_epoch(epoch)
            .map_err(|error| EpochError::DeadLetterWrite { target, error })?;
        crash_point("after-commit", epoch);
        if let Some(store) = &self.store {
            if let Err(error) = store.set_committed(epoch) {
                tracing::warn!(epoch, %error, "Cannot record the epoch as committed; a restart replays it and the sinks skip it.");
            }
            if let Err(error) = store.prune(self.keep) {
                tracing::warn!(%error, "Cannot delete old checkpoints.");
            }
        }
        // The group's offsets follow the sinks, for lag monitoring only.
        barrier.source.commit().map_err(EpochError::Source)?;
        self.journal.committed(EpochRecord {
            epoch,
            at: crate::observe::unix_now(),
            ran_ms: ran.as_secs_f64() * 1e3,
            commit_ms: ending.elapsed().as_secs_f64() * 1e3,
            batches: self.batches.len(),
            records: self.batches.iter().map(|m| m.records).sum(),
            checkpoint_bytes,
            replayed,
            source: barrier.source.position().describe(),
            committed: barrier
                .operators
                .iter()
                .map(|o| o.name().to_string())
                .collect(),
        });
        self.commits += 1;
        self.epoch += 1;
        let target = barrier.dead_letter.target.clone();
        barrier
            .dead_letter
            .begin_epoch(self.epoch)
            .map_err(|error| EpochError::DeadLetterWrite { target, error })?;
        self.batches.clear();
        self.start = barrier.source.position();
        self.started = Instant::now();
        Ok(())
    }

    /// Every operator, and the dead-letter, drops what it wrote in the
    /// current epoch.
    pub fn abort(&self, operators: &mut [Box<dyn Operator>], dead_letter: &mut DeadLetterWriter) {
        for operator in operators.iter_mut() {
            operator.abort(self.epoch);
        }
        dead_letter.abort_epoch();
    }

    /// The checkpoint of the epoch ending now.
    fn snapshot(&self, epoch: u64, barrier: &mut Barrier<'_>) -> Checkpoint {
        let end = barrier.source.position();
        let start = self.start.clone().completed_with(&end);
        let operators = barrier
            .operators
            .iter_mut()
            .filter_map(|operator| {
                let (build, tables) = operator.snapshot()?;
                Some(OperatorSnapshot {
                    name: operator.name().to_string(),
                    build,
                    tables: tables
                        .into_iter()
                        .map(|(name, bytes)| (name, StateTable(bytes)))
                        .collect(),
                })
            })
            .collect();
        Checkpoint {
            pipeline: self.pipeline.clone(),
            epoch,
            taken_at_ms: chrono::Utc::now().timestamp_millis(),
            start,
            end,
            batches: self.batches.clone(),
            operators,
            // The dead-letter file's length (flushed); if it cannot be
            // known, a resumed run keeps the file whole (at least once).
            files: match barrier.dead_letter.length() {
                Ok(dead_letter) => Some(super::FileMarks { dead_letter }),
                Err(error) => {
                    tracing::warn!(%error, "Cannot flush the dead-letter for the checkpoint; a restart keeps its letters whole.");
                    None
                }
            },
        }
    }
}

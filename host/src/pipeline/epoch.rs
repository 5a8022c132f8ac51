//! Epochs and checkpoints. An epoch ends at a batch boundary once its
//! interval is up (or at the end of the run): the sinks pre-commit, the
//! checkpoint is written durably, the sinks commit, the store records the
//! epoch as committed, and only then does the source commit its offsets to
//! the Kafka group. A crash anywhere in that sequence is recovered by
//! [`checkpoint::recover`]; the `crash_point`s let the tests stop there.

use super::{Pipeline, PipelineError};
use crate::checkpoint::{Checkpoint, PluginSnapshot, Recovery, Store, crash_point};
use crate::sink::OpenSink;
use crate::source::{Mark, Position};
use std::time::{Duration, Instant};

pub(super) struct Epochs {
    /// Where checkpoints go; `None` without `[checkpoint]`.
    pub store: Option<Store>,
    pub keep: usize,
    pub interval: Duration,
    /// When the current epoch began.
    pub started: Instant,
    /// The source's position when the current epoch began.
    pub start: Position,
    /// The current epoch's batches.
    pub batches: Vec<Mark>,
    /// A replayed epoch: its checkpoint, to end it exactly where it ended.
    pub replay: Option<Checkpoint>,
    /// The epoch ending now is a replay, whose checkpoint is stored.
    pub replaying: bool,
    /// The state this process started from: what a retry goes back to
    /// before the first checkpoint.
    pub origin: Option<Checkpoint>,
    /// Epochs committed by this process.
    pub commits: u64,
    /// What files written in place go back to when sinks (re)open: the
    /// marks of the checkpoint resumed from.
    pub rewind: crate::checkpoint::Rewind,
}

impl Pipeline {
    /// Loads the state of the checkpoint recovery chose and points the
    /// source at where to read; a replayed epoch is read batch for batch.
    pub(super) fn resume(&mut self, recovery: Recovery) -> Result<(), PipelineError> {
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
        self.epochs.batches.clear();
        self.epochs.replay = None;
        self.epochs.started = Instant::now();
        self.epochs.rewind = crate::checkpoint::Rewind::from_base(base.as_ref());
        if let Some(base) = &base {
            if let (Some(window), Some(state)) = (&mut self.window, &base.window) {
                window.restore(state).map_err(PipelineError::Aggregate)?;
            }
            for slot in self
                .transforms
                .iter_mut()
                .chain(self.after_window.iter_mut())
            {
                let Some(saved) = base.plugins.iter().find(|p| p.name == slot.name()) else {
                    continue;
                };
                if saved.sha256 != slot.plugin().version().sha256 {
                    tracing::warn!(plugin = %slot.name(), checkpoint = %saved.sha256, now = %slot.plugin().version().sha256, "The plugin changed since the checkpoint; it gets the state the old build left.");
                }
                slot.restore_state(saved.state.clone());
            }
            self.emitted = base.emitted;
        }
        let position = match (&replay, &base) {
            (Some(replayed), _) => Some(&replayed.start),
            (None, Some(base)) => Some(&base.end),
            (None, None) => None,
        };
        if let Some(position) = position {
            self.source.restore(position).map_err(PipelineError::Read)?;
            self.epochs.start = self.source.position();
        }
        if let Some(replayed) = replay {
            tracing::info!(
                epoch = replayed.epoch,
                batches = replayed.batches.len(),
                "Replaying the newest epoch: its sinks may not all have committed it."
            );
            self.source.replay(&replayed.batches);
            if replayed.batches.is_empty() {
                self.epochs.replay = None;
            } else {
                self.epochs.replay = Some(replayed);
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
    pub(super) fn after_batch(&mut self, mark: Option<Mark>) -> Result<(), PipelineError> {
        if let Some(mark) = mark {
            self.epochs.batches.push(mark);
        }
        if let Some(replayed) = &self.epochs.replay {
            let done = self.epochs.batches.len();
            if let Some(mark) = mark
                && replayed.batches.get(done - 1) != Some(&mark)
            {
                tracing::warn!(epoch = replayed.epoch, batch = done, expected = ?replayed.batches.get(done - 1), got = ?mark, "The replayed epoch diverged from the first run: the input changed.");
            }
            if done >= replayed.batches.len() {
                self.epochs.replay = None;
                self.epochs.replaying = true;
                return self.end_epoch();
            }
            return Ok(());
        }
        if self.epochs.started.elapsed() >= self.epochs.interval {
            self.end_epoch()?;
        }
        Ok(())
    }

    /// Ends the current epoch: two-phase commit across the sinks around a
    /// durable checkpoint. An epoch without batches ends without one.
    pub(super) fn end_epoch(&mut self) -> Result<(), PipelineError> {
        let epoch = self.epoch;
        self.epochs.started = Instant::now();
        if self.epochs.replay.is_some() {
            // Stopped before the replayed epoch was whole: committing a part
            // of it would split it. The next run replays it again.
            tracing::warn!(
                epoch,
                "Stopped during a replayed epoch; it is aborted and replayed at the next start."
            );
            self.abort_epoch();
            return Ok(());
        }
        if self.epochs.batches.is_empty() {
            return Ok(());
        }
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .flush()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        crash_point("before-pre-commit", epoch);
        let failed = |sink: &OpenSink, error| PipelineError::Commit {
            sink: sink.name().to_string(),
            epoch,
            error: Box::new(error),
        };
        for i in 0..self.sinks.len() {
            if let Err(error) = self.sinks[i].pre_commit(epoch) {
                let error = failed(&self.sinks[i], error);
                self.abort_epoch();
                return Err(error);
            }
        }
        crash_point("after-pre-commit", epoch);
        let replayed = std::mem::take(&mut self.epochs.replaying);
        if self.epochs.store.is_some() && !replayed {
            // A replayed epoch's checkpoint is already stored, and the
            // replay ended in the same state.
            let mut checkpoint = self.snapshot(epoch);
            if let Err(error) = self.file_marks().map(|m| checkpoint.files = Some(m)) {
                self.abort_epoch();
                return Err(error);
            }
            let store = self.epochs.store.as_ref().expect("checked above");
            if let Err(error) = store.write(&checkpoint) {
                self.abort_epoch();
                return Err(PipelineError::CheckpointWrite { epoch, error });
            }
        }
        crash_point("after-write", epoch);
        for sink in &mut self.sinks {
            sink.commit(epoch).map_err(|e| failed(sink, e))?;
        }
        crash_point("after-commit", epoch);
        if let Some(store) = &self.epochs.store {
            if let Err(error) = store.set_committed(epoch) {
                tracing::warn!(epoch, %error, "Cannot record the epoch as committed; a restart replays it and the sinks skip it.");
            }
            if let Err(error) = store.prune(self.epochs.keep) {
                tracing::warn!(%error, "Cannot delete old checkpoints.");
            }
        }
        // The group's offsets follow the sinks, for lag monitoring only.
        self.source.commit().map_err(PipelineError::Read)?;
        self.epochs.commits += 1;
        self.epoch += 1;
        self.epochs.batches.clear();
        self.epochs.start = self.source.position();
        self.epochs.started = Instant::now();
        Ok(())
    }

    /// Every sink drops what it wrote in the current epoch.
    pub(super) fn abort_epoch(&mut self) {
        for sink in &mut self.sinks {
            sink.abort(self.epoch);
        }
    }

    /// Lengths of the files written in place (the dead-letter file and the
    /// sinks' single files), flushed, at the barrier.
    pub(super) fn file_marks(&mut self) -> Result<crate::checkpoint::FileMarks, PipelineError> {
        let target = self.dead_letter.target.clone();
        let dead_letter = self
            .dead_letter
            .length()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        let mut sinks = std::collections::BTreeMap::new();
        for sink in &mut self.sinks {
            let marks = sink.file_marks().map_err(|e| PipelineError::Commit {
                sink: sink.name().to_string(),
                epoch: self.epoch,
                error: Box::new(e),
            })?;
            if !marks.is_empty() {
                sinks.insert(sink.name().to_string(), marks);
            }
        }
        Ok(crate::checkpoint::FileMarks { dead_letter, sinks })
    }

    /// The checkpoint of the epoch ending now.
    pub(super) fn snapshot(&mut self, epoch: u64) -> Checkpoint {
        let end = self.source.position();
        let start = self.epochs.start.clone().completed_with(&end);
        let plugins = self
            .transforms
            .iter()
            .chain(self.after_window.iter())
            .map(|slot| PluginSnapshot {
                name: slot.name().to_string(),
                sha256: slot.plugin().version().sha256.clone(),
                state: slot.plugin().state().clone(),
            })
            .collect();
        Checkpoint {
            pipeline: self.summary.pipeline.clone(),
            epoch,
            taken_at_ms: chrono::Utc::now().timestamp_millis(),
            start,
            end,
            batches: self.epochs.batches.clone(),
            window: self.window.as_mut().map(|w| w.snapshot()),
            plugins,
            emitted: self.emitted,
            // Filled in by `end_epoch` (`file_marks`), after the sinks
            // pre-committed; a snapshot with no sinks open has none.
            files: None,
        }
    }
}

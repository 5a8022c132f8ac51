//! Retrying a failed epoch, as Flink's restart strategy does: when a sink
//! loses its database, or an epoch cannot commit or checkpoint, the epoch is
//! aborted, and after a backoff the pipeline goes back to its last
//! checkpoint — source rebuilt at its position, state restored, sinks opened
//! again — and carries on. No row is lost (the source reads the epoch
//! again) and none is written twice (the epoch's sinks rolled back). Only
//! with `[checkpoint]`: without one there is nothing exact to go back to.

use super::{Pipeline, PipelineError};
use crate::checkpoint;
use crate::runtime::PluginError;
use crate::sink::{OpenSink, SinkError};
use crate::source;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Failures in a row, without an epoch committed between, before giving up.
const MAX_ATTEMPTS: u32 = 10;

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(5)).min(30))
}

impl Pipeline {
    /// Opens every sink for the current epoch; on failure, which one and why.
    pub(super) fn open_sinks(&mut self) -> Result<(), (usize, SinkError)> {
        let pipeline = self.summary.pipeline.clone();
        let mut sinks: Vec<OpenSink> = Vec::new();
        for (index, s) in self.planned.iter().enumerate() {
            let mut run = vec![("weir.sink-id".to_string(), format!("{pipeline}/{}", s.name))];
            if self.epochs.store.is_some() {
                run.push(("weir.epoch".to_string(), self.epoch.to_string()));
            }
            let resume = self.epochs.rewind.sink(&s.name);
            match s.open_resuming(&self.runtime, self.output.clone(), &run, resume) {
                Ok(opened) => sinks.push(opened),
                Err(error) => {
                    // Sinks opened before this one hold nothing yet.
                    for opened in &mut sinks {
                        opened.abort(self.epoch);
                    }
                    return Err((index, error));
                }
            }
        }
        self.sinks = sinks;
        Ok(())
    }

    /// Whether a failure is worth retrying from the last checkpoint.
    fn retryable(&self, error: &PipelineError) -> bool {
        let transient = match error {
            PipelineError::Commit { .. }
            | PipelineError::CheckpointWrite { .. }
            | PipelineError::SinkSchema { .. } => true,
            PipelineError::Write(SinkError::Plugin(e)) => {
                matches!(**e, PluginError::Unavailable { .. })
            }
            _ => false,
        };
        transient && self.epochs.store.is_some()
    }

    /// Processes until the source ends, retrying failed epochs from the
    /// last checkpoint with a doubling backoff.
    pub(super) fn process_with_retries(&mut self) -> Result<(), PipelineError> {
        let mut attempt = 0;
        let mut commits = self.epochs.commits;
        loop {
            let error = match self.process() {
                Ok(()) => return Ok(()),
                Err(e) if self.retryable(&e) => e,
                Err(e) => return Err(e),
            };
            if self.epochs.commits > commits {
                attempt = 0;
            }
            self.abort_epoch();
            loop {
                attempt += 1;
                if attempt > MAX_ATTEMPTS {
                    tracing::error!(
                        attempts = MAX_ATTEMPTS,
                        "Giving up: the epoch kept failing."
                    );
                    return Err(error);
                }
                let wait = backoff(attempt);
                tracing::warn!(%error, epoch = self.epoch, attempt, wait_s = wait.as_secs(), "The epoch failed and was rolled back; retrying from the last checkpoint.");
                if !self.pause(wait) {
                    return Err(error);
                }
                match self.restart() {
                    Ok(()) => break,
                    Err(e) if self.retryable(&e) => {
                        tracing::warn!(error = %e, "Cannot restart yet.");
                    }
                    Err(e) => return Err(e),
                }
            }
            commits = self.epochs.commits;
        }
    }

    /// Sleeps, unless asked to stop; whether to go on.
    fn pause(&self, wait: Duration) -> bool {
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if self.mode.stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Back to the last checkpoint (or to where this process started).
    fn restart(&mut self) -> Result<(), PipelineError> {
        let store = self
            .epochs
            .store
            .as_ref()
            .expect("retried only with checkpoints");
        let mut recovery =
            checkpoint::recover(store).map_err(|error| PipelineError::CheckpointWrite {
                epoch: self.epoch,
                error,
            })?;
        if recovery.base.is_none() {
            recovery.base = self.epochs.origin.clone();
        }
        self.sinks.clear();
        self.source =
            source::build(&self.source_config, self.mode.clone()).map_err(PipelineError::Read)?;
        self.resume(recovery)?;
        // The failed epoch's dead letters are written again by its retry.
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .rewind(self.epochs.rewind.dead_letter())
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.open_sinks()
            .map_err(|(index, error)| PipelineError::SinkSchema {
                file: self.summary.pipeline.clone(),
                index,
                error,
            })
    }
}

//! Retrying a failed epoch, as Flink's restart strategy does: when a sink
//! loses its database, or an epoch cannot commit or checkpoint, the epoch is
//! aborted, and after a backoff the pipeline goes back to its last
//! checkpoint — source rebuilt at its position, state restored, sinks opened
//! again — and carries on. No row is lost (the source reads the epoch
//! again) and none is written twice (the epoch's sinks rolled back). Only
//! with `[checkpoint]`: without one there is nothing exact to go back to.

use super::{Pipeline, PipelineError};
use crate::error::Classified;
use crate::source;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Failures in a row, without an epoch committed between, before giving up.
const MAX_ATTEMPTS: u32 = 10;

fn backoff(attempt: u32) -> Duration {
    Duration::from_secs((1u64 << attempt.min(5)).min(30))
}

impl Pipeline {
    /// Whether a failure is worth retrying from the last checkpoint: the
    /// error says so where it was made ([`Classified`]); without
    /// `[checkpoint]` there is nothing exact to go back to.
    fn retryable(&self, error: &PipelineError) -> bool {
        error.retryable() && self.coordinator.checkpointed()
    }

    /// Processes until the source ends, retrying failed epochs from the
    /// last checkpoint with a doubling backoff.
    pub(super) fn process_with_retries(&mut self) -> Result<(), PipelineError> {
        let mut attempt = 0;
        let mut commits = self.coordinator.commits();
        loop {
            let error = match self.process() {
                Ok(()) => return Ok(()),
                Err(e) if self.retryable(&e) => e,
                Err(e) => return Err(e),
            };
            if self.coordinator.commits() > commits {
                attempt = 0;
            }
            self.coordinator
                .abort(self.chain.operators(), &mut self.dead_letter);
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
                tracing::warn!(%error, domain = %error.domain(), epoch = self.coordinator.epoch(), attempt, wait_s = wait.as_secs(), "The epoch failed and was rolled back; retrying from the last checkpoint.");
                self.coordinator.journal().failed(
                    self.coordinator.epoch(),
                    error.stage(),
                    error.to_string(),
                    format!("retrying in {}s (attempt {attempt})", wait.as_secs()),
                );
                self.publish("retrying");
                if !self.pause(wait) {
                    return Err(error);
                }
                match self.restart() {
                    Ok(()) => {
                        self.coordinator.journal().restarted();
                        break;
                    }
                    Err(e) if self.retryable(&e) => {
                        tracing::warn!(error = %e, "Cannot restart yet.");
                    }
                    Err(e) => return Err(e),
                }
            }
            commits = self.coordinator.commits();
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

    /// Back to the last checkpoint (or to where this process started):
    /// the source built again at its position, every operator's state
    /// restored, every operator started again (the sinks reopened).
    fn restart(&mut self) -> Result<(), PipelineError> {
        let recovery =
            self.coordinator
                .recovery()
                .map_err(|error| PipelineError::CheckpointWrite {
                    epoch: self.coordinator.epoch(),
                    error,
                })?;
        self.source =
            source::build(&self.source_config, self.mode.clone()).map_err(PipelineError::Read)?;
        // The failed epoch's dead letters are written again by its retry.
        let rewind = crate::checkpoint::Rewind::from_base(recovery.base.as_ref());
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .rewind(rewind.dead_letter())
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.coordinator
            .resume(recovery, self.source.as_mut(), self.chain.operators())?;
        let epoch = self.coordinator.epoch();
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .begin_epoch(epoch)
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.chain.start(epoch, true, &self.summary.pipeline)
    }
}

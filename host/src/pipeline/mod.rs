//! A pipeline: a source, then a chain of operators (transforms, the window,
//! after-window transforms, the sink fan-out), with every refused row sent
//! to the dead-letter and epochs ended by the checkpoint coordinator.
//! Planning ([`Plan`]) is separate from running, so `weir check` does all
//! of it without writing anything.

mod chain;
mod plan;
mod restart;

pub use plan::Plan;

use crate::checkpoint::{self, Barrier, Coordinator, EpochError};
use crate::config::{self, NamedSource};
use crate::dead_letter::DeadLetterWriter;
use crate::error::{Classified, ErrorDomain, Retry};
use crate::observe::status::StatusBoard;
use crate::observe::summary::RunSummary;
use crate::operator::{OperatorError, Watermark};
use crate::runtime::ReloadRequest;
use crate::runtime::{PluginError, Runtime};
use crate::sink::SinkError;
use crate::source::{Mark, RunMode, Source, SourceError};
use chain::Chain;
use std::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{file}: key `source`: {error}")]
    Source { file: String, error: SourceError },
    #[error("{file}: key `{list}[{index}]` ({name}): {error}")]
    Plugin {
        file: String,
        list: &'static str,
        index: usize,
        name: String,
        error: Box<PluginError>,
    },
    #[error("{file}: key `window`: {message}")]
    Window { file: String, message: String },
    #[error("{file}: key `joins[{index}].{message}")]
    Join {
        file: String,
        index: usize,
        message: String,
    },
    #[error("{file}: key `interval_join.{message}")]
    IntervalJoin { file: String, message: String },
    #[error("{file}: key `tables.{table}`: {message}")]
    Table {
        file: String,
        table: String,
        message: String,
    },
    #[error("{file}: key `sinks[{index}]`: {error}")]
    /// A sink that cannot take the pipeline's rows, is misconfigured, or
    /// cannot be opened (connected).
    Sink {
        file: String,
        index: usize,
        error: SinkError,
    },
    #[error("{file}: key `dead_letter`: cannot open {target}: {error}")]
    DeadLetter {
        file: String,
        target: String,
        error: std::io::Error,
    },
    #[error("source failed: {0}")]
    Read(SourceError),
    /// A stage failed: a transform that stops on error, the window, a sink.
    #[error(transparent)]
    Operator(#[from] OperatorError),
    #[error("{file}: key `checkpoint`: {error}")]
    Checkpoint {
        file: String,
        error: checkpoint::StoreError,
    },
    #[error("checkpoint of epoch {epoch} failed (the epoch was aborted): {error}")]
    CheckpointWrite {
        epoch: u64,
        error: checkpoint::StoreError,
    },
    #[error("cannot write the dead-letter {target}: {error}")]
    DeadLetterWrite {
        target: String,
        error: std::io::Error,
    },
}

impl From<EpochError> for PipelineError {
    fn from(error: EpochError) -> Self {
        match error {
            EpochError::Operator(e) => PipelineError::Operator(e),
            EpochError::CheckpointWrite { epoch, error } => {
                PipelineError::CheckpointWrite { epoch, error }
            }
            EpochError::DeadLetterWrite { target, error } => {
                PipelineError::DeadLetterWrite { target, error }
            }
            EpochError::Source(e) => PipelineError::Read(e),
        }
    }
}

impl PipelineError {
    /// The stage a running pipeline's error is in, as the console names
    /// it; `None` when it is not one stage's.
    pub fn stage(&self) -> Option<String> {
        match self {
            PipelineError::Operator(e) => e.stage(),
            PipelineError::Read(_) => Some("source".to_string()),
            PipelineError::DeadLetterWrite { .. } => Some("dead_letter".to_string()),
            PipelineError::CheckpointWrite { .. } => Some("checkpoint".to_string()),
            _ => None,
        }
    }
}

/// Planning errors are the pipeline file's; a running pipeline's errors are
/// classified where they were made. A source that fails is retried only if
/// its store failed (a missing or unreadable file does not come back by
/// itself); a dead-letter that cannot be written (a full disk) is.
impl Classified for PipelineError {
    fn domain(&self) -> ErrorDomain {
        match self {
            PipelineError::Operator(e) => e.domain(),
            PipelineError::Sink { error, .. } => error.domain(),
            PipelineError::CheckpointWrite { error, .. } => error.domain(),
            PipelineError::Read(e) => e.domain(),
            PipelineError::DeadLetterWrite { .. } => ErrorDomain::External,
            _ => ErrorDomain::User,
        }
    }

    fn retry(&self) -> Retry {
        match self {
            PipelineError::Operator(e) => e.retry(),
            PipelineError::Sink { error, .. } => error.retry(),
            PipelineError::CheckpointWrite { error, .. } => error.retry(),
            PipelineError::Read(e) => e.retry(),
            // A fenced exactly-once dead-letter (another process took
            // its transactional id over) is not mended by a retry.
            PipelineError::DeadLetterWrite { error, .. }
                if error.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Retry::Useless
            }
            PipelineError::DeadLetterWrite { .. } => Retry::Helps,
            _ => Retry::Useless,
        }
    }
}

/// A running pipeline.
pub struct Pipeline {
    source: Box<dyn Source>,
    /// To build the source again when a failed epoch is retried.
    source_config: Vec<NamedSource>,
    mode: RunMode,
    chain: Chain,
    runtime: Runtime,
    dead_letter: DeadLetterWriter,
    coordinator: Coordinator,
    /// What the source read; the stages' counts come from the operators.
    summary: RunSummary,
    /// Close every window at the end of the run.
    flush: bool,
    /// What the admin server shows, published at every batch boundary.
    board: StatusBoard,
    /// Reloads asked for, applied at the next batch boundary.
    reloads: Option<mpsc::Receiver<ReloadRequest>>,
}

impl Pipeline {
    /// Runs until the source ends (a bounded run) or is stopped, ending an
    /// epoch every interval and a last one at the end, then flushes the
    /// dead-letter. If anything fails, the operators abort the current
    /// epoch: nothing of it is committed (a restart replays it).
    pub fn run(mut self) -> Result<RunSummary, PipelineError> {
        let processed = self.process_with_retries();
        let stopped = match processed {
            Ok(()) => None,
            // A plugin whose policy is to stop: what came before it is
            // whole, so it is committed, and the run ends with the reason.
            Err(e @ PipelineError::Operator(OperatorError::Stopped { .. })) => Some(e),
            Err(e) => {
                self.coordinator
                    .abort(self.chain.operators(), &mut self.dead_letter);
                let epoch = self.coordinator.epoch();
                let journal = self.coordinator.journal();
                journal.failed(epoch, e.stage(), e.to_string(), "stopped".to_string());
                self.publish("failed");
                return Err(e);
            }
        };
        self.end_epoch()?;
        for operator in self.chain.operators() {
            operator.on_close()?;
        }
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .flush()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.source.close().map_err(PipelineError::Read)?;
        self.publish("stopped");
        match stopped {
            Some(e) => Err(e),
            None => Ok(self.summary()),
        }
    }

    /// The run summary as it stands: the source's counts and every stage's.
    fn summary(&self) -> RunSummary {
        let mut summary = self.summary.clone();
        summary.set_stages(self.chain.counts());
        summary.rows_out = self.chain.rows_out();
        summary.dead_lettered = self.dead_letter.written;
        summary
    }

    /// Reads and processes until the source ends; at its end, closes every
    /// window if the input is complete.
    fn process(&mut self) -> Result<(), PipelineError> {
        self.publish("running");
        while let Some(batch) = self.source.next_batch().map_err(PipelineError::Read)? {
            // The source's partitions, when they changed: the window's
            // watermark waits for each one assigned, not only those seen.
            if let Some(assigned) = self.source.assignment_changed() {
                self.chain.assign(&assigned);
            }
            // A batch boundary: the batch before is done everywhere.
            if batch.records() == 0 {
                // An idle source's heartbeat: a reload or an epoch may be
                // due, and a partition gone idle may let windows close.
                self.apply_reloads();
                self.chain
                    .handle_watermark(Watermark::Idle, &mut self.dead_letter)?;
                self.after_batch(None)?;
                // The watermark may have moved, and the source's lag.
                self.publish("running");
                continue;
            }
            // Not in a replayed epoch: its batches must meet the same builds.
            if !self.coordinator.replaying() {
                self.apply_reloads();
            }
            let mark = batch.mark();
            self.summary.records_read += batch.records();
            self.summary.decode_dead_lettered += batch.rejected.len() as u64;
            for letter in &batch.rejected {
                let target = self.dead_letter.target.clone();
                self.dead_letter
                    .write(letter)
                    .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
            }
            self.summary.batches += 1;
            self.chain
                .process(batch.rows, batch.partition, &mut self.dead_letter)?;
            self.publish("running");
            self.after_batch(Some(mark))?;
        }
        if self.flush {
            self.chain
                .handle_watermark(Watermark::EndOfInput, &mut self.dead_letter)?;
        }
        Ok(())
    }

    /// After each batch: the coordinator records it and may end the epoch.
    fn after_batch(&mut self, mark: Option<Mark>) -> Result<(), PipelineError> {
        let mut barrier = Barrier {
            source: self.source.as_mut(),
            operators: self.chain.operators(),
            dead_letter: &mut self.dead_letter,
        };
        Ok(self.coordinator.after_batch(mark, &mut barrier)?)
    }

    /// Ends the current epoch (at the end of the run).
    fn end_epoch(&mut self) -> Result<(), PipelineError> {
        let mut barrier = Barrier {
            source: self.source.as_mut(),
            operators: self.chain.operators(),
            dead_letter: &mut self.dead_letter,
        };
        Ok(self.coordinator.end_epoch(&mut barrier)?)
    }

    /// The status board the admin server reads, and the sender of reload
    /// requests, which this pipeline applies at its batch boundaries.
    pub fn control(&mut self) -> (StatusBoard, mpsc::Sender<ReloadRequest>) {
        let (sender, receiver) = mpsc::channel();
        self.reloads = Some(receiver);
        self.publish("starting");
        (self.board.clone(), sender)
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Swaps in the builds asked for since the last batch boundary.
    fn apply_reloads(&mut self) {
        let Some(reloads) = &self.reloads else {
            return;
        };
        let requests: Vec<ReloadRequest> = reloads.try_iter().collect();
        if requests.is_empty() {
            return;
        }
        if let Err(e) = self.source.check_before_reload() {
            tracing::warn!(error = %e, "A reload was refused: the source's check failed.");
            for request in requests {
                let _ = request
                    .reply
                    .send(Err(format!("the reload is refused: {e}")));
            }
            return;
        }
        for request in requests {
            let answer = self
                .chain
                .operators()
                .iter_mut()
                .find_map(|operator| operator.reload(&self.runtime, &request))
                .unwrap_or_else(|| {
                    Err(format!(
                        "no transform `{}` in this pipeline",
                        request.plugin
                    ))
                });
            // The requester may have given up waiting; the reload stands.
            let _ = request.reply.send(answer);
        }
        self.publish("running");
    }

    /// Publishes counts, plugin versions and reload events to the board.
    fn publish(&mut self, state: &str) {
        let mut events = Vec::new();
        let mut plugins = Vec::new();
        for operator in self.chain.operators() {
            if let Some((status, reloads)) = operator.plugin_status() {
                plugins.push(status);
                events.extend(reloads);
            }
        }
        for event in events {
            self.board.record(event);
        }
        let counts = self.summary();
        let watermark = counts.window.as_ref().and_then(|w| w.watermark.clone());
        let progress = self.source.progress();
        self.board.publish(|s| {
            s.state = state.to_string();
            s.counts = counts;
            s.watermark = watermark;
            s.progress = progress;
            s.plugins = plugins;
        });
    }
}

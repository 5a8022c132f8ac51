//! The one interface every stage of a pipeline implements: transforms, the
//! window, the after-window transforms and the sink fan-out. A pipeline is a
//! chain of operators built from its file; a new kind of stage (a join, a
//! SQL transform, a repartition) is a new operator, not new code in the loop.
//!
//! The lifecycle, as Arroyo's operators have it: `on_start` once the
//! pipeline's epoch is known (and again after a restart), `process_batch`
//! for every batch, `handle_watermark` when the input says something about
//! time as a whole (its end, an idle source), the two phases of an epoch's end
//! (`pre_commit`, then `commit` once the checkpoint is durable, or `abort`),
//! `snapshot`/`restore` of the state the checkpoint keeps, `on_close` at the
//! end of the run. Every hook but `process_batch` has a default that does
//! nothing, so a stateless stage writes one method.

use crate::envelope::Envelope;
use crate::error::{Classified, ErrorDomain, Retry};
use crate::observe::status::{PluginStatus, ReloadEvent};
use crate::observe::summary::StageCounts;
use crate::runtime::{PluginError, ReloadReport, ReloadRequest};
use std::collections::BTreeMap;

/// What an operator keeps across a restart, by name: a transform's
/// key-value state, the window's groups. Each operator decides its tables;
/// the checkpoint stores them under the operator's name.
pub type StateTables = BTreeMap<String, Vec<u8>>;

/// One input row an operator refused, for the dead-letter.
#[derive(Debug)]
pub struct Refusal {
    /// The stage that refused it (`transform:NAME`, `window`, `sink:NAME`).
    pub stage: String,
    /// The row's index in the batch the operator was given.
    pub row: usize,
    pub reason: String,
}

/// One refused record or row, as the dead-letter keeps it.
#[derive(Debug, Clone, serde::Serialize, PartialEq)]
pub struct DeadLetter {
    /// `decode:<format>`, `transform:<name>`, `join:<name>`, …
    pub stage: String,
    pub reason: String,
    /// The file (or other source) and the offset in it (line number for files).
    pub source: String,
    pub offset: i64,
    /// The raw record for a decoder; the row as it entered the stage for a plugin.
    pub input: serde_json::Value,
}

/// What an operator made of a batch.
#[derive(Debug, Default)]
pub struct Processed {
    /// Rows for the next operator; `None` when there are none.
    pub rows: Option<Envelope>,
    /// Rows of the input refused, each with its reason, in input order.
    pub refused: Vec<Refusal>,
    /// Records refused that are not rows of the input (a join's changelog
    /// record that cannot be decoded), for the dead-letter as they are.
    pub letters: Vec<DeadLetter>,
    /// The pipeline must stop once the refused rows are dead-lettered (a
    /// transform whose `on_error` is `stop` failed the batch).
    pub stop: Option<OperatorError>,
}

impl Processed {
    /// `rows` for the next operator (none if empty), with the refused.
    pub fn of(rows: Envelope, refused: Vec<Refusal>) -> Self {
        Processed {
            rows: (rows.num_rows() > 0).then_some(rows),
            refused,
            letters: Vec::new(),
            stop: None,
        }
    }
}

/// What the input says about event time as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    /// The input is complete (a bounded run with `--flush`, or a bounded
    /// source): every window may close.
    EndOfInput,
    /// No records came for a while (an idle source's heartbeat): a
    /// watermark held by a partition that has since gone idle may advance.
    Idle,
}

/// A failure of a stage, as the pipeline reports it.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("stopped: transform `{plugin}` failed a batch and its `on_error` is `stop`: {reason}")]
    Stopped { plugin: String, reason: String },
    #[error("window failed: {0}")]
    Window(String),
    /// A join could not be computed (its table's columns no longer fit).
    #[error("{stage} failed: {reason}")]
    Join { stage: String, reason: String },
    /// A sink failed to write a batch (a refused row is not a failure).
    #[error(transparent)]
    Sink(Box<PluginError>),
    /// A sink could not be opened (connected) at the start of an epoch.
    #[error("sinks[{index}]: {error}")]
    SinkOpen {
        index: usize,
        error: Box<PluginError>,
    },
    #[error("sink `{sink}`: epoch {epoch} was aborted (none of its rows were committed): {error}")]
    Commit {
        sink: String,
        epoch: u64,
        error: Box<PluginError>,
    },
    #[error("{stage}: cannot restore its state from the checkpoint: {reason}")]
    Restore { stage: String, reason: String },
    /// A stop (SIGTERM, Ctrl-C) interrupted a plugin call: the batch is
    /// abandoned with its epoch, not dead-lettered.
    #[error(
        "stopped by a signal during {stage}'s call ({reason}); the epoch in progress was \
         abandoned: with [checkpoint] its records are read again at the next start"
    )]
    Interrupted { stage: String, reason: String },
}

/// A stage of the pipeline.
pub trait Operator {
    /// The stage's name, unique in its pipeline: the key of its state in a
    /// checkpoint (`transform:NAME`, `after_window:NAME`, `window`, `sinks`).
    fn name(&self) -> &str;

    /// The pipeline's current epoch is `epoch` (its first, or the one a
    /// restart resumes at); `checkpointed` when the pipeline has
    /// `[checkpoint]`. Sinks open here.
    fn on_start(&mut self, _epoch: u64, _checkpointed: bool) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Processes one batch from source partition `partition`.
    fn process_batch(
        &mut self,
        rows: &Envelope,
        partition: i32,
    ) -> Result<Processed, OperatorError>;

    /// The source now reads `partitions` (the ids its batches carry in
    /// `partition`): announced at the start and at each rebalance, before
    /// the next batch. The window's watermark waits for each of them.
    fn on_assignment(&mut self, _partitions: &[i32]) {}

    /// Whether the rows this operator emits are one stream of its own
    /// (partition 0) rather than its input's partitions: an interval join
    /// merges its two sources, and the operators after it are told of
    /// partition 0 only.
    fn merges_partitions(&self) -> bool {
        false
    }

    /// Reacts to the watermark; rows it emits go to the next operator.
    /// There is no input row at a watermark, so nothing to refuse.
    fn handle_watermark(
        &mut self,
        _watermark: Watermark,
    ) -> Result<Option<Envelope>, OperatorError> {
        Ok(None)
    }

    /// First phase of an epoch's end: make the epoch's output durable but
    /// not yet visible.
    fn pre_commit(&mut self, _epoch: u64) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Second phase: the checkpoint of `epoch` is durable; make its output
    /// visible.
    fn commit(&mut self, _epoch: u64) -> Result<(), OperatorError> {
        Ok(())
    }

    /// Drop what the epoch wrote: it is replayed from the last checkpoint.
    fn abort(&mut self, _epoch: u64) {}

    /// The state to checkpoint, if the operator keeps any, with the build
    /// that made it (a plugin's SHA-256).
    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        None
    }

    /// Takes back the state `snapshot` returned (from a checkpoint).
    fn restore(
        &mut self,
        _build: Option<&str>,
        _tables: &StateTables,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The end of the run (after the last epoch committed).
    fn on_close(&mut self) -> Result<(), OperatorError> {
        Ok(())
    }

    /// This stage's counters, as the summary, `/status` and `/metrics` show them.
    fn counts(&self) -> StageCounts;

    /// A plugin stage: its status for the board, and the reload steps since
    /// the last call.
    fn plugin_status(&mut self) -> Option<(PluginStatus, Vec<ReloadEvent>)> {
        None
    }

    /// A reload asked for by name; `None` if this stage is not that plugin.
    fn reload(
        &mut self,
        _runtime: &crate::runtime::Runtime,
        _request: &ReloadRequest,
    ) -> Option<Result<ReloadReport, String>> {
        None
    }
}

impl OperatorError {
    /// The stage that failed, as the console names it (`transform:NAME` for
    /// a transform before or after the window, `window`, `sink:NAME`).
    pub fn stage(&self) -> Option<String> {
        match self {
            OperatorError::Stopped { plugin, .. } => Some(format!("transform:{plugin}")),
            OperatorError::Window(_) => Some("window".to_string()),
            OperatorError::Join { stage, .. } => Some(stage.clone()),
            OperatorError::Commit { sink, .. } => Some(format!("sink:{sink}")),
            OperatorError::Sink(e) | OperatorError::SinkOpen { error: e, .. } => {
                e.plugin().map(|sink| format!("sink:{sink}"))
            }
            OperatorError::Restore { stage, .. } => Some(stage.clone()),
            // A stop, not a failure.
            OperatorError::Interrupted { .. } => None,
        }
    }
}

impl Classified for OperatorError {
    fn domain(&self) -> ErrorDomain {
        match self {
            OperatorError::Stopped { .. }
            | OperatorError::Window(_)
            | OperatorError::Join { .. }
            | OperatorError::Interrupted { .. } => ErrorDomain::User,
            OperatorError::Restore { .. } => ErrorDomain::Internal,
            OperatorError::Sink(e)
            | OperatorError::SinkOpen { error: e, .. }
            | OperatorError::Commit { error: e, .. } => e.domain(),
        }
    }

    fn retry(&self) -> Retry {
        match self {
            OperatorError::Stopped { .. }
            | OperatorError::Window(_)
            | OperatorError::Join { .. }
            | OperatorError::Interrupted { .. }
            | OperatorError::Restore { .. } => Retry::Useless,
            OperatorError::Sink(e)
            | OperatorError::SinkOpen { error: e, .. }
            | OperatorError::Commit { error: e, .. } => e.retry(),
        }
    }
}

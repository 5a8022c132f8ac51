//! Sources: where records come from (files, a generator), decoded into
//! Arrow batches with each row's origin.

pub mod decode;
mod files;
mod generator;
pub(crate) mod kafka;
pub mod merged;
mod position;

pub use crate::observe::status::{Done, PartitionProgress, SourceProgress};
pub use files::FilesSource;
pub use generator::GeneratorSource;
pub use kafka::KafkaSource;
pub use merged::MergedSource;
pub use position::{KafkaPartition, Mark, Position, SeenFile};

use crate::config::{NamedSource, SourceConfig};
use crate::envelope::Envelope;
use crate::operator::DeadLetter;
use arrow::datatypes::SchemaRef;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A batch from a source: the decoded rows and the records refused.
pub struct SourceBatch {
    pub rows: Envelope,
    pub rejected: Vec<DeadLetter>,
    /// The source partition the rows come from: windows keep a watermark per
    /// partition (files and the generator are one partition, 0).
    pub partition: i32,
}

impl SourceBatch {
    /// No records: what an idle source returns after waiting a while, so
    /// the pipeline reaches a batch boundary (to apply a reload, say) even
    /// when nothing arrives.
    pub fn idle(schema: SchemaRef) -> Self {
        SourceBatch {
            rows: Envelope::new(arrow::array::RecordBatch::new_empty(schema), vec![], vec![]),
            rejected: Vec::new(),
            partition: 0,
        }
    }

    /// Records read, decoded or not.
    pub fn records(&self) -> u64 {
        (self.rows.num_rows() + self.rejected.len()) as u64
    }

    /// What an epoch's log records of this batch.
    pub fn mark(&self) -> Mark {
        Mark {
            partition: self.partition,
            records: self.records(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot resume from the checkpoint: {0}")]
    Restore(String),
    #[error("source path {path} does not exist")]
    Missing { path: String },
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Config(String),
    /// An object store did not answer, or failed: it may come back.
    #[error("cannot read {path}: {message}")]
    Unavailable { path: String, message: String },
}

/// A source of batches.
pub trait Source: Send {
    /// The schema of every batch, known before the first record.
    fn schema(&self) -> SchemaRef;
    /// A short description for logs and the run summary.
    fn describe(&self) -> String;
    /// The next batch; `None` once a bounded run has read everything there
    /// was at its start, or once `stop` is set. An idle source returns an
    /// empty batch ([`SourceBatch::idle`]) about once a second.
    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError>;
    /// Whether the source is the whole input, so that at its end every open
    /// window can be emitted (as `--flush` asks).
    fn bounded(&self) -> bool;
    /// Where reading resumes after the last batch returned.
    fn position(&self) -> Position;
    /// Resumes at `position`; called before the first batch.
    fn restore(&mut self, position: &Position) -> Result<(), SourceError>;
    /// The next batches must be exactly these, in this order (an epoch
    /// replayed after a crash): same partitions, same records.
    fn replay(&mut self, batches: &[Mark]);
    /// The partitions this source now reads, by the ids its batches carry in
    /// [`SourceBatch::partition`], if they changed since the last call (the
    /// first assignment, and each rebalance). Asked after every batch, idle
    /// ones included, before the batch is processed: windows wait for a
    /// partition that is assigned but silent, and stop counting one that is
    /// revoked. `None` from a source that does not announce (files and the
    /// generator are partition 0 once it delivers).
    fn assignment_changed(&mut self) -> Option<Vec<i32>> {
        None
    }
    /// The sinks have committed every batch returned so far: a source with
    /// a consumer group may commit its offsets there (for lag monitoring;
    /// the checkpoint is where a run resumes).
    fn commit(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    /// The run is over; commit what is left.
    fn close(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    /// Before a hot reload is applied: what the source checked at start
    /// still holds (a Kafka Avro source: its reader schema can read every
    /// writer version of the subject). An error refuses the reload.
    fn check_before_reload(&mut self) -> Result<(), SourceError> {
        Ok(())
    }
    /// How far reading has got, for live progress (by default, unknown).
    fn progress(&self) -> SourceProgress {
        SourceProgress::default()
    }
}

/// Whether a run is bounded (`--available-now`) and how it is asked to stop.
#[derive(Clone)]
pub struct RunMode {
    pub available_now: bool,
    /// At the end of the run, take the input as complete and close every window.
    pub flush: bool,
    pub stop: Arc<AtomicBool>,
}

/// The pipeline's sources: the one it has, or several read as one.
pub fn build(sources: &[NamedSource], mode: RunMode) -> Result<Box<dyn Source>, SourceError> {
    match sources {
        [only] => build_one(&only.config, mode),
        several => Ok(Box::new(MergedSource::new(several, mode)?)),
    }
}

fn build_one(config: &SourceConfig, mode: RunMode) -> Result<Box<dyn Source>, SourceError> {
    Ok(match config {
        SourceConfig::Files(c) => Box::new(FilesSource::new(c, mode)?),
        SourceConfig::Generator(c) => Box::new(GeneratorSource::new(c, mode)?),
        SourceConfig::Kafka(c) => Box::new(KafkaSource::new(c, mode)?),
    })
}

impl crate::error::Classified for SourceError {
    fn domain(&self) -> crate::error::ErrorDomain {
        use crate::error::ErrorDomain;
        match self {
            // The disk or the file system failed under a file that exists,
            // or the store under an object.
            SourceError::Io { .. } | SourceError::Unavailable { .. } => ErrorDomain::External,
            // The path, the settings, or a checkpoint from another source.
            SourceError::Missing { .. } | SourceError::Config(_) | SourceError::Restore(_) => {
                ErrorDomain::User
            }
        }
    }

    fn retry(&self) -> crate::error::Retry {
        match self {
            // A store that failed may answer later; a local file that cannot
            // be read will not read better for a retry.
            SourceError::Unavailable { .. } => crate::error::Retry::Helps,
            _ => crate::error::Retry::Useless,
        }
    }
}

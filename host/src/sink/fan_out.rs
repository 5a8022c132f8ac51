//! The sinks as the last operator of the pipeline: every batch goes to every
//! sink; a row a sink refuses goes to the dead-letter with the sink's
//! reason; an epoch is pre-committed, committed or aborted in all of them.

use super::{OpenSink, PlannedSink};
use crate::capability::in_place::ResumeFiles;
use crate::envelope::Envelope;
use crate::observe::summary::{SinkCounts, StageCounts};
use crate::operator::StateTables;
use crate::operator::{Operator, OperatorError, Processed, Refusal};
use crate::runtime::{PluginError, Runtime, SinkOutcome};
use arrow::datatypes::SchemaRef;
use std::collections::BTreeMap;

pub struct SinkFanOut {
    /// The sinks as planned, to open them again after a restart.
    planned: Vec<PlannedSink>,
    open: Vec<OpenSink>,
    counts: Vec<SinkCounts>,
    runtime: Runtime,
    /// The schema of the rows the sinks receive.
    input: SchemaRef,
    /// `PIPELINE/SINK` is each sink's id for its epoch markers.
    pipeline: String,
    /// The lengths of the files each sink writes in place, by sink name:
    /// taken at pre-commit for the checkpoint, and restored from one so the
    /// sinks reopen them cut back to those lengths (`None`: a fresh run).
    files: Option<FileLengths>,
}

/// By sink name, each file it writes in place and its length.
type FileLengths = BTreeMap<String, BTreeMap<String, u64>>;

/// The state table the file lengths are checkpointed in.
const FILES_TABLE: &str = "files";

impl SinkFanOut {
    pub fn new(
        planned: Vec<PlannedSink>,
        runtime: Runtime,
        input: SchemaRef,
        pipeline: &str,
    ) -> Self {
        SinkFanOut {
            counts: planned
                .iter()
                .map(|s| SinkCounts::new(&s.name, &s.target))
                .collect(),
            planned,
            open: Vec::new(),
            runtime,
            input,
            pipeline: pipeline.to_string(),
            files: None,
        }
    }
}

fn sink_failed(error: PluginError) -> OperatorError {
    OperatorError::Sink(Box::new(error))
}

impl Operator for SinkFanOut {
    fn name(&self) -> &str {
        "sinks"
    }

    /// Opens every sink for `epoch`: sinks opened before a failing one are
    /// aborted (they hold nothing yet).
    fn on_start(&mut self, epoch: u64, checkpointed: bool) -> Result<(), OperatorError> {
        self.open.clear();
        let mut open = Vec::new();
        for (index, s) in self.planned.iter().enumerate() {
            let mut run = vec![(
                "weir.sink-id".to_string(),
                format!("{}/{}", self.pipeline, s.name),
            )];
            if checkpointed {
                run.push(("weir.epoch".to_string(), epoch.to_string()));
            }
            let resume = match &self.files {
                None => ResumeFiles::Fresh,
                Some(files) => ResumeFiles::At(files.get(&s.name).cloned().unwrap_or_default()),
            };
            match s.open_resuming(&self.runtime, self.input.clone(), &run, resume) {
                Ok(opened) => open.push(opened),
                Err(error) => {
                    for opened in &mut open {
                        opened.abort(epoch);
                    }
                    return Err(OperatorError::SinkOpen {
                        index,
                        error: Box::new(error),
                    });
                }
            }
        }
        self.open = open;
        Ok(())
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        _partition: i32,
    ) -> Result<Processed, OperatorError> {
        let n = rows.num_rows();
        let mut refused = Vec::new();
        for (sink, counts) in self.open.iter_mut().zip(&mut self.counts) {
            let stage = format!("sink:{}", sink.name());
            let outcome = sink.write(&rows.data).map_err(sink_failed)?;
            let before = refused.len();
            match outcome {
                SinkOutcome::Written { rejections } => {
                    refused.extend(rejections.into_iter().map(|(row, reason)| Refusal {
                        stage: stage.clone(),
                        row: row as usize,
                        reason,
                    }))
                }
                SinkOutcome::Failed { reason } => {
                    tracing::warn!(sink = %sink.name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                    refused.extend((0..n).map(|row| Refusal {
                        stage: stage.clone(),
                        row,
                        reason: reason.clone(),
                    }))
                }
            }
            let sink_refused = (refused.len() - before) as u64;
            counts.rows += n as u64 - sink_refused;
            counts.dead_lettered += sink_refused;
        }
        Ok(Processed {
            rows: None,
            refused,
            ..Processed::default()
        })
    }

    fn pre_commit(&mut self, epoch: u64) -> Result<(), OperatorError> {
        let mut files = FileLengths::new();
        for sink in &mut self.open {
            let name = sink.name().to_string();
            let failed = |error| OperatorError::Commit {
                sink: name.clone(),
                epoch,
                error: Box::new(error),
            };
            sink.pre_commit(epoch).map_err(failed)?;
            let marks = sink.file_marks().map_err(failed)?;
            if !marks.is_empty() {
                files.insert(sink.name().to_string(), marks);
            }
        }
        self.files = Some(files);
        Ok(())
    }

    /// The lengths taken at pre-commit (none yet: every file is empty).
    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        let files = self.files.clone().unwrap_or_default();
        let bytes = postcard::to_stdvec(&files).expect("file lengths serialise");
        Some((None, StateTables::from([(FILES_TABLE.to_string(), bytes)])))
    }

    fn restore(&mut self, _build: Option<&str>, tables: &StateTables) -> Result<(), OperatorError> {
        let files = match tables.get(FILES_TABLE) {
            Some(bytes) => postcard::from_bytes(bytes).map_err(|e| OperatorError::Restore {
                stage: "sinks".to_string(),
                reason: format!("the lengths of the files written in place: {e}"),
            })?,
            None => FileLengths::new(),
        };
        self.files = Some(files);
        Ok(())
    }

    fn commit(&mut self, epoch: u64) -> Result<(), OperatorError> {
        for sink in &mut self.open {
            sink.commit(epoch).map_err(|error| OperatorError::Commit {
                sink: sink.name().to_string(),
                epoch,
                error: Box::new(error),
            })?;
        }
        Ok(())
    }

    fn abort(&mut self, epoch: u64) {
        for sink in &mut self.open {
            sink.abort(epoch);
        }
    }

    fn on_close(&mut self) -> Result<(), OperatorError> {
        for sink in &mut self.open {
            sink.close().map_err(sink_failed)?;
        }
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        StageCounts::Sinks(self.counts.clone())
    }
}

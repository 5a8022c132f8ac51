//! A pipeline: source → transforms → sinks, with every refused row sent to
//! the dead-letter. Planning (load plugins, type-check schemas) is separate
//! from running, so `weir check` does all of it without writing anything.

use crate::config::{self, PipelineConfig};
use crate::dead_letter::{DeadLetter, DeadLetterWriter, rows_as_json};
use crate::envelope::Envelope;
use crate::runtime::{BatchOutcome, PluginError, Runtime, TransformPlugin};
use crate::sink::{self, Sink, SinkError};
use crate::source::{self, RunMode, Source, SourceError};
use crate::summary::{RunSummary, SinkCounts, TransformCounts};
use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error("{file}: key `source`: {error}")]
    Source { file: String, error: SourceError },
    #[error("{file}: key `transforms[{index}]` ({name}): {error}")]
    Plugin {
        file: String,
        index: usize,
        name: String,
        error: Box<PluginError>,
    },
    #[error("{file}: key `sinks[{index}]`: {error}")]
    SinkSchema {
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
    #[error(transparent)]
    Write(#[from] SinkError),
    #[error("cannot write the dead-letter {target}: {error}")]
    DeadLetterWrite {
        target: String,
        error: std::io::Error,
    },
}

/// A pipeline whose plugins are loaded and whose schemas line up; nothing
/// has been read or written yet.
pub struct Plan {
    pub config: PipelineConfig,
    file: String,
    source: Box<dyn Source>,
    transforms: Vec<TransformPlugin>,
    /// The schema entering each stage, then the one the sinks receive.
    pub schemas: Vec<SchemaRef>,
}

impl Plan {
    pub fn new(
        file: &str,
        config: PipelineConfig,
        runtime: &Runtime,
        mode: RunMode,
    ) -> Result<Plan, PipelineError> {
        let file = file.to_string();
        let source =
            source::build(&config.source, mode).map_err(|error| PipelineError::Source {
                file: file.clone(),
                error,
            })?;
        let mut schemas = vec![source.schema()];
        let mut transforms = Vec::new();
        for (index, t) in config.transforms.iter().enumerate() {
            let plugin_error = |error: PluginError| PipelineError::Plugin {
                file: file.clone(),
                index,
                name: t.name.clone(),
                error: Box::new(error),
            };
            let settings = config::plugin_config(t).expect("validated when the file was loaded");
            let input = schemas.last().expect("the source schema is first").clone();
            let plugin = TransformPlugin::load(runtime, &t.name, &t.plugin, settings, input)
                .map_err(plugin_error)?;
            schemas.push(plugin.output_schema());
            transforms.push(plugin);
        }
        let output = schemas.last().expect("at least the source schema").clone();
        for (index, s) in config.sinks.iter().enumerate() {
            sink::check(s, &output).map_err(|error| PipelineError::SinkSchema {
                file: file.clone(),
                index,
                error,
            })?;
        }
        Ok(Plan {
            config,
            file,
            source,
            transforms,
            schemas,
        })
    }

    /// Opens the sinks and the dead-letter: from here on, files are written.
    pub fn open(self) -> Result<Pipeline, PipelineError> {
        let output = self
            .schemas
            .last()
            .expect("at least the source schema")
            .clone();
        let mut sinks = Vec::new();
        for (index, s) in self.config.sinks.iter().enumerate() {
            let opened = sink::open(s, &output).map_err(|error| PipelineError::SinkSchema {
                file: self.file.clone(),
                index,
                error,
            })?;
            sinks.push(opened);
        }
        let dead_letter = DeadLetterWriter::open(&self.config.dead_letter).map_err(|error| {
            PipelineError::DeadLetter {
                file: self.file.clone(),
                target: format!("{:?}", self.config.dead_letter),
                error,
            }
        })?;
        let summary = RunSummary {
            pipeline: self.config.name().to_string(),
            source: self.source.describe(),
            transforms: self
                .transforms
                .iter()
                .map(|t| TransformCounts::new(t.name()))
                .collect(),
            sinks: sinks
                .iter()
                .map(|s| SinkCounts::new(s.name(), &s.target()))
                .collect(),
            dead_letter_target: dead_letter.target.clone(),
            ..RunSummary::default()
        };
        Ok(Pipeline {
            source: self.source,
            transforms: self.transforms,
            sinks,
            dead_letter,
            summary,
        })
    }
}

/// A running pipeline.
pub struct Pipeline {
    source: Box<dyn Source>,
    transforms: Vec<TransformPlugin>,
    sinks: Vec<Box<dyn Sink>>,
    dead_letter: DeadLetterWriter,
    summary: RunSummary,
}

impl Pipeline {
    /// Runs until the source ends (a bounded run) or is stopped, then
    /// flushes every sink and the dead-letter.
    pub fn run(mut self) -> Result<RunSummary, PipelineError> {
        while let Some(batch) = self.source.next_batch().map_err(PipelineError::Read)? {
            self.summary.records_read += batch.records();
            self.summary.decode_dead_lettered += batch.rejected.len() as u64;
            for letter in &batch.rejected {
                self.dead_letter(letter)?;
            }
            self.summary.batches += 1;
            if let Some(rows) = self.transform(batch.rows)? {
                for (sink, counts) in self.sinks.iter_mut().zip(&mut self.summary.sinks) {
                    sink.write(&rows.data)?;
                    counts.rows += rows.num_rows() as u64;
                }
                self.summary.rows_out += rows.num_rows() as u64;
            }
        }
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .flush()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.summary.dead_lettered = self.dead_letter.written;
        Ok(self.summary)
    }

    /// Runs the transform chain; `None` if no row survives it.
    fn transform(&mut self, mut rows: Envelope) -> Result<Option<Envelope>, PipelineError> {
        for index in 0..self.transforms.len() {
            let n = rows.num_rows();
            if n == 0 {
                return Ok(None);
            }
            self.summary.transforms[index].rows_in += n as u64;
            let stage = format!("transform:{}", self.transforms[index].name());
            match self.transforms[index].process(&rows.data) {
                BatchOutcome::Processed {
                    output,
                    selection,
                    rejections,
                } => {
                    let rejected: Vec<u32> = rejections.iter().map(|(row, _)| *row).collect();
                    let rejected_count = rejected.len();
                    let inputs = rows_as_json(
                        &take_record_batch(&rows.data, &UInt32Array::from(rejected))
                            .expect("rows checked"),
                    );
                    for ((row, reason), input) in rejections.into_iter().zip(inputs) {
                        let (source, offset) = rows.origin(row as usize);
                        let letter = DeadLetter {
                            stage: stage.clone(),
                            reason,
                            source: source.to_string(),
                            offset,
                            input,
                        };
                        self.dead_letter(&letter)?;
                    }
                    let counts = &mut self.summary.transforms[index];
                    counts.record(n, &selection, rejected_count);
                    rows = rows.derive(output, &selection);
                }
                BatchOutcome::Failed { reason } => {
                    tracing::warn!(transform = %self.transforms[index].name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                    self.dead_letter_all(&stage, &reason, &rows)?;
                    let counts = &mut self.summary.transforms[index];
                    counts.failed_batches += 1;
                    counts.dead_lettered += n as u64;
                    return Ok(None);
                }
            }
        }
        Ok((rows.num_rows() > 0 || self.transforms.is_empty()).then_some(rows))
    }

    fn dead_letter_all(
        &mut self,
        stage: &str,
        reason: &str,
        rows: &Envelope,
    ) -> Result<(), PipelineError> {
        for (row, input) in rows_as_json(&rows.data).into_iter().enumerate() {
            let (source, offset) = rows.origin(row);
            let letter = DeadLetter {
                stage: stage.to_string(),
                reason: reason.to_string(),
                source: source.to_string(),
                offset,
                input,
            };
            self.dead_letter(&letter)?;
        }
        Ok(())
    }

    fn dead_letter(&mut self, letter: &DeadLetter) -> Result<(), PipelineError> {
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .write(letter)
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })
    }
}

//! A pipeline: source → transforms → window → after-window transforms →
//! sinks, with every refused row sent to the dead-letter. Planning (load
//! plugins, type-check schemas) is separate from running, so `weir check`
//! does all of it without writing anything.

use crate::config::{self, LatePolicy, PipelineConfig, TransformConfig};
use crate::dead_letter::{DeadLetter, DeadLetterWriter, rows_as_json};
use crate::envelope::Envelope;
use crate::runtime::{
    BatchOutcome, PluginError, PluginLimits, PluginSettings, Runtime, SinkOutcome, SinkPlugin,
    TransformPlugin,
};
use crate::sink::{self, PlannedSink, SinkError};
use crate::source::{self, RunMode, Source, SourceError};
use crate::summary::{RunSummary, SinkCounts, TransformCounts, WindowCounts};
use crate::window::{WindowOperator, show_time};
use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use std::time::Instant;

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
    #[error("window failed: {0}")]
    Aggregate(String),
    #[error(transparent)]
    Write(#[from] SinkError),
    #[error("sink `{sink}`: epoch {epoch} was aborted (none of its rows were committed): {error}")]
    Commit {
        sink: String,
        epoch: u64,
        error: Box<PluginError>,
    },
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
    flush: bool,
    source: Box<dyn Source>,
    transforms: Vec<TransformPlugin>,
    window: Option<WindowOperator>,
    after_window: Vec<TransformPlugin>,
    sinks: Vec<PlannedSink>,
    runtime: Runtime,
    /// The schema of each stage's output, the source's first; the last is
    /// what the sinks receive. See [`Plan::stages`] for their names.
    pub schemas: Vec<SchemaRef>,
}

fn load_chain(
    file: &str,
    list: &'static str,
    configs: &[TransformConfig],
    runtime: &Runtime,
    schemas: &mut Vec<SchemaRef>,
) -> Result<Vec<TransformPlugin>, PipelineError> {
    let mut plugins = Vec::new();
    for (index, t) in configs.iter().enumerate() {
        let settings = PluginSettings {
            config: config::plugin_config(t).expect("validated when the file was loaded"),
            limits: PluginLimits {
                timeout: std::time::Duration::from_millis(t.timeout_ms),
                memory: (t.memory_limit_mb as usize).saturating_mul(1 << 20),
            },
        };
        let input = schemas.last().expect("the source schema is first").clone();
        let plugin = TransformPlugin::load(runtime, &t.name, &t.plugin, settings, input).map_err(
            |error| PipelineError::Plugin {
                file: file.to_string(),
                list,
                index,
                name: t.name.clone(),
                error: Box::new(error),
            },
        )?;
        schemas.push(plugin.output_schema());
        plugins.push(plugin);
    }
    Ok(plugins)
}

impl Plan {
    pub fn new(
        file: &str,
        config: PipelineConfig,
        runtime: &Runtime,
        mode: RunMode,
    ) -> Result<Plan, PipelineError> {
        let file = file.to_string();
        let flush = mode.flush;
        let source =
            source::build(&config.source, mode).map_err(|error| PipelineError::Source {
                file: file.clone(),
                error,
            })?;
        let mut schemas = vec![source.schema()];
        let transforms = load_chain(
            &file,
            "transforms",
            &config.transforms,
            runtime,
            &mut schemas,
        )?;
        let window = match &config.window {
            None => None,
            Some(w) => {
                let input = schemas.last().expect("the source schema is first");
                let operator =
                    WindowOperator::new(w, input).map_err(|message| PipelineError::Window {
                        file: file.clone(),
                        message,
                    })?;
                schemas.push(operator.output_schema());
                Some(operator)
            }
        };
        let after_window = load_chain(
            &file,
            "after_window",
            &config.after_window,
            runtime,
            &mut schemas,
        )?;
        let output = schemas.last().expect("at least the source schema").clone();
        let mut sinks = Vec::new();
        for (index, s) in config.sinks.iter().enumerate() {
            let error = |error| PipelineError::SinkSchema {
                file: file.clone(),
                index,
                error,
            };
            sink::check(s, &output).map_err(error)?;
            sinks.push(sink::plan(s, &config.connections, runtime).map_err(error)?);
        }
        Ok(Plan {
            config,
            file,
            flush,
            source,
            transforms,
            window,
            after_window,
            sinks,
            runtime: runtime.clone(),
            schemas,
        })
    }

    /// The name of each stage, matching [`Plan::schemas`].
    pub fn stages(&self) -> Vec<String> {
        let mut names = vec!["source".to_string()];
        names.extend(
            self.config
                .transforms
                .iter()
                .map(|t| format!("transform {}", t.name)),
        );
        if self.window.is_some() {
            names.push("window".to_string());
        }
        names.extend(
            self.config
                .after_window
                .iter()
                .map(|t| format!("after-window transform {}", t.name)),
        );
        names
    }

    /// Opens the sinks and the dead-letter: from here on, files are written.
    pub fn open(self) -> Result<Pipeline, PipelineError> {
        let output = self
            .schemas
            .last()
            .expect("at least the source schema")
            .clone();
        let mut sinks: Vec<SinkPlugin> = Vec::new();
        for (index, s) in self.sinks.iter().enumerate() {
            match s.open(&self.runtime, output.clone()) {
                Ok(opened) => sinks.push(opened),
                Err(error) => {
                    // Sinks opened before this one hold nothing yet; close them.
                    for opened in &mut sinks {
                        opened.abort(1);
                    }
                    return Err(PipelineError::SinkSchema {
                        file: self.file.clone(),
                        index,
                        error,
                    });
                }
            }
        }
        let dead_letter = DeadLetterWriter::open(&self.config.dead_letter).map_err(|error| {
            PipelineError::DeadLetter {
                file: self.file.clone(),
                target: format!("{:?}", self.config.dead_letter),
                error,
            }
        })?;
        let counts = |plugins: &[TransformPlugin]| {
            plugins
                .iter()
                .map(|t| TransformCounts::new(t.name()))
                .collect()
        };
        let summary = RunSummary {
            pipeline: self.config.name().to_string(),
            source: self.source.describe(),
            transforms: counts(&self.transforms),
            window: self.config.window.as_ref().map(|w| WindowCounts {
                kind: format!("{:?}", w.kind).to_lowercase(),
                ..Default::default()
            }),
            after_window: counts(&self.after_window),
            sinks: self
                .sinks
                .iter()
                .map(|s| SinkCounts::new(&s.name, &s.target))
                .collect(),
            dead_letter_target: dead_letter.target.clone(),
            ..RunSummary::default()
        };
        let flush = self.flush || self.source.bounded();
        Ok(Pipeline {
            source: self.source,
            transforms: self.transforms,
            window: self.window,
            after_window: self.after_window,
            sinks,
            dead_letter,
            summary,
            flush,
            emitted: 0,
            epoch: 1,
        })
    }
}

/// A running pipeline.
pub struct Pipeline {
    source: Box<dyn Source>,
    transforms: Vec<TransformPlugin>,
    window: Option<WindowOperator>,
    after_window: Vec<TransformPlugin>,
    sinks: Vec<SinkPlugin>,
    dead_letter: DeadLetterWriter,
    summary: RunSummary,
    /// Close every window at the end of the run.
    flush: bool,
    /// Aggregate rows emitted so far: their `_offset`.
    emitted: i64,
    /// The sinks' current epoch: what they write until the next commit.
    /// One per run for now; checkpoints will commit one per interval.
    epoch: u64,
}

impl Pipeline {
    /// Runs until the source ends (a bounded run) or is stopped, then
    /// commits the sinks' epoch and flushes the dead-letter. If anything
    /// fails, the sinks abort the epoch: nothing of it is committed.
    pub fn run(mut self) -> Result<RunSummary, PipelineError> {
        match self.run_epoch() {
            Ok(()) => {}
            Err(e) => {
                for sink in &mut self.sinks {
                    sink.abort(self.epoch);
                }
                return Err(e);
            }
        }
        self.commit()?;
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .flush()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.summary.dead_lettered = self.dead_letter.written;
        Ok(self.summary)
    }

    /// Two phases: every sink prepares, then every sink commits; if one
    /// cannot prepare, all abort.
    fn commit(&mut self) -> Result<(), PipelineError> {
        let epoch = self.epoch;
        let failed = |sink: &SinkPlugin, error| PipelineError::Commit {
            sink: sink.name().to_string(),
            epoch,
            error: Box::new(error),
        };
        for i in 0..self.sinks.len() {
            if let Err(error) = self.sinks[i].pre_commit(epoch) {
                let error = failed(&self.sinks[i], error);
                for sink in &mut self.sinks {
                    sink.abort(epoch);
                }
                return Err(error);
            }
        }
        for sink in &mut self.sinks {
            sink.commit(epoch).map_err(|e| failed(sink, e))?;
        }
        for sink in &mut self.sinks {
            sink.close()
                .map_err(|e| PipelineError::Write(SinkError::Plugin(Box::new(e))))?;
        }
        self.epoch += 1;
        Ok(())
    }

    fn run_epoch(&mut self) -> Result<(), PipelineError> {
        while let Some(batch) = self.source.next_batch().map_err(PipelineError::Read)? {
            self.summary.records_read += batch.records();
            self.summary.decode_dead_lettered += batch.rejected.len() as u64;
            for letter in &batch.rejected {
                self.dead_letter(letter)?;
            }
            self.summary.batches += 1;
            let rows = run_chain(
                &mut self.transforms,
                &mut self.summary.transforms,
                &mut self.dead_letter,
                batch.rows,
            )?;
            let rows = match (&self.window, rows) {
                (None, rows) => rows,
                (Some(_), Some(rows)) => self.window_batch(rows)?,
                (Some(_), None) => None,
            };
            if let Some(rows) = rows {
                self.finish(rows)?;
            }
        }
        if self.flush
            && let Some(window) = &mut self.window
        {
            let emitted = window.flush().map_err(PipelineError::Aggregate)?;
            if let Some(rows) = self.aggregate_rows(emitted) {
                self.finish(rows)?;
            }
        }
        if let (Some(window), Some(counts)) = (&self.window, &mut self.summary.window) {
            counts.open_groups = window.open_groups() as u64;
            counts.watermark = window.watermark().map(|w| match w {
                i64::MAX => "past the end of the input (flushed)".to_string(),
                w => show_time(w),
            });
        }
        Ok(())
    }

    /// Rows after the window: the after-window transforms, then the sinks.
    fn finish(&mut self, rows: Envelope) -> Result<(), PipelineError> {
        let rows = if self.window.is_some() {
            run_chain(
                &mut self.after_window,
                &mut self.summary.after_window,
                &mut self.dead_letter,
                rows,
            )?
        } else {
            Some(rows)
        };
        if let Some(rows) = rows {
            for (sink, counts) in self.sinks.iter_mut().zip(&mut self.summary.sinks) {
                let n = rows.num_rows();
                let stage = format!("sink:{}", sink.name());
                let outcome = sink
                    .write(&rows.data)
                    .map_err(|e| PipelineError::Write(SinkError::Plugin(Box::new(e))))?;
                let refused: Vec<(usize, String)> = match outcome {
                    SinkOutcome::Written { rejections } => rejections
                        .into_iter()
                        .map(|(row, reason)| (row as usize, reason))
                        .collect(),
                    SinkOutcome::Failed { reason } => {
                        tracing::warn!(sink = %sink.name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                        (0..n).map(|row| (row, reason.clone())).collect()
                    }
                };
                counts.rows += (n - refused.len()) as u64;
                counts.dead_lettered += refused.len() as u64;
                dead_letter_rows(&mut self.dead_letter, &stage, &rows, refused)?;
            }
            self.summary.rows_out += rows.num_rows() as u64;
        }
        Ok(())
    }

    /// Feeds rows to the window; late and untimed rows go where the policy says.
    fn window_batch(&mut self, rows: Envelope) -> Result<Option<Envelope>, PipelineError> {
        let window = self.window.as_mut().expect("called with a window");
        // Files and the generator are one partition; Kafka brings more.
        let out = window
            .process(&rows.data, 0, Instant::now())
            .map_err(PipelineError::Aggregate)?;
        let watermark = window.watermark();
        let policy = window.late_policy;
        let counts = self.summary.window.as_mut().expect("a window has counts");
        counts.rows_in += rows.num_rows() as u64;
        counts.untimed += out.untimed.len() as u64;
        let late = out.late.len() as u64;
        match policy {
            LatePolicy::Drop => counts.late_dropped += late,
            LatePolicy::DeadLetter => counts.late_dead_lettered += late,
        }
        counts.aggregated += rows.num_rows() as u64 - late - out.untimed.len() as u64;
        // Late and untimed rows go to the dead-letter in input order.
        let mut refused: Vec<(usize, String)> = out
            .untimed
            .iter()
            .map(|&row| {
                (
                    row,
                    "the row has no event time (its time column is null)".to_string(),
                )
            })
            .collect();
        if policy == LatePolicy::DeadLetter {
            let shown = watermark.map(show_time).unwrap_or_default();
            refused.extend(out.late.iter().map(|&(row, t)| {
                (row, format!("late: event time {} is behind the watermark {shown}; its windows have closed", show_time(t)))
            }));
        }
        refused.sort_by_key(|(row, _)| *row);
        dead_letter_rows(&mut self.dead_letter, "window", &rows, refused)?;
        Ok(self.aggregate_rows(out.rows))
    }

    /// Aggregate rows as an envelope: their origin is the window.
    fn aggregate_rows(&mut self, rows: Option<RecordBatch>) -> Option<Envelope> {
        let rows = rows?;
        let n = rows.num_rows();
        if let Some(counts) = &mut self.summary.window {
            counts.rows_out += n as u64;
        }
        let offsets = (self.emitted..self.emitted + n as i64).collect();
        self.emitted += n as i64;
        Some(Envelope::new(rows, vec!["window"; n], offsets))
    }

    fn dead_letter(&mut self, letter: &DeadLetter) -> Result<(), PipelineError> {
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .write(letter)
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })
    }
}

/// Runs a chain of transforms; `None` if no row survives it.
fn run_chain(
    plugins: &mut [TransformPlugin],
    counts: &mut [TransformCounts],
    dead_letter: &mut DeadLetterWriter,
    mut rows: Envelope,
) -> Result<Option<Envelope>, PipelineError> {
    for (plugin, counts) in plugins.iter_mut().zip(counts.iter_mut()) {
        let n = rows.num_rows();
        if n == 0 {
            return Ok(None);
        }
        counts.rows_in += n as u64;
        let stage = format!("transform:{}", plugin.name());
        match plugin.process(&rows.data) {
            BatchOutcome::Processed {
                output,
                selection,
                rejections,
            } => {
                counts.record(n, &selection, rejections.len());
                let rejected = rejections
                    .into_iter()
                    .map(|(row, reason)| (row as usize, reason))
                    .collect();
                dead_letter_rows(dead_letter, &stage, &rows, rejected)?;
                rows = rows.derive(output, &selection);
            }
            BatchOutcome::Failed { reason } => {
                tracing::warn!(transform = %plugin.name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                let all = (0..n).map(|row| (row, reason.clone())).collect();
                dead_letter_rows(dead_letter, &stage, &rows, all)?;
                counts.failed_batches += 1;
                counts.dead_lettered += n as u64;
                return Ok(None);
            }
        }
    }
    Ok((rows.num_rows() > 0 || plugins.is_empty()).then_some(rows))
}

/// Writes rows of `rows` (by index, with reasons) to the dead-letter, each
/// with its origin and the row as it entered `stage`.
fn dead_letter_rows(
    writer: &mut DeadLetterWriter,
    stage: &str,
    rows: &Envelope,
    refused: Vec<(usize, String)>,
) -> Result<(), PipelineError> {
    if refused.is_empty() {
        return Ok(());
    }
    let indices = UInt32Array::from_iter_values(refused.iter().map(|(row, _)| *row as u32));
    let inputs =
        rows_as_json(&take_record_batch(&rows.data, &indices).expect("rows index this batch"));
    for ((row, reason), input) in refused.into_iter().zip(inputs) {
        let (source, offset) = rows.origin(row);
        let letter = DeadLetter {
            stage: stage.to_string(),
            reason,
            source: source.to_string(),
            offset,
            input,
        };
        writer
            .write(&letter)
            .map_err(|error| PipelineError::DeadLetterWrite {
                target: writer.target.clone(),
                error,
            })?;
    }
    Ok(())
}

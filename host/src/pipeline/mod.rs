//! A pipeline: source → transforms → window → after-window transforms →
//! sinks, with every refused row sent to the dead-letter. Planning (load
//! plugins, type-check schemas) is separate from running, so `weir check`
//! does all of it without writing anything.

mod epoch;
mod restart;

use crate::checkpoint::{self, Recovery, Store};
use crate::config::{self, ErrorPolicy, Grant, LatePolicy, PipelineConfig, TransformConfig};
use crate::dead_letter::{DeadLetter, DeadLetterWriter, rows_as_json};
use crate::envelope::Envelope;
use crate::observe::status::{PluginStatus, StatusBoard};
use crate::observe::summary::{RunSummary, SinkCounts, TransformCounts, WindowCounts};
use crate::runtime::{
    BatchOutcome, PluginError, PluginLimits, PluginSettings, Runtime, SinkOutcome, TransformPlugin,
};
use crate::sink::{self, OpenSink, PlannedSink, SinkError};
use crate::source::{self, RunMode, Source, SourceError};
use crate::transform::{ReloadRequest, TransformSlot};
use crate::window::{WindowOperator, show_time};
use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::SchemaRef;
use std::sync::mpsc;
use std::time::{Duration, Instant};

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
    #[error(
        "stopped by a signal during {stage}'s call ({reason}); the epoch in progress was \
         abandoned: with [checkpoint] its records are read again at the next start"
    )]
    Interrupted { stage: String, reason: String },
    #[error("stopped: transform `{plugin}` failed a batch and its `on_error` is `stop`: {reason}")]
    Stopped { plugin: String, reason: String },
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

/// A pipeline whose plugins are loaded and whose schemas line up; nothing
/// has been read or written yet.
pub struct Plan {
    pub config: PipelineConfig,
    file: String,
    flush: bool,
    mode: RunMode,
    source: Box<dyn Source>,
    transforms: Vec<TransformSlot>,
    window: Option<WindowOperator>,
    after_window: Vec<TransformSlot>,
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
) -> Result<Vec<TransformSlot>, PipelineError> {
    let mut plugins = Vec::new();
    for (index, t) in configs.iter().enumerate() {
        let settings = PluginSettings {
            config: config::plugin_config(t).expect("validated when the file was loaded"),
            limits: PluginLimits {
                timeout: std::time::Duration::from_millis(t.timeout_ms),
                memory: (t.memory_limit_mb as usize).saturating_mul(1 << 20),
                max_output_rows: t.max_output_rows,
                max_rejected: t.max_rejected_per_batch,
                state: (t.state_limit_mb as usize).saturating_mul(1 << 20),
            },
            clock: t.grants.contains(&Grant::Clock),
            on_error: t.on_error,
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
        plugins.push(TransformSlot::new(plugin));
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
            source::build(&config.source, mode.clone()).map_err(|error| PipelineError::Source {
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
            mode,
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

    /// Finds where to resume (with checkpoints), then opens the sinks and
    /// the dead-letter: from here on, files are written.
    pub fn open(self) -> Result<Pipeline, PipelineError> {
        let output = self
            .schemas
            .last()
            .expect("at least the source schema")
            .clone();
        let store_error = |error| PipelineError::Checkpoint {
            file: self.file.clone(),
            error,
        };
        let (store, recovery) = match &self.config.checkpoint {
            None => (None, Recovery::default()),
            Some(c) => {
                let location = c.location.as_deref().expect("defaulted when loaded");
                let store =
                    Store::open(location, std::path::Path::new(".")).map_err(store_error)?;
                let recovery = checkpoint::recover(&store).map_err(store_error)?;
                (Some(store), recovery)
            }
        };
        let rewind = crate::checkpoint::Rewind::from_base(recovery.base.as_ref());
        let dead_letter = DeadLetterWriter::open(&self.config.dead_letter, rewind.dead_letter())
            .map_err(|error| PipelineError::DeadLetter {
                file: self.file.clone(),
                target: format!("{:?}", self.config.dead_letter),
                error,
            })?;
        let counts = |plugins: &[TransformSlot]| {
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
        let interval = match &self.config.checkpoint {
            Some(c) => c.interval_ms().expect("validated when loaded"),
            None => config::DEFAULT_INTERVAL_MS,
        };
        let keep = self.config.checkpoint.as_ref().map_or(2, |c| c.keep);
        let epoch_start = self.source.position();
        let file = self.file;
        let mut pipeline = Pipeline {
            source: self.source,
            source_config: self.config.source.clone(),
            mode: self.mode,
            transforms: self.transforms,
            window: self.window,
            after_window: self.after_window,
            runtime: self.runtime,
            planned: self.sinks,
            output,
            sinks: Vec::new(),
            dead_letter,
            summary,
            flush,
            emitted: 0,
            board: StatusBoard::default(),
            reloads: None,
            epoch: 1,
            epochs: epoch::Epochs {
                store,
                keep,
                interval: Duration::from_millis(interval),
                started: Instant::now(),
                start: epoch_start,
                batches: Vec::new(),
                replay: None,
                replaying: false,
                origin: None,
                commits: 0,
                rewind,
            },
        };
        // What a restart goes back to when no checkpoint is written yet.
        pipeline.epochs.origin = Some(pipeline.snapshot(0));
        // A fresh run's files start empty: going back to its start empties
        // them again.
        if let Some(origin) = &mut pipeline.epochs.origin {
            origin.files = Some(crate::checkpoint::FileMarks::default());
        }
        pipeline.resume(recovery).map_err(|e| match e {
            PipelineError::Read(error) => PipelineError::Source {
                file: file.clone(),
                error,
            },
            other => other,
        })?;
        pipeline
            .open_sinks()
            .map_err(|(index, error)| PipelineError::SinkSchema { file, index, error })?;
        Ok(pipeline)
    }
}

/// A running pipeline.
pub struct Pipeline {
    source: Box<dyn Source>,
    /// To build the source again when a failed epoch is retried.
    source_config: config::SourceConfig,
    mode: RunMode,
    transforms: Vec<TransformSlot>,
    window: Option<WindowOperator>,
    after_window: Vec<TransformSlot>,
    runtime: Runtime,
    /// The sinks as planned (to open them again after a failure), and open.
    planned: Vec<PlannedSink>,
    output: SchemaRef,
    sinks: Vec<OpenSink>,
    dead_letter: DeadLetterWriter,
    summary: RunSummary,
    /// Close every window at the end of the run.
    flush: bool,
    /// Aggregate rows emitted so far: their `_offset`.
    emitted: i64,
    /// What the admin server shows, published at every batch boundary.
    board: StatusBoard,
    /// Reloads asked for, applied at the next batch boundary.
    reloads: Option<mpsc::Receiver<ReloadRequest>>,
    /// The sinks' current epoch: what they write until the next commit.
    epoch: u64,
    /// When the epoch ends, what it read, where checkpoints go.
    epochs: epoch::Epochs,
}

impl Pipeline {
    /// Runs until the source ends (a bounded run) or is stopped, ending an
    /// epoch every interval and a last one at the end, then flushes the
    /// dead-letter. If anything fails, the sinks abort the current epoch:
    /// nothing of it is committed (a restart replays it).
    pub fn run(mut self) -> Result<RunSummary, PipelineError> {
        let processed = self.process_with_retries();
        let stopped = match processed {
            Ok(()) => None,
            // A plugin whose policy is to stop: what came before it is
            // whole, so it is committed, and the run ends with the reason.
            Err(e @ PipelineError::Stopped { .. }) => Some(e),
            Err(e) => {
                self.abort_epoch();
                self.publish("stopped");
                return Err(e);
            }
        };
        self.end_epoch()?;
        for sink in &mut self.sinks {
            sink.close()
                .map_err(|e| PipelineError::Write(SinkError::Plugin(Box::new(e))))?;
        }
        let target = self.dead_letter.target.clone();
        self.dead_letter
            .flush()
            .map_err(|error| PipelineError::DeadLetterWrite { target, error })?;
        self.summary.dead_lettered = self.dead_letter.written;
        self.source.close().map_err(PipelineError::Read)?;
        self.publish("stopped");
        match stopped {
            Some(e) => Err(e),
            None => Ok(self.summary),
        }
    }

    /// Reads and processes until the source ends; at its end, closes every
    /// window if the input is complete.
    fn process(&mut self) -> Result<(), PipelineError> {
        self.publish("running");
        while let Some(batch) = self.source.next_batch().map_err(PipelineError::Read)? {
            // A batch boundary: the batch before is done everywhere.
            if batch.records() == 0 {
                // An idle source's heartbeat: a reload or an epoch may be due.
                self.apply_reloads();
                self.after_batch(None)?;
                continue;
            }
            // Not in a replayed epoch: its batches must meet the same builds.
            if self.epochs.replay.is_none() {
                self.apply_reloads();
            }
            let mark = batch.mark();
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
                (Some(_), Some(rows)) => self.window_batch(rows, batch.partition)?,
                (Some(_), None) => None,
            };
            if let Some(rows) = rows {
                self.finish(rows)?;
            }
            self.publish("running");
            self.after_batch(Some(mark))?;
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
        for request in requests {
            let slot = self
                .transforms
                .iter_mut()
                .chain(self.after_window.iter_mut())
                .find(|s| s.name() == request.plugin);
            let answer = match slot {
                Some(slot) => slot.reload(&self.runtime, &request.component, request.version),
                None => Err(format!(
                    "no transform `{}` in this pipeline",
                    request.plugin
                )),
            };
            // The requester may have given up waiting; the reload stands.
            let _ = request.reply.send(answer);
        }
        if !self.transforms.is_empty() || !self.after_window.is_empty() {
            self.publish("running");
        }
    }

    /// Publishes counts, plugin versions and reload events to the board.
    fn publish(&mut self, state: &str) {
        let mut events = Vec::new();
        let mut plugins = Vec::new();
        for (stage, slots) in [
            ("transforms", &mut self.transforms),
            ("after_window", &mut self.after_window),
        ] {
            for slot in slots.iter_mut() {
                events.extend(slot.take_events());
                plugins.push(PluginStatus {
                    name: slot.name().to_string(),
                    stage,
                    version: slot.plugin().version().clone(),
                    stats: slot.plugin().stats(),
                    probation_batches_left: slot.probation_left(),
                });
            }
        }
        for event in events {
            self.board.record(event);
        }
        let summary = &self.summary;
        let watermark = self
            .window
            .as_ref()
            .and_then(|w| w.watermark())
            .map(show_time);
        self.board.publish(|s| {
            s.pipeline = summary.pipeline.clone();
            s.state = state.to_string();
            s.batches = summary.batches;
            s.records_read = summary.records_read;
            s.rows_out = summary.rows_out;
            s.dead_lettered = self.dead_letter.written;
            s.watermark = watermark;
            s.plugins = plugins;
        });
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
    fn window_batch(
        &mut self,
        rows: Envelope,
        partition: i32,
    ) -> Result<Option<Envelope>, PipelineError> {
        let window = self.window.as_mut().expect("called with a window");
        // A watermark per source partition (files and the generator are one).
        let out = window
            .process(&rows.data, partition, Instant::now())
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
    plugins: &mut [TransformSlot],
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
            // A stop interrupted the call: the batch is abandoned with its
            // epoch, not dead-lettered (a restart reads it again).
            BatchOutcome::Failed { reason } if crate::runtime::stopping() => {
                return Err(PipelineError::Interrupted {
                    stage: format!("transform `{}`", plugin.name()),
                    reason,
                });
            }
            BatchOutcome::Failed { reason } => {
                tracing::warn!(transform = %plugin.name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                let all = (0..n).map(|row| (row, reason.clone())).collect();
                dead_letter_rows(dead_letter, &stage, &rows, all)?;
                counts.failed_batches += 1;
                counts.dead_lettered += n as u64;
                if plugin.on_error() == ErrorPolicy::Stop {
                    return Err(PipelineError::Stopped {
                        plugin: plugin.name().to_string(),
                        reason,
                    });
                }
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

//! Planning a pipeline: build the source, load every plugin, type-check
//! each stage's schema against the next, and make the chain of operators.
//! Nothing is read or written yet, so `weir check` does all of it safely.

use super::chain::Chain;
use super::{Pipeline, PipelineError};
use crate::checkpoint::{self, Barrier, Coordinator, Recovery, Store};
use crate::config::{self, Grant, PipelineConfig, TransformConfig};
use crate::dead_letter::DeadLetterWriter;
use crate::join::JoinStage;
use crate::join::granted::{GrantedTables, TablesStage};
use crate::join::interval::IntervalJoin;
use crate::observe::epochs::EpochJournal;
use crate::observe::letters::LetterLog;
use crate::observe::status::{SinkBuild, StatusBoard};
use crate::observe::summary::RunSummary;
use crate::operator::Operator;
use crate::runtime::{PluginSettings, Runtime, TableGrants, Tables, TransformPlugin};
use crate::sink::{self, SinkFanOut};
use crate::source::{self, MergedSource, RunMode, Source};
use crate::transform::{TransformSlot, TransformStage};
use crate::window::{WindowOperator, WindowStage};
use arrow::datatypes::SchemaRef;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The pipeline's tables, as transforms granted them share them.
type SharedTables = Arc<Mutex<dyn Tables>>;

/// A pipeline whose plugins are loaded and whose schemas line up; nothing
/// has been read or written yet.
pub struct Plan {
    pub config: PipelineConfig,
    file: String,
    mode: RunMode,
    source: Box<dyn Source>,
    /// What the source was built from, to build it again on a restart.
    source_config: Vec<config::NamedSource>,
    operators: Vec<Box<dyn Operator>>,
    runtime: Runtime,
    /// The schema of each stage's output, the source's first; the last is
    /// what the sinks receive. [`Plan::stages`] names them.
    pub schemas: Vec<SchemaRef>,
    stages: Vec<String>,
    /// The build each sink runs, for the status board.
    sink_builds: Vec<SinkBuild>,
}

/// The stages planned so far, the source's first: each one's name (as
/// `weir check` shows it), output schema and operator, added together.
struct Stages {
    names: Vec<String>,
    schemas: Vec<SchemaRef>,
    operators: Vec<Box<dyn Operator>>,
}

impl Stages {
    /// Stages that start from `first`'s rows: the source's, or an
    /// interval join's.
    fn new(first: String, schema: SchemaRef) -> Self {
        Stages {
            names: vec![first],
            schemas: vec![schema],
            operators: Vec::new(),
        }
    }

    /// Stages that start from two sources joined: each source's rows (for
    /// `weir check` to show), then the join's, which the next stage receives.
    fn joined(sources: &[(String, SchemaRef)], join: String, schema: SchemaRef) -> Self {
        let mut names: Vec<String> = sources.iter().map(|(n, _)| format!("source {n}")).collect();
        let mut schemas: Vec<SchemaRef> = sources.iter().map(|(_, s)| s.clone()).collect();
        names.push(join);
        schemas.push(schema);
        Stages {
            names,
            schemas,
            operators: Vec::new(),
        }
    }

    /// What the next stage receives.
    fn output(&self) -> SchemaRef {
        self.schemas
            .last()
            .expect("the source schema is first")
            .clone()
    }

    fn push(&mut self, name: String, schema: SchemaRef, operator: Box<dyn Operator>) {
        self.names.push(name);
        self.schemas.push(schema);
        self.operators.push(operator);
    }
}

/// Loads a list of transforms (`transforms` or `after_window`) as
/// operators, each planned against the schema before it.
fn load_transforms(
    file: &str,
    list: &'static str,
    configs: &[TransformConfig],
    runtime: &Runtime,
    tables: Option<&SharedTables>,
    stages: &mut Stages,
) -> Result<(), PipelineError> {
    let label = match list {
        "after_window" => "after-window transform",
        _ => "transform",
    };
    for (index, t) in configs.iter().enumerate() {
        let settings = PluginSettings {
            config: config::plugin_config(t).expect("validated when the file was loaded"),
            limits: t.limits(),
            clock: t.grants.contains(&Grant::Clock),
            on_error: t.on_error,
            tables: tables
                .filter(|_| !t.tables.is_empty())
                .map(|tables| TableGrants {
                    granted: t.tables.clone(),
                    tables: tables.clone(),
                }),
        };
        let plugin = TransformPlugin::load(runtime, &t.name, &t.plugin, settings, stages.output())
            .map_err(|error| PipelineError::Plugin {
                file: file.to_string(),
                list,
                index,
                name: t.name.clone(),
                error: Box::new(error),
            })?;
        let schema = plugin.output_schema();
        let operator = TransformStage::new(TransformSlot::new(plugin), list);
        stages.push(format!("{label} {}", t.name), schema, Box::new(operator));
    }
    Ok(())
}

impl Plan {
    pub fn new(
        file: &str,
        config: PipelineConfig,
        runtime: &Runtime,
        mode: RunMode,
    ) -> Result<Plan, PipelineError> {
        let file = file.to_string();
        let source_error = |error| PipelineError::Source {
            file: file.clone(),
            error,
        };
        let named: Vec<config::NamedSource> =
            config.named_sources().into_iter().map(|(_, s)| s).collect();
        // Two sources are read as one, and joined before anything else.
        let (source, mut stages, head): (Box<dyn Source>, Stages, Option<IntervalJoin>) =
            match &config.interval_join {
                None => {
                    let source = source::build(&named, mode.clone()).map_err(source_error)?;
                    let stages = Stages::new("source".to_string(), source.schema());
                    (source, stages, None)
                }
                Some(j) => {
                    let merged = MergedSource::new(&named, mode.clone()).map_err(source_error)?;
                    let inputs = merged.schemas();
                    let join = IntervalJoin::new(j, &inputs).map_err(|message| {
                        PipelineError::IntervalJoin {
                            file: file.clone(),
                            message,
                        }
                    })?;
                    let name = format!("interval join {}", j.name);
                    let stages = Stages::joined(&inputs, name, join.output_schema());
                    (Box::new(merged), stages, Some(join))
                }
            };
        let tables = match config.tables.is_empty() {
            true => None,
            false => {
                let opened = GrantedTables::open(&config.tables, &config.connections).map_err(
                    |(table, message)| PipelineError::Table {
                        file: file.clone(),
                        table,
                        message,
                    },
                )?;
                Some(Arc::new(Mutex::new(opened)))
            }
        };
        let shared = tables.clone().map(|t| t as SharedTables);
        load_transforms(
            &file,
            "transforms",
            &config.transforms,
            runtime,
            shared.as_ref(),
            &mut stages,
        )?;
        for (index, j) in config.joins.iter().enumerate() {
            let join =
                JoinStage::new(j, &stages.output(), &config.connections).map_err(|message| {
                    PipelineError::Join {
                        file: file.clone(),
                        index,
                        message,
                    }
                })?;
            let schema = join.output_schema();
            stages.push(format!("join {}", j.name), schema, Box::new(join));
        }
        if let Some(w) = &config.window {
            let window = WindowOperator::new(w, &stages.output()).map_err(|message| {
                PipelineError::Window {
                    file: file.clone(),
                    message,
                }
            })?;
            let schema = window.output_schema();
            let operator = WindowStage::new(window, w);
            stages.push("window".to_string(), schema, Box::new(operator));
        }
        load_transforms(
            &file,
            "after_window",
            &config.after_window,
            runtime,
            shared.as_ref(),
            &mut stages,
        )?;
        let output = stages.output();
        let mut sinks = Vec::new();
        for (index, s) in config.sinks.iter().enumerate() {
            let error = |error| PipelineError::Sink {
                file: file.clone(),
                index,
                error,
            };
            sink::check(s, &output).map_err(error)?;
            sinks
                .push(sink::plan(s, &config.connections, &config.storage, runtime).map_err(error)?);
        }
        // The sinks are the last operator; their input is the last schema,
        // so they add no stage of their own to `weir check`'s list.
        let sink_builds = sinks
            .iter()
            .map(|s: &sink::PlannedSink| SinkBuild {
                name: s.name.clone(),
                kind: if s.version.path.starts_with("builtin:") {
                    s.version.path.clone()
                } else {
                    "plugin".to_string()
                },
                version: s.version.clone(),
            })
            .collect();
        let Stages {
            names,
            schemas,
            mut operators,
        } = stages;
        if let Some(join) = head {
            operators.insert(0, Box::new(join));
        }
        // The tables go first: a checkpoint then records the versions the
        // transforms after them looked keys up in.
        if let Some(tables) = tables {
            operators.insert(0, Box::new(TablesStage::new(tables)));
        }
        operators.push(Box::new(SinkFanOut::new(
            sinks,
            runtime.clone(),
            output,
            config.name(),
        )));
        Ok(Plan {
            config,
            file,
            mode,
            source,
            source_config: named,
            operators,
            runtime: runtime.clone(),
            schemas,
            stages: names,
            sink_builds,
        })
    }

    /// The name of each stage, matching [`Plan::schemas`].
    pub fn stages(&self) -> &[String] {
        &self.stages
    }

    /// Finds where to resume (with checkpoints), then opens the sinks and
    /// the dead-letter: from here on, files are written.
    pub fn open(self) -> Result<Pipeline, PipelineError> {
        let file = self.file;
        let store_error = |error| PipelineError::Checkpoint {
            file: file.clone(),
            error,
        };
        let (store, recovery) = match &self.config.checkpoint {
            None => (None, Recovery::default()),
            Some(c) => {
                let location = c.location.as_deref().expect("defaulted when loaded");
                let store = Store::open(location, &self.config.storage).map_err(store_error)?;
                let recovery = checkpoint::recover(&store).map_err(store_error)?;
                (Some(store), recovery)
            }
        };
        let rewind = checkpoint::Rewind::from_base(recovery.base.as_ref());
        let letters = LetterLog::default();
        let mut dead_letter = DeadLetterWriter::open(
            &self.config.dead_letter,
            self.config.name(),
            rewind.dead_letter(),
            letters.clone(),
        )
        .map_err(|error| PipelineError::DeadLetter {
            file: file.clone(),
            target: format!("{:?}", self.config.dead_letter),
            error,
        })?;
        let summary = RunSummary {
            pipeline: self.config.name().to_string(),
            source: self.source.describe(),
            dead_letter_target: dead_letter.target.clone(),
            ..RunSummary::default()
        };
        let interval = match &self.config.checkpoint {
            Some(c) => c.interval_ms().expect("validated when loaded"),
            None => config::DEFAULT_INTERVAL_MS,
        };
        let keep = self.config.checkpoint.as_ref().map_or(2, |c| c.keep);
        let mut source = self.source;
        let journal = EpochJournal::default();
        let mut coordinator = Coordinator::new(
            self.config.name(),
            store,
            keep,
            Duration::from_millis(interval),
            source.position(),
            journal.clone(),
        );
        let mut chain = Chain::new(self.operators);
        // What a restart goes back to when no checkpoint is written yet.
        coordinator.remember_origin(&mut Barrier {
            source: source.as_mut(),
            operators: chain.operators(),
            dead_letter: &mut dead_letter,
        });
        coordinator
            .resume(recovery, source.as_mut(), chain.operators())
            .map_err(|e| match PipelineError::from(e) {
                PipelineError::Read(error) => PipelineError::Source {
                    file: file.clone(),
                    error,
                },
                other => other,
            })?;
        let epoch = coordinator.epoch();
        let target = dead_letter.target.clone();
        dead_letter
            .begin_epoch(epoch)
            .map_err(|error| PipelineError::DeadLetter {
                file: file.clone(),
                target,
                error,
            })?;
        let checkpointed = coordinator.checkpointed();
        chain.start(epoch, checkpointed, &file)?;
        let board = StatusBoard::default();
        board.publish(|s| {
            s.sink_builds = self.sink_builds;
            s.checkpoints = journal;
            s.dead_letters = letters;
        });
        Ok(Pipeline {
            flush: self.mode.flush || source.bounded(),
            source,
            source_config: self.source_config,
            mode: self.mode,
            chain,
            runtime: self.runtime,
            dead_letter,
            coordinator,
            summary,
            board,
            reloads: None,
        })
    }
}

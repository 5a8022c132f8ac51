//! Planning a pipeline: build the source, load every plugin, type-check
//! each stage's schema against the next, and make the chain of operators.
//! Nothing is read or written yet, so `weir check` does all of it safely.

use super::chain::Chain;
use super::{Pipeline, PipelineError};
use crate::checkpoint::{self, Barrier, Coordinator, Recovery, Store};
use crate::config::{self, Grant, PipelineConfig, TransformConfig};
use crate::dead_letter::DeadLetterWriter;
use crate::observe::status::StatusBoard;
use crate::observe::summary::RunSummary;
use crate::operator::{Operator, OperatorError};
use crate::runtime::{PluginSettings, Runtime, TransformPlugin};
use crate::sink::{self, SinkError, SinkFanOut};
use crate::source::{self, RunMode, Source};
use crate::transform::{TransformSlot, TransformStage};
use crate::window::{WindowOperator, WindowStage};
use arrow::datatypes::SchemaRef;
use std::time::Duration;

/// A pipeline whose plugins are loaded and whose schemas line up; nothing
/// has been read or written yet.
pub struct Plan {
    pub config: PipelineConfig,
    file: String,
    mode: RunMode,
    source: Box<dyn Source>,
    operators: Vec<Box<dyn Operator>>,
    runtime: Runtime,
    /// The schema of each stage's output, the source's first; the last is
    /// what the sinks receive. [`Plan::stages`] names them.
    pub schemas: Vec<SchemaRef>,
    stages: Vec<String>,
}

/// Loads a list of transforms (`transforms` or `after_window`) as
/// operators, each planned against the schema before it.
fn load_transforms(
    file: &str,
    list: &'static str,
    configs: &[TransformConfig],
    runtime: &Runtime,
    schemas: &mut Vec<SchemaRef>,
    operators: &mut Vec<Box<dyn Operator>>,
) -> Result<(), PipelineError> {
    for (index, t) in configs.iter().enumerate() {
        let settings = PluginSettings {
            config: config::plugin_config(t).expect("validated when the file was loaded"),
            limits: t.limits(),
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
        operators.push(Box::new(TransformStage::new(
            TransformSlot::new(plugin),
            list,
        )));
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
        let source =
            source::build(&config.source, mode.clone()).map_err(|error| PipelineError::Source {
                file: file.clone(),
                error,
            })?;
        let mut schemas = vec![source.schema()];
        let mut stages = vec!["source".to_string()];
        let mut operators: Vec<Box<dyn Operator>> = Vec::new();
        load_transforms(
            &file,
            "transforms",
            &config.transforms,
            runtime,
            &mut schemas,
            &mut operators,
        )?;
        stages.extend(
            config
                .transforms
                .iter()
                .map(|t| format!("transform {}", t.name)),
        );
        if let Some(w) = &config.window {
            let input = schemas.last().expect("the source schema is first");
            let window =
                WindowOperator::new(w, input).map_err(|message| PipelineError::Window {
                    file: file.clone(),
                    message,
                })?;
            schemas.push(window.output_schema());
            stages.push("window".to_string());
            operators.push(Box::new(WindowStage::new(window, w)));
        }
        load_transforms(
            &file,
            "after_window",
            &config.after_window,
            runtime,
            &mut schemas,
            &mut operators,
        )?;
        stages.extend(
            config
                .after_window
                .iter()
                .map(|t| format!("after-window transform {}", t.name)),
        );
        let output = schemas.last().expect("at least the source schema").clone();
        let mut sinks = Vec::new();
        for (index, s) in config.sinks.iter().enumerate() {
            let error = |error| PipelineError::Sink {
                file: file.clone(),
                index,
                error,
            };
            sink::check(s, &output).map_err(error)?;
            sinks.push(sink::plan(s, &config.connections, runtime).map_err(error)?);
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
            operators,
            runtime: runtime.clone(),
            schemas,
            stages,
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
                let store =
                    Store::open(location, std::path::Path::new(".")).map_err(store_error)?;
                let recovery = checkpoint::recover(&store).map_err(store_error)?;
                (Some(store), recovery)
            }
        };
        let rewind = checkpoint::Rewind::from_base(recovery.base.as_ref());
        let mut dead_letter =
            DeadLetterWriter::open(&self.config.dead_letter, rewind.dead_letter()).map_err(
                |error| PipelineError::DeadLetter {
                    file: file.clone(),
                    target: format!("{:?}", self.config.dead_letter),
                    error,
                },
            )?;
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
        let mut coordinator = Coordinator::new(
            self.config.name(),
            store,
            keep,
            Duration::from_millis(interval),
            source.position(),
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
        let checkpointed = coordinator.checkpointed();
        for operator in chain.operators() {
            operator
                .on_start(epoch, checkpointed)
                .map_err(|e| match e {
                    OperatorError::SinkOpen { index, error } => PipelineError::Sink {
                        file: file.clone(),
                        index,
                        error: SinkError::Plugin(error),
                    },
                    other => other.into(),
                })?;
        }
        Ok(Pipeline {
            flush: self.mode.flush || source.bounded(),
            source,
            source_config: self.config.source.clone(),
            mode: self.mode,
            chain,
            runtime: self.runtime,
            dead_letter,
            coordinator,
            summary,
            board: StatusBoard::default(),
            reloads: None,
        })
    }
}

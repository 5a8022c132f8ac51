//! The `weir` command line: arguments parsed by clap, then validated and
//! dispatched. Errors are printed once, here, with everything they name.

use crate::config::{PipelineConfig, WindowKind, ddl};
use crate::pipeline::Plan;
use crate::runtime::{ComponentCache, PluginError, PluginInfo, Runtime, TransformPlugin, World};
use crate::source::RunMode;
use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about = "A stream processor whose transforms are sandboxed WebAssembly components."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a pipeline until stopped (Ctrl-C), or over what is available now.
    Run {
        pipeline: PathBuf,
        /// Process everything available at start, flush, and exit (like
        /// Spark's Trigger.AvailableNow).
        #[arg(long)]
        available_now: bool,
        /// At the end, take the input as complete: the watermark passes every
        /// window and all of them are emitted (a one-off batch run).
        #[arg(long)]
        flush: bool,
        /// Also write the run summary as JSON to this file.
        #[arg(long)]
        summary_json: Option<PathBuf>,
    },
    /// Parses and validates a pipeline, loads its plugins and type-checks its
    /// schemas, without reading or writing any record.
    Check { pipeline: PathBuf },
    /// Starts a new plugin project.
    New {
        #[command(subcommand)]
        command: NewCommand,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Benchmarks (run them on a release build).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum NewCommand {
    /// A transform plugin that builds and runs as written: source, build
    /// command, a sample pipeline and input, a README.
    Transform {
        name: String,
        #[arg(long, value_enum)]
        lang: crate::scaffold::Language,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Shows a component's world, contract version, imports and exports, and
    /// the schema it declares for an input schema.
    Inspect {
        /// A .wasm file, or a bundled sink (`builtin:postgres`, ...).
        plugin: PathBuf,
        /// Input columns in Spark DDL, e.g. "value STRING".
        #[arg(long)]
        input_schema: Option<String>,
        /// A config entry for the plugin's init, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Rows per second into a window, and peak memory; prints JSON.
    Window {
        #[arg(long, value_parser = ["tumbling", "sliding"], default_value = "tumbling")]
        kind: String,
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 10)]
        keys: usize,
        #[arg(long, default_value_t = 8192)]
        batch: usize,
    },
    /// Rows per second through one bundled sink, from in-memory batches;
    /// prints JSON (scripts/bench-sinks compares it with bulk loaders).
    Sink {
        /// A bundled sink, e.g. builtin:postgres.
        plugin: String,
        /// The database URL, for SQL sinks.
        #[arg(long)]
        url: Option<String>,
        /// The directory, for file sinks.
        #[arg(long)]
        directory: Option<PathBuf>,
        /// A config entry for the sink, KEY=VALUE (repeatable).
        #[arg(long = "config", value_name = "KEY=VALUE")]
        config: Vec<String>,
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 8192)]
        batch: usize,
    },
    /// Filter + uppercase natively and as a Wasm component; prints JSON.
    Transform {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 8192)]
        batch: usize,
        /// Runs to take the median of.
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Another component with the same logic (default: the bundled one).
        #[arg(long)]
        plugin: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new(ComponentCache::from_env())
        .map_err(|e| anyhow!("cannot start the Wasm runtime: {e}"))
}

fn plan(path: &Path, mode: RunMode) -> anyhow::Result<Plan> {
    let config = PipelineConfig::load(path)?;
    Ok(Plan::new(
        &path.display().to_string(),
        config,
        &runtime()?,
        mode,
    )?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            pipeline,
            available_now,
            flush,
            summary_json,
        } => {
            let stop = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
                signal_hook::flag::register(signal, stop.clone())
                    .context("cannot install the signal handler")?;
            }
            let plan = plan(
                &pipeline,
                RunMode {
                    available_now,
                    flush,
                    stop,
                },
            )?;
            tracing::info!(pipeline = %plan.config.name(), available_now, "Starting the pipeline.");
            let summary = plan.open()?.run()?;
            eprintln!("{summary}");
            if let Some(path) = summary_json {
                std::fs::write(&path, serde_json::to_vec_pretty(&summary)?)
                    .with_context(|| format!("cannot write the summary to {}", path.display()))?;
            }
            Ok(if summary.balanced() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Check { pipeline } => {
            let plan = plan(
                &pipeline,
                RunMode {
                    available_now: true,
                    flush: false,
                    stop: Arc::new(AtomicBool::new(false)),
                },
            )?;
            println!("{}: ok", pipeline.display());
            let stages = plan.stages();
            for (stage, schema) in stages.iter().zip(&plan.schemas) {
                println!("  {stage} → {}", show_schema(schema));
            }
            for s in &plan.config.sinks {
                println!("  sink {}", s.name());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin {
            command:
                PluginCommand::Inspect {
                    plugin,
                    input_schema,
                    config,
                },
        } => inspect(&plugin, input_schema.as_deref(), &config),
        Command::New {
            command: NewCommand::Transform { name, lang, dir },
        } => {
            let root = crate::scaffold::new_transform(lang, &name, &dir).map_err(|e| anyhow!(e))?;
            println!("created {} (see its README.md)", root.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Window {
                    kind,
                    rows,
                    keys,
                    batch,
                },
        } => {
            let kind = if kind == "sliding" {
                WindowKind::Sliding
            } else {
                WindowKind::Tumbling
            };
            let report =
                crate::bench::window::run(kind, rows, keys, batch).map_err(|e| anyhow!(e))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Sink {
                    plugin,
                    url,
                    directory,
                    config,
                    rows,
                    batch,
                },
        } => {
            let config = config
                .iter()
                .map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| anyhow!("--config takes KEY=VALUE"))?;
            let report = crate::bench::sink::run(&plugin, url, directory, config, rows, batch)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command:
                BenchCommand::Transform {
                    rows,
                    batch,
                    repeat,
                    plugin,
                },
        } => {
            let bytes = plugin
                .map(|p| std::fs::read(&p).with_context(|| format!("cannot read {}", p.display())))
                .transpose()?;
            let report =
                crate::bench::transform::run(rows, batch.max(1), repeat, bytes.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.outputs_equal {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}

fn inspect(path: &Path, input_schema: Option<&str>, config: &[String]) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let shown = path.display().to_string();
    let builtin = crate::sink::builtin::find(&shown).map_err(|e| anyhow!(e))?;
    let bytes = match builtin {
        Some(b) => b.component.to_vec(),
        None => {
            std::fs::read(path).with_context(|| format!("cannot read plugin {}", path.display()))?
        }
    };
    // A transform, or else a sink; neither is reported as a transform would be.
    let (world, component) = match runtime.load_world(&shown, &bytes, World::Transform) {
        Err(first @ PluginError::WrongWorld { .. }) => (
            World::Sink,
            runtime
                .load_world(&shown, &bytes, World::Sink)
                .map_err(|_| first)?,
        ),
        loaded => (World::Transform, loaded?),
    };
    let info = PluginInfo::read(&runtime.engine, &shown, &bytes, &component)?;
    let mut report = serde_json::to_value(&info)?;
    if let Some(b) = builtin {
        report["bundled"] = serde_json::json!({
            "about": b.about,
            "preset_config": { b.preset.0: b.preset.1 },
        });
    }
    if world == World::Sink && input_schema.is_some() {
        return Err(anyhow!(
            "--input-schema plans transforms; a sink is checked when its pipeline runs"
        ));
    }
    if let Some(ddl_text) = input_schema {
        let schema =
            Arc::new(ddl::parse_schema(ddl_text).map_err(|e| anyhow!("--input-schema: {e}"))?);
        let settings = config
            .iter()
            .map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| anyhow!("--config takes KEY=VALUE"))?;
        let plugin = TransformPlugin::from_component(
            &runtime, "inspect", &shown, &component, settings, schema,
        )?;
        report["input_schema"] = serde_json::Value::String(ddl_text.to_string());
        report["output_schema"] = serde_json::Value::String(show_schema(&plugin.output_schema()));
        report["reads"] = match plugin.projection() {
            None => serde_json::Value::String("all columns".to_string()),
            Some(p) => serde_json::json!(p),
        };
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

fn show_schema(schema: &arrow::datatypes::Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " NOT NULL" }
            )
        })
        .collect();
    columns.join(", ")
}

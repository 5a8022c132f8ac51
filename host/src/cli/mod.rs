//! The `weir` command line: arguments parsed by clap, then validated and
//! dispatched. Errors are printed once, here, with everything they name.

mod admin_client;
mod bench;
mod inspect;
mod logs;
mod paths;
mod run;
mod version;

use crate::config::PipelineConfig;
use crate::pipeline::Plan;
use crate::runtime::inspect::show_schema;
use crate::runtime::{ComponentCache, Runtime};
use crate::source::RunMode;
use anyhow::{Context, anyhow};
use clap::{CommandFactory, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

#[derive(Parser)]
#[command(
    name = "weir",
    version = version::text(),
    about = "A stream processor whose transforms are sandboxed WebAssembly components."
)]
struct Cli {
    #[command(flatten)]
    logs: logs::LogArgs,
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
        /// Where the admin server (status, metrics, reload) listens; port 0
        /// picks a free one, `off` runs none. `weir reload` and `weir status`
        /// find it through .weir/NAME/admin.addr beside the pipeline file.
        #[arg(long, default_value = "127.0.0.1:0")]
        admin: String,
        /// Reload a transform whenever its component file changes.
        #[arg(long)]
        watch: bool,
    },
    /// Runs a pipeline for development: whenever a plugin's source changes,
    /// its project is rebuilt (`cargo build --release` or `./build.sh`) and
    /// the new build hot-reloaded. Stop with Ctrl-C.
    Dev {
        pipeline: PathBuf,
        #[arg(long, default_value = "127.0.0.1:0")]
        admin: String,
    },
    /// Swaps a running pipeline's transform for another build (or its own
    /// file, rebuilt) at the next batch boundary, without a restart.
    Reload {
        pipeline: PathBuf,
        plugin: String,
        /// The new build; default: the path the pipeline file names.
        #[arg(long)]
        path: Option<PathBuf>,
        /// The admin server's address, if not the one the running pipeline
        /// wrote beside its file.
        #[arg(long)]
        admin: Option<String>,
    },
    /// Shows a running pipeline's status as JSON: counts, watermark, plugin
    /// versions and statistics, reloads.
    Status {
        pipeline: PathBuf,
        #[arg(long)]
        admin: Option<String>,
    },
    /// Parses and validates a pipeline, loads its plugins and type-checks its
    /// schemas, without reading or writing any record.
    Check { pipeline: PathBuf },
    /// Starts a new plugin project.
    New {
        #[command(subcommand)]
        command: NewCommand,
    },
    /// Builds the plugin project in DIR (default: here) into a component,
    /// with its own build command: `cargo build --release` or `./build.sh`.
    Build {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// What a pipeline's checkpoints hold.
    Checkpoints {
        #[command(subcommand)]
        command: CheckpointsCommand,
    },
    /// Plugin tools.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
    /// Benchmarks, run on a release build: `weir bench --help` lists them
    /// (they are the program weir-bench, built beside weir by
    /// `cargo build --release --workspace`).
    #[command(disable_help_flag = true)]
    Bench {
        /// The benchmark and its arguments, passed to weir-bench.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Prints a shell completion script: `weir completions bash >
    /// ~/.local/share/bash-completion/completions/weir`, or for zsh into a
    /// folder on $fpath as `_weir`, or for fish into
    /// ~/.config/fish/completions/weir.fish.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Subcommand)]
enum NewCommand {
    /// A transform plugin that builds and runs as written: source, build
    /// command, a sample pipeline and input, a README.
    Transform {
        name: String,
        #[arg(long, value_enum)]
        lang: crate::devtools::scaffold::Language,
        /// The folder to create it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum CheckpointsCommand {
    /// Every checkpoint: epoch, time, batches, state size, whether usable,
    /// and where a restart would resume.
    List { pipeline: PathBuf },
    /// One checkpoint as JSON (default: the newest usable): source
    /// positions, batches, state sizes, plugin versions.
    Inspect {
        pipeline: PathBuf,
        #[arg(long)]
        epoch: Option<u64>,
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = logs::init(&cli.logs) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new(ComponentCache::from_env())
        .map_err(|e| anyhow!("cannot start the Wasm runtime: {e}"))
}

pub(crate) fn plan(path: &Path, mode: RunMode) -> anyhow::Result<Plan> {
    let config = PipelineConfig::load(path)?;
    paths::check(path, &config)?;
    Ok(Plan::new(
        &path.display().to_string(),
        config,
        &runtime()?,
        mode,
    )?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Dev { pipeline, admin } => {
            let config = PipelineConfig::load(&pipeline)?;
            let projects = crate::devtools::dev::prepare(&config).map_err(|e| anyhow!(e))?;
            crate::devtools::dev::spawn(projects).context("cannot start the source watcher")?;
            run::run_pipeline(&pipeline, false, false, None, &admin, true)
        }
        Command::Run {
            pipeline,
            available_now,
            flush,
            summary_json,
            admin,
            watch,
        } => run::run_pipeline(&pipeline, available_now, flush, summary_json, &admin, watch),
        Command::Reload {
            pipeline,
            plugin,
            path,
            admin,
        } => {
            let url = admin_client::admin_url(&pipeline, admin)?;
            let body = crate::admin::ReloadBody {
                path: path.map(|p| std::path::absolute(&p).unwrap_or(p)),
            };
            let answer = admin_client::admin_call(
                admin_client::ureq_agent()
                    .post(format!("{url}/plugins/{plugin}/reload"))
                    .header("authorization", admin_client::bearer())
                    .send_json(&body),
                &url,
            )?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { pipeline, admin } => {
            let url = admin_client::admin_url(&pipeline, admin)?;
            let answer = admin_client::admin_call(
                admin_client::ureq_agent()
                    .get(format!("{url}/status"))
                    .header("authorization", admin_client::bearer())
                    .call(),
                &url,
            )?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
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
        Command::Checkpoints { command } => {
            match command {
                CheckpointsCommand::List { pipeline } => crate::checkpoint::show::list(&pipeline)?,
                CheckpointsCommand::Inspect { pipeline, epoch } => {
                    crate::checkpoint::show::inspect(&pipeline, epoch)?
                }
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
        } => inspect::inspect(&plugin, input_schema.as_deref(), &config),
        Command::New {
            command: NewCommand::Transform { name, lang, dir },
        } => {
            let root = crate::devtools::scaffold::new_transform(lang, &name, &dir)
                .map_err(|e| anyhow!(e))?;
            println!("created {} (see its README.md)", root.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { dir } => {
            crate::devtools::scaffold::build(&dir).map_err(|e| anyhow!(e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { args } => bench::run(&args),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "weir", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--config KEY=VALUE` arguments as pairs (also `weir-bench`'s).
pub fn config_pairs(config: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    config
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow!("--config takes KEY=VALUE"))
}

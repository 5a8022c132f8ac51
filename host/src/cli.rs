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

#[derive(Subcommand)]
enum BenchCommand {
    /// Throughput with a checkpoint every second against none, and the
    /// cost of checkpointing and restoring window state by size; prints JSON.
    Checkpoint {
        #[arg(long, default_value_t = 2_000_000)]
        rows: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Window groups of each state-size point (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000")]
        keys: Vec<usize>,
    },
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
    /// Hot reloads under load, alternating two builds; prints the stall per
    /// reload and checks each row was processed once, by one build.
    Reload {
        #[arg(long, default_value_t = 100)]
        reloads: usize,
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// Milliseconds between reloads.
        #[arg(long, default_value_t = 20)]
        interval_ms: u64,
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
    /// Kafka consume + decode (JSON, Avro) through a pass-through Wasm
    /// transform against a bare rdkafka consumer; prints JSON.
    /// scripts/bench-kafka starts a broker and a registry and runs it.
    Kafka {
        #[arg(long)]
        brokers: String,
        /// A Confluent-compatible schema registry (for the Avro half).
        #[arg(long)]
        registry: String,
        #[arg(long, default_value_t = 1_000_000)]
        messages: usize,
        #[arg(long, default_value_t = 3)]
        runs: usize,
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
        Command::Dev { pipeline, admin } => {
            let config = PipelineConfig::load(&pipeline)?;
            let mut projects = Vec::new();
            for t in config.transforms.iter().chain(&config.after_window) {
                match crate::dev::Project::of(&t.plugin) {
                    Some(project) => projects.push(project),
                    None => {
                        tracing::warn!(plugin = %t.name, path = %t.plugin.display(), "No project (build.sh or Cargo.toml) above this component: it is reloaded when the file changes, not rebuilt.")
                    }
                }
            }
            crate::dev::spawn(projects).context("cannot start the source watcher")?;
            run_pipeline(&pipeline, false, false, None, &admin, true)
        }
        Command::Run {
            pipeline,
            available_now,
            flush,
            summary_json,
            admin,
            watch,
        } => run_pipeline(&pipeline, available_now, flush, summary_json, &admin, watch),
        Command::Reload {
            pipeline,
            plugin,
            path,
            admin,
        } => {
            let url = admin_url(&pipeline, admin)?;
            let body = crate::admin::ReloadBody {
                path: path.map(|p| std::path::absolute(&p).unwrap_or(p)),
            };
            let answer = admin_call(
                ureq_agent()
                    .post(format!("{url}/plugins/{plugin}/reload"))
                    .header("authorization", bearer())
                    .send_json(&body),
                &url,
            )?;
            println!("{answer}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { pipeline, admin } => {
            let url = admin_url(&pipeline, admin)?;
            let answer = admin_call(
                ureq_agent()
                    .get(format!("{url}/status"))
                    .header("authorization", bearer())
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
        } => inspect(&plugin, input_schema.as_deref(), &config),
        Command::New {
            command: NewCommand::Transform { name, lang, dir },
        } => {
            let root = crate::scaffold::new_transform(lang, &name, &dir).map_err(|e| anyhow!(e))?;
            println!("created {} (see its README.md)", root.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Build { dir } => {
            crate::scaffold::build(&dir).map_err(|e| anyhow!(e))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            command: BenchCommand::Checkpoint { rows, runs, keys },
        } => {
            let report =
                crate::bench::checkpoint::run(rows, runs, &keys).map_err(|e| anyhow!(e))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
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
                BenchCommand::Reload {
                    reloads,
                    batch,
                    interval_ms,
                },
        } => {
            let report = crate::bench::reload::run(
                reloads.max(1),
                batch.max(1),
                std::time::Duration::from_millis(interval_ms),
            )?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(
                if report.lost == 0 && report.duplicated == 0 && report.state_carried {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
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
            let config = config_pairs(&config)?;
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
        Command::Bench {
            command:
                BenchCommand::Kafka {
                    brokers,
                    registry,
                    messages,
                    runs,
                },
        } => {
            let report = crate::bench::kafka::run(&brokers, &registry, messages, runs)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
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
        let settings = config_pairs(config)?;
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

pub(crate) fn show_schema(schema: &arrow::datatypes::Schema) -> String {
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

/// Where a running pipeline writes its admin server's address.
fn pipeline_file_admin(pipeline: &Path, config: &PipelineConfig) -> PathBuf {
    pipeline
        .parent()
        .unwrap_or(Path::new("."))
        .join(".weir")
        .join(config.name())
        .join("admin.addr")
}

/// Removes the address file when the run ends.
struct AdminAddress(PathBuf);

impl Drop for AdminAddress {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Starts the admin server (unless `off`) and, with `--watch`, the file
/// watcher; writes the server's address beside the pipeline file.
fn start_admin(
    address_file: &Path,
    listen: &str,
    watch: bool,
    config: &PipelineConfig,
    pipeline: &mut crate::pipeline::Pipeline,
) -> anyhow::Result<Option<AdminAddress>> {
    if listen == "off" {
        anyhow::ensure!(
            !watch,
            "--watch reloads through the admin server; it cannot be `off`"
        );
        return Ok(None);
    }
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--admin {listen}: expected HOST:PORT (or `off`)"))?;
    let (board, reloads) = pipeline.control();
    let context = crate::admin::AdminContext {
        board,
        reloads,
        runtime: pipeline.runtime().clone(),
        token: std::env::var("WEIR_ADMIN_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let bound = crate::admin::start(addr, context.clone())?;
    tracing::info!(url = %format!("http://{bound}"), "Admin server listening.");
    if let Some(dir) = address_file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    std::fs::write(address_file, format!("http://{bound}\n"))
        .with_context(|| format!("cannot write {}", address_file.display()))?;
    if watch {
        let plugins = config
            .transforms
            .iter()
            .chain(&config.after_window)
            .map(|t| (t.name.clone(), t.plugin.clone()))
            .collect();
        crate::watch::spawn(context, plugins).context("cannot start the file watcher")?;
    }
    Ok(Some(AdminAddress(address_file.to_path_buf())))
}

fn admin_url(pipeline: &Path, admin: Option<String>) -> anyhow::Result<String> {
    if let Some(admin) = admin {
        return Ok(if admin.starts_with("http") {
            admin
        } else {
            format!("http://{admin}")
        });
    }
    let config = PipelineConfig::load(pipeline)?;
    let file = pipeline_file_admin(pipeline, &config);
    let url = std::fs::read_to_string(&file).with_context(|| {
        format!(
            "pipeline `{}` does not seem to be running: no {} (start it with `weir run`, or pass --admin)",
            config.name(),
            file.display()
        )
    })?;
    Ok(url.trim().to_string())
}

fn ureq_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn bearer() -> String {
    format!(
        "Bearer {}",
        std::env::var("WEIR_ADMIN_TOKEN").unwrap_or_default()
    )
}

/// The body of a successful admin answer; an error with the server's message otherwise.
fn admin_call(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> anyhow::Result<String> {
    let mut response =
        response.with_context(|| format!("cannot reach the admin server at {url}"))?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    anyhow::ensure!(status.is_success(), "{} ({status})", body.trim());
    Ok(body.trim().to_string())
}

/// `weir run` (and `weir dev`): plans, opens, serves the admin API, runs.
fn run_pipeline(
    pipeline_arg: &Path,
    available_now: bool,
    flush: bool,
    summary_json: Option<PathBuf>,
    admin: &str,
    watch: bool,
) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handler")?;
    }
    let plan = plan(
        pipeline_arg,
        RunMode {
            available_now,
            flush,
            stop,
        },
    )?;
    tracing::info!(pipeline = %plan.config.name(), available_now, "Starting the pipeline.");
    let config = plan.config.clone();
    let mut pipeline = plan.open()?;
    let _admin = start_admin(
        &pipeline_file_admin(pipeline_arg, &config),
        admin,
        watch,
        &config,
        &mut pipeline,
    )?;
    let summary = pipeline.run()?;
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

/// `--config KEY=VALUE` arguments as pairs.
fn config_pairs(config: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    config
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| anyhow!("--config takes KEY=VALUE"))
}

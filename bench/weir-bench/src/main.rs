//! `weir-bench`: the benchmark commands behind `weir bench …`, each printing
//! a JSON report. A program of its own so that the release `weir` carries
//! neither the benchmarks nor the test guests they embed; `weir bench`
//! forwards here when this binary sits beside it.

mod checkpoint;
mod kafka;
mod reload;
mod sink;
mod transform;
mod window;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use weir::cli::config_pairs;
use weir::config::WindowKind;

/// The bytes of a test guest that host/build.rs built into target/plugins
/// (the plugin workspace always builds there, whatever CARGO_TARGET_DIR is).
#[macro_export]
macro_rules! guest {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/plugins/wasm32-wasip2/release/",
            $name,
            ".wasm"
        ))
    };
}

#[derive(Parser)]
#[command(
    name = "weir bench",
    version,
    about = "weir's benchmarks: speed on a release build, each printed as JSON; never asserted by tests."
)]
struct Cli {
    #[command(subcommand)]
    command: BenchCommand,
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
        /// Writes the rows in this many epochs, as a checkpointed pipeline
        /// does (the sink is told its first epoch; each epoch is
        /// pre-committed and committed). Without it: one epoch, no
        /// checkpoints.
        #[arg(long)]
        epochs: Option<usize>,
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

fn run(command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Checkpoint { rows, runs, keys } => {
            let report = crate::checkpoint::run(rows, runs, &keys).map_err(|e| anyhow!(e))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Window {
            kind,
            rows,
            keys,
            batch,
        } => {
            let kind = if kind == "sliding" {
                WindowKind::Sliding
            } else {
                WindowKind::Tumbling
            };
            let report = crate::window::run(kind, rows, keys, batch).map_err(|e| anyhow!(e))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Reload {
            reloads,
            batch,
            interval_ms,
        } => {
            let report = crate::reload::run(
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
        BenchCommand::Sink {
            plugin,
            url,
            directory,
            config,
            rows,
            batch,
            epochs,
        } => {
            let config = config_pairs(&config)?;
            let report = crate::sink::run(&plugin, url, directory, config, rows, batch, epochs)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Transform {
            rows,
            batch,
            repeat,
            plugin,
        } => {
            let bytes = plugin
                .map(|p| std::fs::read(&p).with_context(|| format!("cannot read {}", p.display())))
                .transpose()?;
            let report = crate::transform::run(rows, batch.max(1), repeat, bytes.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(if report.outputs_equal {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        BenchCommand::Kafka {
            brokers,
            registry,
            messages,
            runs,
        } => {
            let report = crate::kafka::run(&brokers, &registry, messages, runs)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The process's peak resident memory (VmHWM), in MiB, where Linux reports it.
fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

//! `weir bench checkpoint`: what checkpoints cost. Throughput of a whole
//! pipeline (generator → window → Parquet) with a checkpoint every second
//! against none, and, for window state of growing size, how long taking,
//! writing, reading and restoring a checkpoint takes (a restart pays the
//! last two before its first record).

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;
use weir::checkpoint::{Checkpoint, OperatorSnapshot, StateTable, Store};
use weir::config::{PipelineConfig, WindowKind};
use weir::operator::{Operator, StateTables};
use weir::pipeline::Plan;
use weir::runtime::Runtime;
use weir::source::{Position, RunMode};
use weir::window::{WindowOperator, WindowStage};

#[derive(Debug, Serialize)]
pub struct CheckpointBench {
    pub rows: usize,
    /// Rows/s of each run, alternating off and on.
    pub off_rows_per_s: Vec<f64>,
    pub on_rows_per_s: Vec<f64>,
    /// Median on / median off.
    pub ratio: f64,
    pub state: Vec<StateCost>,
}

#[derive(Debug, Serialize)]
pub struct StateCost {
    pub keys: usize,
    pub state_mib: f64,
    /// Serialising the window state.
    pub snapshot_ms: f64,
    /// Encoding, checksum, write, fsync, rename.
    pub write_ms: f64,
    /// Reading and checking the file.
    pub read_ms: f64,
    /// Rebuilding the window from it.
    pub restore_ms: f64,
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn pipeline_text(rows: usize, checkpoint: bool) -> String {
    let checkpoint = if checkpoint {
        "[checkpoint]\ninterval = \"1s\"\n"
    } else {
        ""
    };
    format!(
        r#"
name = "bench"
[source]
type = "generator"
count = {rows}
users = 10000
batch_size = 8192

[window]
type = "tumbling"
size = "1 minute"
time = "event_time"
watermark = "10 seconds"
group_by = ["user_id"]
aggregates = ["count(*) AS n"]

[[sinks]]
name = "lake"
plugin = "builtin:parquet"
directory = "out"

{checkpoint}"#
    )
}

/// One run of the pipeline; rows per second.
fn throughput(runtime: &Runtime, rows: usize, checkpoint: bool) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().join("bench.toml");
    std::fs::write(&path, pipeline_text(rows, checkpoint)).map_err(|e| e.to_string())?;
    let config = PipelineConfig::load(&path).map_err(|e| e.to_string())?;
    let mode = RunMode {
        available_now: true,
        flush: true,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let started = Instant::now();
    let plan = Plan::new("bench.toml", config, runtime, mode).map_err(|e| e.to_string())?;
    plan.open()
        .and_then(|p| p.run())
        .map_err(|e| e.to_string())?;
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Window state for `keys` groups, checkpointed and restored.
fn state_cost(keys: usize) -> Result<StateCost, String> {
    let config = super::window::config(WindowKind::Tumbling, "1 day");
    let input = super::window::batches(keys, keys, 8192);
    let mut window = WindowOperator::new(&config, &input[0].schema())?;
    for b in &input {
        window.process(b, 0, Instant::now())?;
    }
    let mut stage = WindowStage::new(window, &config);
    let started = Instant::now();
    let (build, tables) = stage.snapshot().expect("a window keeps state");
    let snapshot_ms = started.elapsed().as_secs_f64() * 1e3;
    let checkpoint = Checkpoint {
        pipeline: "bench".into(),
        epoch: 1,
        taken_at_ms: 0,
        start: Position::Generator {
            emitted: 0,
            word_pos: 0,
        },
        end: Position::Generator {
            emitted: 0,
            word_pos: 0,
        },
        batches: Vec::new(),
        operators: vec![OperatorSnapshot {
            name: stage.name().to_string(),
            build,
            tables: tables
                .into_iter()
                .map(|(name, bytes)| (name, StateTable(bytes)))
                .collect(),
        }],
        files: None,
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let store = Store::open(&dir.path().display().to_string(), &Default::default())
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    store.write(&checkpoint).map_err(|e| e.to_string())?;
    let write_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let back = store.read(1)?;
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    let mut restored = WindowStage::new(WindowOperator::new(&config, &input[0].schema())?, &config);
    let tables: StateTables = back.operators[0]
        .tables
        .iter()
        .map(|(name, table)| (name.clone(), table.0.clone()))
        .collect();
    restored.restore(None, &tables).map_err(|e| e.to_string())?;
    let restore_ms = started.elapsed().as_secs_f64() * 1e3;
    Ok(StateCost {
        keys,
        state_mib: back.state_bytes() as f64 / (1 << 20) as f64,
        snapshot_ms,
        write_ms,
        read_ms,
        restore_ms,
    })
}

pub fn run(rows: usize, runs: usize, keys: &[usize]) -> Result<CheckpointBench, String> {
    let runtime =
        Runtime::new(weir::runtime::ComponentCache::from_env()).map_err(|e| e.to_string())?;
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        off.push(throughput(&runtime, rows, false)?);
        on.push(throughput(&runtime, rows, true)?);
    }
    let mut state = Vec::new();
    for &k in keys {
        state.push(state_cost(k)?);
    }
    Ok(CheckpointBench {
        rows,
        ratio: median(&on) / median(&off),
        off_rows_per_s: off,
        on_rows_per_s: on,
        state,
    })
}

//! `weir bench window`: rows per second into a tumbling or sliding window
//! with a given number of distinct keys, and the process's peak memory. Run
//! one configuration per process: peak memory is per process.

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;
use weir::config::{LatePolicy, OutputMode, WindowConfig, WindowKind};
use weir::window::WindowOperator;

#[derive(Debug, Serialize)]
pub struct WindowBench {
    pub kind: String,
    pub rows: usize,
    pub keys: usize,
    pub batch: usize,
    pub rows_per_s: f64,
    pub rows_out: usize,
    pub peak_memory_mib: Option<f64>,
}

/// The benchmarks' window: `size` by `t`, grouped by `k`, three aggregates.
pub(super) fn config(kind: WindowKind, size: &str) -> WindowConfig {
    WindowConfig {
        kind,
        size: Some(size.into()),
        slide: (kind == WindowKind::Sliding).then(|| "15 seconds".into()),
        gap: None,
        time: Some("t".into()),
        watermark: "10 seconds".into(),
        idle_timeout: None,
        group_by: vec!["k".into()],
        aggregates: vec![
            "count(*) AS n".into(),
            "sum(v) AS total".into(),
            "max(v) AS top".into(),
        ],
        output: OutputMode::Append,
        late: LatePolicy::Drop,
    }
}

/// Rows one millisecond apart, keys round-robin, `batch` rows per batch.
pub(super) fn batches(rows: usize, keys: usize, batch: usize) -> Vec<RecordBatch> {
    (0..rows)
        .step_by(batch)
        .map(|start| {
            let n = batch.min(rows - start);
            let ids = start as i64..(start + n) as i64;
            let columns: Vec<(&str, ArrayRef)> = vec![
                (
                    "t",
                    Arc::new(
                        TimestampMicrosecondArray::from_iter_values(ids.clone().map(|i| i * 1_000))
                            .with_timezone("UTC"),
                    ),
                ),
                (
                    "k",
                    Arc::new(Int64Array::from_iter_values(
                        ids.clone().map(|i| i % keys as i64),
                    )),
                ),
                (
                    "v",
                    Arc::new(Float64Array::from_iter_values(
                        ids.map(|i| (i % 1000) as f64),
                    )),
                ),
            ];
            RecordBatch::try_from_iter(columns).expect("columns of one length")
        })
        .collect()
}

pub fn run(
    kind: WindowKind,
    rows: usize,
    keys: usize,
    batch: usize,
) -> Result<WindowBench, String> {
    let config = config(kind, "1 minute");
    let input = batches(rows, keys.max(1), batch.max(1));
    let mut window = WindowOperator::new(&config, &input[0].schema())?;
    let now = Instant::now();
    let started = Instant::now();
    let mut rows_out = 0;
    for b in &input {
        rows_out += window.process(b, 0, now)?.rows.map_or(0, |r| r.num_rows());
    }
    rows_out += window.flush()?.map_or(0, |r| r.num_rows());
    let elapsed = started.elapsed();
    Ok(WindowBench {
        kind: format!("{kind:?}").to_lowercase(),
        rows,
        keys,
        batch,
        rows_per_s: rows as f64 / elapsed.as_secs_f64(),
        rows_out,
        peak_memory_mib: super::peak_memory_mib(),
    })
}

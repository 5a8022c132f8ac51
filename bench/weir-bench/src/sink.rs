//! `weir bench sink`: rows per second through one sink, from batches made
//! in memory, so that only the sink is measured: the boundary, the
//! capability, the encoding and the database. scripts/bench-sinks puts it
//! beside each database's own bulk path.

use arrow::array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use weir::config::{ConnectionConfig, PluginSinkConfig, SinkConfig};
use weir::runtime::{ComponentCache, Runtime};

#[derive(Debug, serde::Serialize)]
pub struct SinkBench {
    pub plugin: String,
    pub rows: usize,
    pub batch: usize,
    /// Epochs committed.
    pub epochs: u64,
    /// From the first write to the end of the commit.
    pub seconds: f64,
    pub rows_per_s: f64,
}

fn batches(rows: usize, batch: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("score", DataType::Float64, true),
        Field::new("amount", DataType::Int64, true),
        Field::new("day", DataType::Date32, true),
    ]));
    let mut out = Vec::new();
    let mut start = 0;
    while start < rows {
        let ids: Vec<i64> = (start as i64..(start + batch).min(rows) as i64).collect();
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("customer-{}", i % 9973)),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| (i % 1000) as f64 / 10.0),
            )),
            Arc::new(Int64Array::from_iter_values(
                ids.iter().map(|i| i * 7 % 100_000),
            )),
            Arc::new(Date32Array::from_iter_values(
                ids.iter().map(|i| 20_758 + (i % 28) as i32),
            )),
        ];
        out.push(RecordBatch::try_new(schema.clone(), columns).expect("columns match"));
        start += batch;
    }
    (schema, out)
}

/// Writes `rows` rows into `plugin` (a `builtin:` sink) with `config`, in
/// one epoch, and times it.
pub fn run(
    plugin: &str,
    url: Option<String>,
    directory: Option<PathBuf>,
    config: Vec<(String, String)>,
    rows: usize,
    batch: usize,
    epochs: Option<usize>,
) -> anyhow::Result<SinkBench> {
    let runtime = Runtime::new(ComponentCache::from_env())
        .map_err(|e| anyhow::anyhow!("cannot start the Wasm runtime: {e}"))?;
    let mut connections = BTreeMap::new();
    let mut table = toml::Table::new();
    for (k, v) in config {
        table.insert(k, toml::Value::String(v));
    }
    if let Some(url) = url {
        connections.insert(
            "db".to_string(),
            ConnectionConfig {
                url,
                connect_attempts: 1,
                backoff_ms: 0,
                properties: Default::default(),
                registry: None,
            },
        );
        table.insert("connection".into(), toml::Value::String("db".into()));
    }
    let entry = SinkConfig::Plugin(PluginSinkConfig {
        name: "bench".into(),
        plugin: plugin.into(),
        config: table,
        connections: connections.keys().cloned().collect(),
        directory,
        timeout_ms: 600_000,
        memory_limit_mb: 1024,
    });
    let (schema, batches) = batches(rows, batch.max(1));
    let planned = weir::sink::plan(&entry, &connections, &Default::default(), &runtime)?;
    // A checkpointed run: the sink knows its first epoch and a stable id.
    let run: Vec<(String, String)> = match epochs {
        Some(_) => vec![
            ("weir.epoch".into(), "1".into()),
            (
                "weir.sink-id".into(),
                format!("bench-{}", std::process::id()),
            ),
        ],
        None => Vec::new(),
    };
    let mut sink = planned.open(&runtime, schema, &run)?;
    let per_epoch = batches.len().div_ceil(epochs.unwrap_or(1).max(1)).max(1);
    let started = Instant::now();
    let mut epoch = 1;
    for (i, b) in batches.iter().enumerate() {
        match sink.write(b)? {
            weir::runtime::SinkOutcome::Written { rejections } if rejections.is_empty() => {}
            weir::runtime::SinkOutcome::Written { rejections } => {
                anyhow::bail!(
                    "the sink refused {} rows: {}",
                    rejections.len(),
                    rejections[0].1
                )
            }
            weir::runtime::SinkOutcome::Failed { reason } => anyhow::bail!("{reason}"),
        }
        if (i + 1) % per_epoch == 0 && i + 1 < batches.len() {
            sink.pre_commit(epoch)?;
            sink.commit(epoch)?;
            epoch += 1;
        }
    }
    sink.pre_commit(epoch)?;
    sink.commit(epoch)?;
    sink.close()?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(SinkBench {
        plugin: plugin.to_string(),
        rows,
        batch,
        epochs: epoch,
        seconds,
        rows_per_s: rows as f64 / seconds,
    })
}

//! `weir bench reload`: a transform under steady load is hot-reloaded again
//! and again, alternating two builds that tag each row with their version;
//! reports the processing stall each reload causes, and checks that every
//! input row came out once, from one build, with the plugin's state
//! carried across every swap.

use crate::runtime::ReloadRequest;
use crate::runtime::{BatchOutcome, ComponentCache, Runtime, TransformPlugin};
use crate::transform::TransformSlot;
use arrow::array::{AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use serde::Serialize;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BUILDS: [(&str, &[u8]); 2] = [
    (
        "v1",
        include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/tag_v1.wasm")),
    ),
    (
        "v2",
        include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/tag_v2.wasm")),
    ),
];

#[derive(Debug, Serialize)]
pub struct ReloadBench {
    pub reloads: usize,
    pub batch: usize,
    pub rows: u64,
    pub rows_per_s: f64,
    /// A batch's processing time, median, without reloads.
    pub batch_ms: f64,
    /// Per reload: the gap between the batches around it, less a batch's time.
    pub p50_stall_ms: f64,
    pub p99_stall_ms: f64,
    pub max_stall_ms: f64,
    /// The swap alone (instantiate, `init`, `describe`, checks), per reload.
    pub p50_swap_ms: f64,
    pub p99_swap_ms: f64,
    pub lost: u64,
    pub duplicated: u64,
    /// Rows processed by each build.
    pub rows_by_version: std::collections::BTreeMap<String, u64>,
    /// Whether `seq` (the state counter) ran 1..=rows without a gap.
    pub state_carried: bool,
}

/// Runs `reloads` reloads, one every `interval`, on batches of `batch` rows.
pub fn run(reloads: usize, batch: usize, interval: Duration) -> anyhow::Result<ReloadBench> {
    let cache = tempfile::tempdir()?;
    let runtime =
        Runtime::new(ComponentCache::in_dir(cache.path())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let dir = tempfile::tempdir()?;
    let mut paths = Vec::new();
    for (name, bytes) in BUILDS {
        let path = dir.path().join(format!("tag_{name}.wasm"));
        std::fs::write(&path, bytes)?;
        paths.push(path);
    }
    let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
    let first = TransformPlugin::load(&runtime, "tag", &paths[0], Vec::new(), schema.clone())?;
    let mut slot = TransformSlot::new(first);

    // The requester: compiles (or takes from the cache) off the processing
    // thread, as the admin server does, and waits for each answer.
    let (sender, requests) = mpsc::channel::<ReloadRequest>();
    let requester = {
        let runtime = runtime.clone();
        std::thread::spawn(move || -> anyhow::Result<()> {
            for i in 0..reloads {
                std::thread::sleep(interval);
                let path = &paths[(i + 1) % 2];
                let (request, answer) = ReloadRequest::prepare(&runtime, "tag", path)?;
                sender.send(request)?;
                answer
                    .recv()?
                    .map_err(|e| anyhow::anyhow!("reload {i} refused: {e}"))?;
            }
            Ok(())
        })
    };

    let mut next_id = 0i64;
    let mut batch_ends = Vec::new();
    // Index into `batch_ends` of the batch before each reload.
    let mut reload_after = Vec::new();
    let mut swaps = Vec::new();
    let mut seen = vec![0u8; 0];
    let mut rows_by_version = std::collections::BTreeMap::new();
    let mut seqs_in_order = true;
    let mut expected_seq = 1i64;
    let started = Instant::now();
    batch_ends.push(started);
    while !requester.is_finished() || requests.try_recv().is_ok() {
        for request in requests.try_iter() {
            reload_after.push(batch_ends.len() - 1);
            let swap = Instant::now();
            let answer = slot.reload(&runtime, &request.component, request.version);
            swaps.push(swap.elapsed().as_secs_f64() * 1e3);
            let _ = request.reply.send(answer);
        }
        let ids = Int64Array::from_iter_values(next_id..next_id + batch as i64);
        next_id += batch as i64;
        let input = RecordBatch::try_new(schema.clone(), vec![Arc::new(ids)])?;
        let BatchOutcome::Processed { output, .. } = slot.process(&input) else {
            anyhow::bail!("a batch failed");
        };
        batch_ends.push(Instant::now());
        let ids = output
            .column_by_name("id")
            .expect("passed through")
            .as_primitive::<Int64Type>();
        let versions = output
            .column_by_name("version")
            .expect("tagged")
            .as_string::<i32>();
        let seqs = output
            .column_by_name("seq")
            .expect("numbered")
            .as_primitive::<Int64Type>();
        seen.resize(next_id as usize, 0);
        for row in 0..output.num_rows() {
            let id = ids.value(row) as usize;
            seen[id] = seen[id].saturating_add(1);
            seqs_in_order &= seqs.value(row) == expected_seq;
            expected_seq += 1;
        }
        let first_version = versions.value(0);
        anyhow::ensure!(
            versions.iter().all(|v| v == Some(first_version)),
            "a batch was processed by two builds"
        );
        *rows_by_version
            .entry(first_version.to_string())
            .or_insert(0u64) += output.num_rows() as u64;
    }
    requester.join().expect("the requester does not panic")?;
    let elapsed = started.elapsed();

    let mut gaps: Vec<f64> = batch_ends
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1e3)
        .collect();
    let stalled: Vec<f64> = reload_after.iter().map(|&i| gaps[i]).collect();
    gaps.sort_by(f64::total_cmp);
    let batch_ms = gaps[gaps.len() / 2];
    let mut stalls: Vec<f64> = stalled.iter().map(|g| (g - batch_ms).max(0.0)).collect();
    stalls.sort_by(f64::total_cmp);
    let pick = |q: f64| stalls[((stalls.len() - 1) as f64 * q).round() as usize];
    swaps.sort_by(f64::total_cmp);
    let swap = |q: f64| swaps[((swaps.len() - 1) as f64 * q).round() as usize];
    Ok(ReloadBench {
        reloads: stalls.len(),
        batch,
        rows: next_id as u64,
        rows_per_s: next_id as f64 / elapsed.as_secs_f64(),
        batch_ms,
        p50_stall_ms: pick(0.5),
        p99_stall_ms: pick(0.99),
        max_stall_ms: pick(1.0),
        p50_swap_ms: swap(0.5),
        p99_swap_ms: swap(0.99),
        lost: seen.iter().filter(|&&n| n == 0).count() as u64,
        duplicated: seen.iter().filter(|&&n| n > 1).count() as u64,
        rows_by_version,
        state_carried: seqs_in_order,
    })
}

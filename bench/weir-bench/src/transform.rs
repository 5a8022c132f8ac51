//! `weir bench transform`: the same filter + uppercase, natively on Arrow and
//! as a Wasm component, on the same generated input; outputs compared, speed
//! and start-up costs reported as JSON. A benchmark, not a test: run it on a
//! release build.

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use serde::Serialize;
use std::time::{Duration, Instant};
use weir::runtime::{BatchOutcome, ComponentCache, Runtime, TransformPlugin};
use weir_tests::uppercase::{MIN_SCORE, generate, input_schema, native_uppercase};

/// The component the benchmark runs unless told otherwise.
const UPPERCASE_PLUGIN: &[u8] = crate::guest!("uppercase");

#[derive(Debug, Serialize)]
pub struct TransformBench {
    pub rows: usize,
    pub batch: usize,
    pub repeat: usize,
    pub native_rows_per_s: f64,
    pub wasm_rows_per_s: f64,
    /// wasm / native, on medians.
    pub ratio: f64,
    pub native_rows_per_s_min: f64,
    pub native_rows_per_s_max: f64,
    pub wasm_rows_per_s_min: f64,
    pub wasm_rows_per_s_max: f64,
    pub rows_out: usize,
    pub outputs_equal: bool,
    pub cold_compile_ms: f64,
    pub cached_load_ms: f64,
    pub instantiate_us: f64,
    /// Time for `process` on a one-row batch: the fixed cost of a call.
    pub call_overhead_us: f64,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn rate(rows: usize, elapsed: Duration) -> f64 {
    rows as f64 / elapsed.as_secs_f64()
}

pub fn run(
    rows: usize,
    batch: usize,
    repeat: usize,
    plugin: Option<&[u8]>,
) -> anyhow::Result<TransformBench> {
    let bytes = plugin.unwrap_or(UPPERCASE_PLUGIN);
    let input = generate(rows, batch);
    let runtime = Runtime::new(ComponentCache::disabled()).map_err(|e| anyhow::anyhow!("{e}"))?;

    let started = Instant::now();
    let component = runtime.load_bytes("uppercase", bytes)?;
    let cold_compile_ms = started.elapsed().as_secs_f64() * 1e3;
    let cache_dir = tempfile::tempdir()?;
    let cwasm = cache_dir.path().join("uppercase.cwasm");
    std::fs::write(
        &cwasm,
        component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?,
    )?;
    let started = Instant::now();
    // SAFETY: written just above by `serialize` of this same engine.
    let _loaded =
        unsafe { wasmtime::component::Component::deserialize_file(&runtime.engine, &cwasm) }
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cached_load_ms = started.elapsed().as_secs_f64() * 1e3;

    let config = vec![("min_score".to_string(), MIN_SCORE.to_string())];
    let mut plugin = TransformPlugin::from_component(
        &runtime,
        "uppercase",
        "uppercase",
        &component,
        config,
        input_schema(),
    )?;
    let instantiate_us = plugin
        .time_instantiation()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .as_secs_f64()
        * 1e6;

    let one_row = input[0].slice(0, 1);
    let calls = 2000;
    let started = Instant::now();
    for _ in 0..calls {
        if let BatchOutcome::Failed { reason } = plugin.process(&one_row) {
            anyhow::bail!("the plugin failed a batch: {reason}");
        }
    }
    let call_overhead_us = started.elapsed().as_secs_f64() * 1e6 / calls as f64;

    // One untimed pass each: the first touch of fresh memory (page faults,
    // allocator growth) is not the steady state a stream runs in.
    input.iter().for_each(|b| drop(native_uppercase(b)));
    input.iter().for_each(|b| drop(plugin.process(b)));

    let (mut native_rates, mut wasm_rates) = (Vec::new(), Vec::new());
    let (mut native_out, mut wasm_out) = (Vec::new(), Vec::new());
    for _ in 0..repeat.max(1) {
        // Outputs of the previous repeat are dropped outside the clock.
        let started = Instant::now();
        let out: Vec<RecordBatch> = input.iter().map(native_uppercase).collect();
        native_rates.push(rate(rows, started.elapsed()));
        native_out = out;

        let started = Instant::now();
        let mut out = Vec::with_capacity(input.len());
        for b in &input {
            match plugin.process(b) {
                BatchOutcome::Processed { output, .. } => out.push(output),
                BatchOutcome::Failed { reason } => {
                    anyhow::bail!("the plugin failed a batch: {reason}")
                }
            }
        }
        wasm_rates.push(rate(rows, started.elapsed()));
        wasm_out = out;
    }
    let schema = input_schema();
    let native_all = concat_batches(&schema, &native_out)?;
    let wasm_all = concat_batches(&schema, &wasm_out)?;
    let (native, wasm) = (median(native_rates.clone()), median(wasm_rates.clone()));
    let fold = |xs: &[f64], f: fn(f64, f64) -> f64, init| xs.iter().copied().fold(init, f);
    Ok(TransformBench {
        rows,
        batch,
        repeat: repeat.max(1),
        native_rows_per_s: native,
        wasm_rows_per_s: wasm,
        ratio: wasm / native,
        native_rows_per_s_min: fold(&native_rates, f64::min, f64::MAX),
        native_rows_per_s_max: fold(&native_rates, f64::max, 0.0),
        wasm_rows_per_s_min: fold(&wasm_rates, f64::min, f64::MAX),
        wasm_rows_per_s_max: fold(&wasm_rates, f64::max, 0.0),
        rows_out: native_all.num_rows(),
        outputs_equal: native_all == wasm_all,
        cold_compile_ms,
        cached_load_ms,
        instantiate_us,
        call_overhead_us,
    })
}

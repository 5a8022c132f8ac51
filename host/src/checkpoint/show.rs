//! `weir checkpoints list|inspect`: what a pipeline's checkpoints hold.

use super::recovery::recover;
use super::store::Store;
use crate::config::PipelineConfig;
use anyhow::{Context, anyhow};
use std::path::Path;

fn store_of(pipeline: &Path) -> anyhow::Result<Store> {
    let config = PipelineConfig::load(pipeline)?;
    let location = config
        .checkpoint
        .as_ref()
        .and_then(|c| c.location.clone())
        .ok_or_else(|| anyhow!("{}: has no [checkpoint] table", pipeline.display()))?;
    Ok(Store::open(&location, &config.storage)?)
}

/// One line per checkpoint, newest last, and where a restart would resume.
pub fn list(pipeline: &Path) -> anyhow::Result<()> {
    let store = store_of(pipeline)?;
    let committed = store.committed()?;
    println!("checkpoints in {}", store.location());
    println!(
        "{:>8}  {:<24}  {:>8}  {:>12}  status",
        "epoch", "taken at (UTC)", "batches", "state bytes"
    );
    for epoch in store.epochs()? {
        match store.read(epoch) {
            Ok(c) => {
                let taken = chrono::DateTime::from_timestamp_millis(c.taken_at_ms)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                let status = if epoch <= committed {
                    "committed"
                } else {
                    "written (sinks may not all have committed)"
                };
                println!(
                    "{epoch:>8}  {taken:<24}  {:>8}  {:>12}  {status}",
                    c.batches.len(),
                    c.state_bytes()
                );
            }
            Err(reason) => println!(
                "{epoch:>8}  {:<24}  {:>8}  {:>12}  unusable: {reason}",
                "-", "-", "-"
            ),
        }
    }
    let recovery = recover(&store)?;
    match (&recovery.replay, &recovery.base) {
        (Some(r), _) => println!(
            "a restart replays epoch {} ({} batches), then starts epoch {}",
            r.epoch,
            r.batches.len(),
            recovery.next_epoch
        ),
        (None, Some(b)) => println!(
            "a restart resumes after epoch {} and starts epoch {}",
            b.epoch, recovery.next_epoch
        ),
        (None, None) => println!(
            "a restart starts from the beginning (epoch {})",
            recovery.next_epoch.max(1)
        ),
    }
    Ok(())
}

/// One checkpoint (default: the newest valid) as JSON: positions, batches,
/// state sizes and plugin versions.
pub fn inspect(pipeline: &Path, epoch: Option<u64>) -> anyhow::Result<()> {
    let store = store_of(pipeline)?;
    let epoch = match epoch {
        Some(e) => e,
        None => *store
            .epochs()?
            .iter()
            .rev()
            .find(|&&e| store.read(e).is_ok())
            .ok_or_else(|| anyhow!("no usable checkpoint in {}", store.location()))?,
    };
    let c = store
        .read(epoch)
        .map_err(|reason| anyhow!("checkpoint of epoch {epoch}: {reason}"))
        .context(store.location())?;
    let operators: Vec<serde_json::Value> = c
        .operators
        .iter()
        .map(|o| {
            serde_json::json!({
                "name": o.name,
                "build_sha256": o.build,
                "state_tables": o.tables.len(),
                "state_bytes": o.state_bytes(),
            })
        })
        .collect();
    let shown = serde_json::json!({
        "pipeline": c.pipeline,
        "epoch": c.epoch,
        "taken_at_ms": c.taken_at_ms,
        "committed": epoch <= store.committed()?,
        "start": c.start,
        "end": c.end,
        "batches": c.batches.len(),
        "records": c.batches.iter().map(|m| m.records).sum::<u64>(),
        "state_bytes": c.state_bytes(),
        "operators": operators,
    });
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(())
}

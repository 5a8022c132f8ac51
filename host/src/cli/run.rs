//! `weir run` and `weir dev`: plan, open, serve the admin API, run, print
//! the summary.

use super::admin_client::{pipeline_file_admin, start_admin};
use super::plan;
use crate::observe::progress::Progress;
use crate::source::RunMode;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// `weir run` (and `weir dev`): plans, opens, serves the admin API, runs.
pub(super) fn run_pipeline(
    pipeline_arg: &Path,
    available_now: bool,
    flush: bool,
    summary_json: Option<PathBuf>,
    admin: &str,
    watch: bool,
) -> anyhow::Result<ExitCode> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        // The first signal stops the run: the source ends, a plugin call in
        // progress is interrupted, the epoch commits (or is abandoned if a
        // call was cut short). A second one exits at once (130).
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())
            .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot install the signal handler")?;
        signal_hook::flag::register(signal, crate::runtime::stop_flag())
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
    let (board, reloads) = pipeline.control();
    let _admin = start_admin(
        (pipeline_arg, &config.text),
        &pipeline_file_admin(pipeline_arg, &config),
        admin,
        watch,
        &config,
        (board.clone(), reloads),
        pipeline.runtime().clone(),
    )?;
    // A bounded run shows how far it has got (on a terminal only).
    let progress = available_now.then(|| Progress::start(board)).flatten();
    let result = pipeline.run();
    if let Some(progress) = progress {
        progress.finish();
    }
    let summary = result?;
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

//! `weir run --watch`: reloads a transform when its component file changes
//! (a rebuild, a copy). Polling a few files' metadata handles every way
//! tools replace a file (in place, by rename) without platform quirks.

use crate::admin::{AdminContext, request_reload};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

const POLL: Duration = Duration::from_millis(250);

/// Watches `plugins` (name, component path) on a thread of its own.
pub fn spawn(context: AdminContext, plugins: Vec<(String, PathBuf)>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("weir-watch".into())
        .spawn(move || watch(context, plugins))
        .map(|_| ())
}

fn stamp(path: &PathBuf) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn watch(context: AdminContext, plugins: Vec<(String, PathBuf)>) {
    let mut seen: Vec<Option<(SystemTime, u64)>> = plugins.iter().map(|(_, p)| stamp(p)).collect();
    loop {
        std::thread::sleep(POLL);
        for ((name, path), last) in plugins.iter().zip(seen.iter_mut()) {
            let now = stamp(path);
            if now.is_none() || now == *last {
                continue;
            }
            // Wait for the writer to finish: the same stamp twice in a row.
            std::thread::sleep(POLL);
            if stamp(path) != now {
                continue;
            }
            *last = now;
            match request_reload(&context, name, Some(path.clone())) {
                Ok(report) => {
                    tracing::info!(plugin = %name, to = %crate::observe::status::short(&report.to_sha256), "Reloaded after its file changed.")
                }
                Err((_, message)) => {
                    tracing::warn!(plugin = %name, %message, "The changed file was not swapped in; the running build stays.")
                }
            }
        }
    }
}

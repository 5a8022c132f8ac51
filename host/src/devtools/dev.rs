//! `weir dev`: runs a pipeline and rebuilds a plugin whenever its source
//! changes, with its project's own build command; the rebuilt component is
//! then hot-reloaded by the file watcher (see watch.rs). Edit, save, and
//! the next batch runs the new code.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const POLL: Duration = Duration::from_millis(300);

/// Folders that hold build output or tools, not source.
const SKIPPED: [&str; 6] = [
    "target",
    "node_modules",
    ".weir",
    "out",
    "__pycache__",
    ".git",
];

/// A plugin's project folder, which `weir build` builds.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    /// The project a component was built by: the nearest folder above it
    /// with a `Cargo.toml` (Rust) or a `build.sh` (the other scaffolds).
    pub fn of(component: &Path) -> Option<Project> {
        let component = std::path::absolute(component).ok()?;
        component
            .ancestors()
            .skip(1)
            .find(|dir| dir.join("Cargo.toml").is_file() || dir.join("build.sh").is_file())
            .map(|dir| Project {
                root: dir.to_path_buf(),
            })
    }
}

/// Source files under `root` and when each last changed.
fn fingerprint(root: &Path, files: &mut Vec<(PathBuf, SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if !SKIPPED.iter().any(|s| name == *s) {
                fingerprint(&path, files);
            }
        } else if path.extension().is_none_or(|e| e != "wasm")
            && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
        {
            files.push((path, modified));
        }
    }
}

fn snapshot(root: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut files = Vec::new();
    fingerprint(root, &mut files);
    files.sort();
    files
}

/// Watches each project on a thread of its own and rebuilds it on change.
pub fn spawn(projects: Vec<Project>) -> std::io::Result<()> {
    for project in projects {
        std::thread::Builder::new()
            .name("weir-dev".into())
            .spawn(move || rebuild_on_change(project))?;
    }
    Ok(())
}

fn rebuild_on_change(project: Project) {
    let mut last = snapshot(&project.root);
    loop {
        std::thread::sleep(POLL);
        if snapshot(&project.root) == last {
            continue;
        }
        tracing::info!(project = %project.root.display(), "Source changed; rebuilding.");
        match crate::devtools::scaffold::build(&project.root) {
            Ok(()) => {
                tracing::info!(project = %project.root.display(), "Rebuilt; the new component is swapped in at the next batch.")
            }
            Err(e) => {
                tracing::warn!(project = %project.root.display(), error = %e, "The build failed; the running build stays.")
            }
        }
        // The build may have touched sources (generated files): start afresh.
        last = snapshot(&project.root);
    }
}

//! `weir dev`: runs a pipeline and rebuilds a plugin whenever its source
//! changes, with its project's own build command; the rebuilt component is
//! then hot-reloaded by the file watcher (see watch.rs). Edit, save, and
//! the next batch runs the new code.

use std::path::{Path, PathBuf};
use std::process::Command;
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

/// A plugin's project: its folder and the command that builds it.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub build: Vec<String>,
}

impl Project {
    /// The project a component was built by: the nearest folder above it
    /// with a `build.sh` (Python, JavaScript and C scaffolds) or a
    /// `Cargo.toml` (Rust).
    pub fn of(component: &Path) -> Option<Project> {
        let component = std::path::absolute(component).ok()?;
        component.ancestors().skip(1).find_map(|dir| {
            if dir.join("build.sh").is_file() {
                Some(Project {
                    root: dir.to_path_buf(),
                    build: vec!["./build.sh".into()],
                })
            } else if dir.join("Cargo.toml").is_file() {
                Some(Project {
                    root: dir.to_path_buf(),
                    build: ["cargo", "build", "--release"].map(String::from).to_vec(),
                })
            } else {
                None
            }
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
        tracing::info!(project = %project.root.display(), command = %project.build.join(" "), "Source changed; rebuilding.");
        let status = Command::new(&project.build[0])
            .args(&project.build[1..])
            .current_dir(&project.root)
            .status();
        match status {
            Ok(s) if s.success() => {
                tracing::info!(project = %project.root.display(), "Rebuilt; the new component is swapped in at the next batch.")
            }
            Ok(s) => {
                tracing::warn!(project = %project.root.display(), status = %s, "The build failed; the running build stays.")
            }
            Err(e) => {
                tracing::warn!(project = %project.root.display(), error = %e, "Cannot run the build command.")
            }
        }
        // The build may have touched sources (generated files): start afresh.
        last = snapshot(&project.root);
    }
}

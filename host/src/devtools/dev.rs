//! `weir dev`: runs a pipeline and rebuilds a plugin whenever its source
//! changes, with its project's own build command; the rebuilt component is
//! then hot-reloaded by the file watcher (see watch.rs). Edit, save, and
//! the next batch runs the new code.

use crate::config::PipelineConfig;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const POLL: Duration = Duration::from_millis(300);

/// What a plugin's sources are, at the top of its project folder: the
/// files its build reads. Everything else there (input files, output,
/// pipeline files) is data, and changing it rebuilds nothing.
const SOURCE_FILES: [&str; 2] = ["Cargo.toml", "build.sh"];
/// Folders read whole: a Rust crate's sources, the contract a Python or JS
/// build reads.
const SOURCE_FOLDERS: [&str; 2] = ["src", "wit"];
/// Source files by extension: app.py, app.js and the modules beside them,
/// the C scaffold's app.c and its headers.
const SOURCE_EXTENSIONS: [&str; 4] = ["c", "h", "py", "js"];

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

/// Whether `path`, at the top of a project folder, is one of its sources.
fn is_source(path: &Path) -> bool {
    let name = path.file_name().unwrap_or_default();
    if path.is_dir() {
        return SOURCE_FOLDERS.iter().any(|f| name == *f);
    }
    SOURCE_FILES.iter().any(|f| name == *f)
        || path
            .extension()
            .is_some_and(|e| SOURCE_EXTENSIONS.iter().any(|s| e == *s))
}

/// Every file under `dir` and when it last changed.
fn fingerprint(dir: &Path, files: &mut Vec<(PathBuf, SystemTime)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            fingerprint(&path, files);
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            files.push((path, modified));
        }
    }
}

/// The project's sources and when each last changed.
fn snapshot(root: &Path) -> Vec<(PathBuf, SystemTime)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        if !is_source(&path) {
            continue;
        }
        if path.is_dir() {
            fingerprint(&path, &mut files);
        } else if let Ok(modified) = entry.metadata().and_then(|m| m.modified()) {
            files.push((path, modified));
        }
    }
    files.sort();
    files
}

/// The projects of `config`'s transforms, each component built now if its
/// file is missing (a fresh `weir new` project), so the run can start.
pub fn prepare(config: &PipelineConfig) -> Result<Vec<Project>, String> {
    let mut projects: Vec<Project> = Vec::new();
    for t in config.transforms.iter().chain(&config.after_window) {
        let Some(project) = Project::of(&t.plugin) else {
            tracing::warn!(plugin = %t.name, path = %t.plugin.display(), "No project (build.sh or Cargo.toml) above this component: it is reloaded when the file changes, not rebuilt.");
            continue;
        };
        if !t.plugin.exists() {
            tracing::info!(plugin = %t.name, project = %project.root.display(), "The component is not built yet; building it.");
            crate::devtools::scaffold::build(&project.root)?;
            if !t.plugin.exists() {
                return Err(format!(
                    "built {} but transform `{}`'s component {} is still missing: the pipeline file must name the file the build writes",
                    project.root.display(),
                    t.name,
                    t.plugin.display()
                ));
            }
        }
        if !projects.iter().any(|p| p.root == project.root) {
            projects.push(project);
        }
    }
    Ok(projects)
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

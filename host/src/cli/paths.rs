//! Before a pipeline is planned: the files it names exist, or the error says
//! what was looked for where (relative paths follow the pipeline file's
//! folder, not the current one) and suggests the component that was meant.

use crate::config::{PipelineConfig, SinkConfig, SourceConfig};
use std::path::{Component, Path, PathBuf};

/// Checks the source folder and every component path of `config`, loaded
/// from `pipeline`.
pub(super) fn check(pipeline: &Path, config: &PipelineConfig) -> anyhow::Result<()> {
    let base = folder_of(pipeline);
    let place = Place { pipeline, base };
    let fail =
        |key: String, message: String| anyhow::anyhow!("{}: {key}: {message}", pipeline.display());
    for (key, named) in config.named_sources() {
        if let SourceConfig::Files(files) = &named.config
            && !crate::config::is_url(&files.path)
            && !files.path.exists()
        {
            let message = place.missing("the source path", &files.path, false);
            return Err(fail(format!("key `{key}.path`"), message));
        }
    }
    for (list, transforms) in [
        ("transforms", &config.transforms),
        ("after_window", &config.after_window),
    ] {
        for (i, t) in transforms.iter().enumerate() {
            if !t.plugin.is_file() {
                let message = place.missing("the component", &t.plugin, true);
                return Err(fail(format!("key `{list}[{i}]` ({})", t.name), message));
            }
        }
    }
    for (i, sink) in config.sinks.iter().enumerate() {
        if let SinkConfig::Plugin(p) = sink
            && !p.plugin.starts_with("builtin:")
            && !Path::new(&p.plugin).is_file()
        {
            let message = place.missing("the component", Path::new(&p.plugin), true);
            return Err(fail(format!("key `sinks[{i}]` ({})", p.name), message));
        }
    }
    Ok(())
}

/// The folder relative paths in `pipeline` are resolved against.
fn folder_of(pipeline: &Path) -> &Path {
    pipeline
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

struct Place<'a> {
    pipeline: &'a Path,
    base: &'a Path,
}

impl Place<'_> {
    /// The error for `resolved` (a path from the pipeline file, already
    /// joined to its folder) not existing.
    fn missing(&self, what: &str, resolved: &Path, component: bool) -> String {
        let shown = absolute(resolved);
        let mut message = format!("{what} {} does not exist", shown.display());
        // What the user wrote, if it was relative (config resolution
        // joined it to the pipeline's folder).
        let written = resolved.strip_prefix(self.base).ok();
        let base = canonical(self.base);
        if let Some(written) = written {
            message.push_str(&format!(
                " ({} names it {}, and relative paths in a pipeline file are taken from its folder, {})",
                self.pipeline.display(),
                written.display(),
                base.display()
            ));
            if written.exists() {
                let cwd = std::env::current_dir().unwrap_or_default();
                message.push_str(&format!(
                    "; it does exist from the current folder {}: write it as {} or as an absolute path",
                    cwd.display(),
                    relative(&base, &canonical(written)).display()
                ));
                return message;
            }
        }
        if component && let Some(found) = nearest_component(resolved, self.base) {
            message.push_str(&format!(
                "; did you mean {}?",
                relative(&base, &canonical(&found)).display()
            ));
        }
        message
    }
}

/// The existing `.wasm` file whose name is nearest `missing`'s (by edit
/// distance), among those in its folder, the pipeline's folder and the
/// release folders a build writes components to.
fn nearest_component(missing: &Path, base: &Path) -> Option<PathBuf> {
    let name = missing.file_name()?.to_string_lossy().into_owned();
    let mut folders = vec![base.to_path_buf()];
    if let Some(parent) = missing.parent() {
        folders.push(parent.to_path_buf());
    }
    for release in [
        "target/wasm32-wasip2/release",
        "target/plugins/wasm32-wasip2/release",
    ] {
        folders.push(base.join(release));
    }
    let mut candidates: Vec<PathBuf> = folders
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm") && p.is_file())
        .collect();
    candidates.sort();
    candidates.dedup();
    let distance = |p: &PathBuf| {
        let other = p.file_name().map(|n| n.to_string_lossy().into_owned());
        strsim::levenshtein(&name, &other.unwrap_or_default())
    };
    let best = candidates.into_iter().min_by_key(distance)?;
    // A name far from every candidate is not a typo of any of them.
    (distance(&best) <= (name.len() / 3).max(2)).then_some(best)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| absolute(path))
}

/// `to` as a path relative to the folder `from` (both absolute), as it
/// would be written in a pipeline file there.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<Component> = from.components().collect();
    let to_parts: Vec<Component> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return to.to_path_buf();
    }
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for part in &to_parts[common..] {
        path.push(part);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn a_suggested_path_is_written_from_the_pipeline_folder() {
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a/b/c/target/x.wasm")),
            Path::new("target/x.wasm")
        );
        assert_eq!(
            relative(Path::new("/a/b/c"), Path::new("/a/d/x.wasm")),
            Path::new("../../d/x.wasm")
        );
    }
}

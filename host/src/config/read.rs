//! Reading a pipeline file, with errors that say what was looked for where:
//! a missing file, a folder given instead of a file, a file that cannot be
//! read or is not text.

use std::io::ErrorKind;
use std::path::Path;

/// The text of the pipeline file at `path`, or why it cannot be had (the
/// caller names `path` in front of the message).
pub(super) fn pipeline_text(path: &Path) -> Result<String, String> {
    if path.is_dir() {
        return Err(format!(
            "is a folder, not a pipeline file{}",
            pipeline_files_in(path)
        ));
    }
    std::fs::read_to_string(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => {
            let looked = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            let hint = match parent {
                Some(dir) if !dir.is_dir() => {
                    format!(" ({} is not a folder either)", dir.display())
                }
                Some(dir) => pipeline_files_in(dir),
                None => pipeline_files_in(Path::new(".")),
            };
            format!(
                "no such pipeline file (looked for {}){hint}",
                looked.display()
            )
        }
        ErrorKind::PermissionDenied => {
            "cannot read the pipeline file: permission denied (check its mode and owner)"
                .to_string()
        }
        ErrorKind::InvalidData => {
            "cannot read the pipeline file: it is not UTF-8 text (a pipeline file is TOML)"
                .to_string()
        }
        _ => format!("cannot read the pipeline file: {e}"),
    })
}

/// "; it holds a.toml, b.toml" for the TOML files in `dir`, to pick from.
fn pipeline_files_in(dir: &Path) -> String {
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        // Other tools' files, never pipelines.
        .filter(|p| {
            p.file_name().is_none_or(|n| {
                !["Cargo.toml", "rust-toolchain.toml", "pyproject.toml"]
                    .iter()
                    .any(|other| n == *other)
            })
        })
        .map(|p| p.display().to_string())
        .collect();
    found.sort();
    match found.len() {
        0 => String::new(),
        1 => format!("; did you mean {}?", found[0]),
        _ => format!("; pipeline files there: {}", found.join(", ")),
    }
}

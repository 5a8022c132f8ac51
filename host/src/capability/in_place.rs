//! Files written in place (the dead-letter file, single-file CSV and JSON
//! Lines sinks): what such a file becomes when it is opened — emptied for a
//! fresh run, or cut back to the length a checkpoint recorded and appended
//! to, so a resumed run keeps the rows of committed epochs and writes those
//! of a replayed epoch once.

use std::collections::BTreeMap;

/// What one file written in place becomes when it is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Resume {
    /// A run from the beginning: the file starts empty.
    #[default]
    Fresh,
    /// Cut back to this many bytes (what the checkpoint resumed from saw),
    /// then appended to: exact.
    At(u64),
    /// Kept whole and appended to: the checkpoint resumed from recorded no
    /// length (written by an older weir), so rows may repeat, never vanish.
    Append,
}

/// [`Resume`] for every file of one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ResumeFiles {
    #[default]
    Fresh,
    /// By relative path; a file not listed was not open then (length 0).
    At(BTreeMap<String, u64>),
    Append,
}

impl ResumeFiles {
    pub fn file(&self, relative: &str) -> Resume {
        match self {
            ResumeFiles::Fresh => Resume::Fresh,
            ResumeFiles::At(marks) => Resume::At(marks.get(relative).copied().unwrap_or(0)),
            ResumeFiles::Append => Resume::Append,
        }
    }
}

/// Opens `path` for appending as `resume` says; returns the file and the
/// bytes it holds. A file shorter than its mark is kept and appended to,
/// with a warning: something outside weir cut it.
pub fn open_in_place(
    path: &std::path::Path,
    resume: Resume,
) -> std::io::Result<(std::fs::File, u64)> {
    use std::io::{Seek, SeekFrom};
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(matches!(resume, Resume::Fresh))
        .open(path)?;
    let len = file.metadata()?.len();
    let len = match resume {
        Resume::Fresh | Resume::Append => len,
        Resume::At(mark) if len >= mark => {
            if len > mark {
                tracing::info!(file = %path.display(), from = len, to = mark, "Cutting the file back to its length at the checkpoint; the rows after it are written again.");
                file.set_len(mark)?;
            }
            mark
        }
        Resume::At(mark) => {
            tracing::warn!(file = %path.display(), len, mark, "The file is shorter than at the checkpoint; appending to what is there.");
            len
        }
    };
    file.seek(SeekFrom::Start(len))?;
    Ok((file, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_cut_back_to_its_mark_kept_or_emptied() {
        let dir = std::env::temp_dir().join(format!("weir-rewind-{}", std::process::id()));
        let path = dir.join("sub").join("out.jsonl");
        let write = |resume, text: &str| {
            use std::io::Write;
            let (mut file, len) = open_in_place(&path, resume).unwrap();
            file.write_all(text.as_bytes()).unwrap();
            len
        };
        assert_eq!(write(Resume::Fresh, "one\ntwo\n"), 0);
        assert_eq!(write(Resume::At(4), "deux\n"), 4);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ndeux\n");
        assert_eq!(write(Resume::Append, "three\n"), 9);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "one\ndeux\nthree\n"
        );
        assert_eq!(write(Resume::At(100), "four\n"), 15);
        assert_eq!(write(Resume::Fresh, "new\n"), 0);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! One file a sink writes: its encoder (CSV and JSON Lines with arrow,
//! Parquet with parquet) over a local file or an object upload, and what
//! a failed write means (a full disk or an unreachable store is an outage,
//! retried; anything else is the sink's error).

use crate::storage::{self, Upload};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Where the bytes of a file go.
pub enum Out {
    File(File),
    Upload(Upload),
}

/// The reason the device or the store under a file failed, once known:
/// an outage, not a bad row. Shared by the file and its writer, because
/// arrow's CSV writer turns I/O errors into text.
pub type Trouble = Arc<OnceLock<String>>;

/// An [`Out`] that counts the bytes the file holds and notes an outage
/// when a write meets one.
pub struct Watched {
    pub out: Out,
    pub shown: String,
    pub trouble: Trouble,
    /// Bytes in the file: those it had when opened, and those written.
    pub size: Arc<AtomicU64>,
}

/// No space left on the device, or no quota left.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl Watched {
    fn watch<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result {
            note_outage(&self.trouble, &self.shown, e);
        }
        result
    }
}

/// Records `e` as the file's outage if it is one.
pub fn note_outage(trouble: &Trouble, shown: &str, e: &std::io::Error) {
    if is_full(e) {
        let _ = trouble.set(format!("no space left on the device of {shown}"));
    } else if let Some(error) = e
        .get_ref()
        .and_then(|e| e.downcast_ref::<object_store::Error>())
        && storage::retryable(error)
    {
        let _ = trouble.set(format!("the object store failed writing {shown}: {error}"));
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = match &mut self.out {
            Out::File(f) => f.write(buf),
            Out::Upload(u) => u.write(buf),
        };
        if let Ok(n) = &result {
            self.size.fetch_add(*n as u64, Ordering::Relaxed);
        }
        self.watch(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = match &mut self.out {
            Out::File(f) => f.flush(),
            Out::Upload(u) => u.flush(),
        };
        self.watch(result)
    }
}

pub enum Writer {
    /// arrow's CSV writer flushes to the file after every batch.
    Csv(Box<arrow::csv::Writer<Watched>>),
    Jsonl(Box<arrow::json::LineDelimitedWriter<BufWriter<Watched>>>),
    Parquet(Box<ArrowWriter<Watched>>),
    /// Finished; an upload waits here to be completed at `publish`.
    Finished(Option<Upload>),
}

/// Where a file ends up.
pub enum Target {
    /// A local file, written under `written` (itself, or a hidden name
    /// beside it until published).
    Local { path: PathBuf, written: PathBuf },
    /// An object, visible once its upload completes.
    Object,
}

pub struct OpenFile {
    /// Where the file ends up, for messages: a path or an object's URL.
    pub shown: String,
    /// The path relative to the granted directory, as the sink named it.
    pub relative: String,
    /// Written in place (not staged) as CSV or JSON Lines: rows are visible
    /// as appended, and a checkpoint records the file's length.
    pub in_place: bool,
    pub place: Target,
    pub columns: Option<Vec<usize>>,
    pub writer: Writer,
    pub rows: u64,
    pub header: bool,
    pub trouble: Trouble,
    /// The bytes its [`Watched`] counts.
    pub size: Arc<AtomicU64>,
}

impl OpenFile {
    /// Appends `batch`; returns the bytes the file holds so far.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<u64, String> {
        let shown = self.shown.clone();
        let fail = |e: &dyn std::fmt::Display| format!("cannot write {shown}: {e}");
        self.rows += batch.num_rows() as u64;
        match &mut self.writer {
            Writer::Csv(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                Ok(self.size.load(Ordering::Relaxed))
            }
            Writer::Jsonl(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                // Rows become visible batch by batch (durable at `finish`).
                w.get_mut().flush().map_err(|e| fail(&e))?;
                Ok(self.size.load(Ordering::Relaxed))
            }
            Writer::Parquet(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                Ok((w.bytes_written() + w.in_progress_size()) as u64)
            }
            Writer::Finished(_) => Err(format!("{shown} is already finished")),
        }
    }

    /// Ends the file (Parquet writes its footer) and makes it durable: a
    /// local file synced, an upload's parts all sent.
    pub fn finish(&mut self, schema: &SchemaRef) -> Result<(), String> {
        if self.rows == 0 && self.header && matches!(self.writer, Writer::Csv(_)) {
            // An empty result still gets its header line.
            let empty = RecordBatch::new_empty(schema.clone());
            self.write(&empty)?;
        }
        let shown = self.shown.clone();
        let fail = |e: &dyn std::fmt::Display| format!("cannot finish {shown}: {e}");
        let watched = match std::mem::replace(&mut self.writer, Writer::Finished(None)) {
            Writer::Csv(w) => (*w).into_inner(),
            Writer::Jsonl(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                (*w).into_inner().into_inner().map_err(|e| fail(&e))?
            }
            Writer::Parquet(w) => w.into_inner().map_err(|e| fail(&e))?,
            Writer::Finished(upload) => {
                self.writer = Writer::Finished(upload);
                return Ok(());
            }
        };
        let Watched { out, trouble, .. } = watched;
        match out {
            Out::File(file) => {
                let synced = file.sync_all();
                if let Err(e) = &synced {
                    note_outage(&trouble, &shown, e);
                }
                synced.map_err(|e| fail(&e))
            }
            Out::Upload(mut upload) => {
                let staged = upload.stage().map_err(std::io::Error::other);
                if let Err(e) = &staged {
                    note_outage(&trouble, &shown, e);
                }
                staged.map_err(|e| fail(&e))?;
                self.writer = Writer::Finished(Some(upload));
                Ok(())
            }
        }
    }

    /// Makes a finished file visible at its path.
    pub fn publish(self) -> Result<(), String> {
        let Writer::Finished(upload) = self.writer else {
            return Err(format!(
                "{} must be finished before it is published",
                self.shown
            ));
        };
        match (self.place, upload) {
            (Target::Local { path, written }, _) => {
                if written != path {
                    std::fs::rename(&written, &path).map_err(|e| {
                        format!(
                            "cannot move {} to {}: {e}",
                            written.display(),
                            path.display()
                        )
                    })?;
                }
                Ok(())
            }
            (Target::Object, Some(upload)) => upload.complete().map_err(|e| {
                let e = std::io::Error::other(e);
                note_outage(&self.trouble, &self.shown, &e);
                format!("cannot complete the upload of {}: {e}", self.shown)
            }),
            (Target::Object, None) => unreachable!("a finished object holds its upload"),
        }
    }

    /// Leaves nothing of a file that will not be published: a staged local
    /// file is deleted, an upload aborted (dropping it does).
    pub fn discard(self) {
        if let Target::Local { path, written } = &self.place
            && written != path
        {
            let _ = std::fs::remove_file(written);
        }
    }
}

pub fn file_len(path: &std::path::Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("cannot read the size of {}: {e}", path.display()))
}

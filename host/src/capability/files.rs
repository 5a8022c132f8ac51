//! The `files` capability: files in the one directory granted to a sink,
//! encoded natively from the batch in flight (CSV and JSON Lines with
//! arrow, Parquet with parquet), staged under a hidden name and published
//! by an atomic rename.

use super::in_place::{ResumeFiles, open_in_place};
use crate::contract::sink::weir::plugin::files::{self, FileOptions, Format};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use wasmtime::component::{HasData, Linker};

/// A sink's files: its granted directory and the files it has open.
pub struct Files {
    sink: String,
    root: Option<PathBuf>,
    /// The schema of the batches in flight (all the sink's input columns).
    schema: SchemaRef,
    open: HashMap<u32, OpenFile>,
    next: u32,
    /// What files written in place become when created: emptied (a fresh
    /// run) or cut back to their lengths at the checkpoint resumed from.
    resume: ResumeFiles,
    /// Set when a write found the device full: an outage, not a bad row.
    full: Option<String>,
}

struct OpenFile {
    /// Where the file ends up.
    path: PathBuf,
    /// `path` relative to the granted directory, as the sink named it.
    relative: String,
    /// Written in place (not staged) as CSV or JSON Lines: rows are visible
    /// as appended, and a checkpoint records the file's length.
    in_place: bool,
    /// Where it is written: `path` itself, or a hidden name beside it.
    written: PathBuf,
    columns: Option<Vec<usize>>,
    writer: Writer,
    rows: u64,
    header: bool,
    /// Set by `Watched` when a write found the device full.
    full: Arc<AtomicBool>,
}

/// A file that remembers whether a write found its device full (or the
/// quota used up): arrow's CSV writer turns I/O errors into text, and a
/// full disk must be told apart from a row that cannot be written.
struct Watched {
    file: File,
    full: Arc<AtomicBool>,
}

/// No space left on the device, or no quota left.
fn is_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl Watched {
    fn watch<T>(&self, result: std::io::Result<T>) -> std::io::Result<T> {
        if let Err(e) = &result
            && is_full(e)
        {
            self.full.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl Write for Watched {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let result = self.file.write(buf);
        self.watch(result)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let result = self.file.flush();
        self.watch(result)
    }
}

enum Writer {
    /// arrow's CSV writer flushes to the file after every batch.
    Csv(Box<arrow::csv::Writer<Watched>>),
    Jsonl(arrow::json::LineDelimitedWriter<BufWriter<Watched>>),
    Parquet(Box<ArrowWriter<Watched>>),
    Finished,
}

/// What the capability sees during a call: the sink's files and the batch
/// being written (none outside `write`).
pub struct FilesView<'a> {
    pub files: &'a mut Files,
    pub batch: Option<&'a RecordBatch>,
}

struct FilesData;
impl HasData for FilesData {
    type Data<'a> = FilesView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> FilesView<'_>,
) -> wasmtime::Result<()> {
    files::add_to_linker::<T, FilesData>(linker, get)
}

impl Files {
    /// `root`: the directory granted to the sink, if any.
    pub fn new(sink: &str, root: Option<PathBuf>, schema: SchemaRef) -> Self {
        Files {
            sink: sink.to_string(),
            root,
            schema,
            open: HashMap::new(),
            next: 0,
            resume: ResumeFiles::Fresh,
            full: None,
        }
    }

    /// A device that filled up under one of the sink's files: the epoch
    /// is aborted and retried from the checkpoint (the file is cut back to
    /// its length there), as when a database goes away.
    pub fn outage(&self) -> Option<String> {
        self.full.clone()
    }

    /// Notes an outage if `result` failed on a full device.
    fn watch<T>(&mut self, handle: u32, result: Result<T, String>) -> Result<T, String> {
        if let Err(e) = &result
            && let Some(open) = self.open.get(&handle)
            && open.full.load(Ordering::Relaxed)
        {
            tracing::warn!(sink = %self.sink, file = %open.written.display(), error = %e, "The device under a sink's file is full; the epoch will be retried.");
            self.full.get_or_insert_with(|| {
                format!("no space left on the device of {}", open.written.display())
            });
        }
        result
    }

    /// Files written in place are resumed as `resume` says, not emptied.
    pub fn resume_as(&mut self, resume: ResumeFiles) {
        self.resume = resume;
    }

    /// The lengths of the files written in place, by relative path, synced
    /// to disk: what a checkpoint records, and a resumed run cuts back to.
    pub fn marks(&self) -> Result<BTreeMap<String, u64>, String> {
        let mut marks = BTreeMap::new();
        for file in self.open.values().filter(|f| f.in_place) {
            let shown = file.written.display();
            // Every append has reached the file (see `OpenFile::write`);
            // syncing any handle of it syncs its data.
            File::open(&file.written)
                .and_then(|f| f.sync_data())
                .map_err(|e| format!("cannot sync {shown}: {e}"))?;
            marks.insert(file.relative.clone(), file_len(&file.written)?);
        }
        Ok(marks)
    }

    /// Deletes every staged file not yet published: the run failed.
    pub fn discard_all(&mut self) {
        for (_, file) in self.open.drain() {
            if file.written != file.path {
                let _ = std::fs::remove_file(&file.written);
            }
        }
    }

    fn resolve(&self, relative: &str) -> Result<PathBuf, String> {
        let Some(root) = &self.root else {
            return Err(format!(
                "sink `{}` has no directory granted; set `directory` in its pipeline entry",
                self.sink
            ));
        };
        let path = Path::new(relative);
        if relative.is_empty()
            || path
                .components()
                .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "file path {relative:?} must stay inside the granted directory {} (no `..`, no absolute paths)",
                root.display()
            ));
        }
        Ok(root.join(path))
    }
}

fn open_file(path: &Path) -> Result<File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create folder {}: {e}", dir.display()))?;
    }
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

/// Rows and columns of the batch in flight, as the call asks.
fn select(
    batch: Option<&RecordBatch>,
    rows: Option<Vec<u32>>,
    columns: Option<&[usize]>,
) -> Result<RecordBatch, String> {
    let batch = super::rows::in_flight(batch, "rows can only be written")?;
    let rows = rows
        .map(|r| super::rows::named(batch, Some(r)))
        .transpose()?;
    super::rows::select(batch, rows.as_deref(), columns)
}

impl OpenFile {
    fn write(&mut self, batch: &RecordBatch) -> Result<u64, String> {
        let shown = self.path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| format!("cannot write {shown}: {e}");
        self.rows += batch.num_rows() as u64;
        match &mut self.writer {
            Writer::Csv(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                file_len(&self.written)
            }
            Writer::Jsonl(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                // Rows become visible batch by batch (durable at `finish`).
                w.get_mut().flush().map_err(|e| fail(&e))?;
                file_len(&self.written)
            }
            Writer::Parquet(w) => {
                w.write(batch).map_err(|e| fail(&e))?;
                Ok((w.bytes_written() + w.in_progress_size()) as u64)
            }
            Writer::Finished => Err(format!("{shown} is already finished")),
        }
    }

    fn finish(&mut self, schema: &SchemaRef) -> Result<(), String> {
        if self.rows == 0 && self.header && matches!(self.writer, Writer::Csv(_)) {
            // An empty result still gets its header line.
            let empty = RecordBatch::new_empty(schema.clone());
            self.write(&empty)?;
        }
        let shown = self.path.display().to_string();
        let fail = |e: &dyn std::fmt::Display| format!("cannot finish {shown}: {e}");
        let file = match std::mem::replace(&mut self.writer, Writer::Finished) {
            Writer::Csv(w) => (*w).into_inner(),
            Writer::Jsonl(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner().into_inner().map_err(|e| fail(&e))?
            }
            Writer::Parquet(w) => w.into_inner().map_err(|e| fail(&e))?,
            Writer::Finished => return Ok(()),
        };
        let synced = file.file.sync_all();
        file.watch(synced).map_err(|e| fail(&e))
    }
}

fn file_len(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("cannot read the size of {}: {e}", path.display()))
}

impl files::Host for FilesView<'_> {
    fn create(&mut self, path: String, options: FileOptions) -> Result<u32, String> {
        let files = &mut *self.files;
        let target = files.resolve(&path)?;
        let written = if options.staged {
            let name = target.file_name().expect("checked to be a normal path");
            target.with_file_name(format!(".{}.weir-staging", name.to_string_lossy()))
        } else {
            target.clone()
        };
        let columns: Option<Vec<usize>> = options
            .columns
            .map(|c| c.into_iter().map(|i| i as usize).collect());
        let schema = match &columns {
            Some(c) => std::sync::Arc::new(files.schema.project(c).map_err(|e| e.to_string())?),
            None => files.schema.clone(),
        };
        let in_place = !options.staged && options.format != Format::Parquet;
        let (file, header) = if in_place {
            let (file, len) = open_in_place(&written, files.resume.file(&path)).map_err(|e| {
                if is_full(&e) {
                    files.full.get_or_insert_with(|| {
                        format!("no space left on the device of {}", written.display())
                    });
                }
                format!("cannot open {}: {e}", written.display())
            })?;
            // A file resumed with rows in it has its header already.
            (file, options.header && len == 0)
        } else {
            if options.format == Format::Parquet
                && files.resume != ResumeFiles::Fresh
                && target.exists()
            {
                tracing::warn!(sink = %files.sink, file = %target.display(), "A single Parquet file cannot be appended to: this run replaces it, and rows of earlier runs are in it no longer. Leave `path` out to write one file per epoch.");
            }
            (open_file(&written)?, options.header)
        };
        let full = Arc::new(AtomicBool::new(false));
        let file = Watched {
            file,
            full: full.clone(),
        };
        let writer = match options.format {
            Format::Csv => Writer::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(header)
                    .with_delimiter(u8::try_from(options.delimiter).map_err(|_| {
                        format!("the CSV delimiter {:?} is not one byte", options.delimiter)
                    })?)
                    .build(file),
            )),
            Format::Jsonl => {
                Writer::Jsonl(arrow::json::LineDelimitedWriter::new(BufWriter::new(file)))
            }
            Format::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                Writer::Parquet(Box::new(
                    ArrowWriter::try_new(file, schema, Some(props))
                        .map_err(|e| format!("cannot start Parquet file {path}: {e}"))?,
                ))
            }
        };
        let handle = files.next;
        files.next += 1;
        files.open.insert(
            handle,
            OpenFile {
                path: target,
                relative: path,
                in_place,
                written,
                columns,
                writer,
                rows: 0,
                header,
                full,
            },
        );
        Ok(handle)
    }

    fn append(&mut self, file: u32, rows: Option<Vec<u32>>) -> Result<u64, String> {
        let open = self
            .files
            .open
            .get_mut(&file)
            .ok_or_else(|| format!("no open file has handle {file}"))?;
        let batch = select(self.batch, rows, open.columns.as_deref())?;
        let written = open.write(&batch);
        self.files.watch(file, written)
    }

    fn finish(&mut self, file: u32) -> Result<(), String> {
        let files = &mut *self.files;
        let open = files
            .open
            .get_mut(&file)
            .ok_or_else(|| format!("no open file has handle {file}"))?;
        let schema = match &open.columns {
            Some(c) => std::sync::Arc::new(files.schema.project(c).map_err(|e| e.to_string())?),
            None => files.schema.clone(),
        };
        let finished = open.finish(&schema);
        files.watch(file, finished)
    }

    fn publish(&mut self, file: u32) -> Result<(), String> {
        let open = self
            .files
            .open
            .remove(&file)
            .ok_or_else(|| format!("no open file has handle {file}"))?;
        if !matches!(open.writer, Writer::Finished) {
            return Err(format!(
                "{} must be finished before it is published",
                open.path.display()
            ));
        }
        if open.written != open.path {
            std::fs::rename(&open.written, &open.path).map_err(|e| {
                format!(
                    "cannot move {} to {}: {e}",
                    open.written.display(),
                    open.path.display()
                )
            })?;
        }
        Ok(())
    }

    fn discard(&mut self, file: u32) {
        if let Some(open) = self.files.open.remove(&file)
            && open.written != open.path
        {
            let _ = std::fs::remove_file(&open.written);
        }
    }

    fn print(&mut self, rows: Option<Vec<u32>>) -> Result<(), String> {
        let batch = select(self.batch, rows, None)?;
        let stdout = std::io::stdout();
        let mut writer = arrow::json::LineDelimitedWriter::new(stdout.lock());
        writer
            .write(&batch)
            .and_then(|_| writer.finish())
            .map_err(|e| format!("cannot write to standard output: {e}"))
    }
}

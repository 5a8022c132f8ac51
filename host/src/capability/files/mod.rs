//! The `files` capability: files in the one directory granted to a sink,
//! a local folder or an object-store prefix, encoded natively from the
//! batch in flight (CSV and JSON Lines with arrow, Parquet with parquet).
//! A staged file is written under a hidden name (an object: as an upload
//! not yet completed) and made visible at `publish`, atomically.

mod delta;
mod writer;

use super::in_place::{ResumeFiles, open_in_place};
use crate::contract::sink::weir::plugin::files::{self, FileOptions, Format};
use crate::storage::{self, Place, Upload};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Component, Path};
use wasmtime::component::{HasData, Linker};
use writer::{OpenFile, Out, Target, Trouble, Watched, Writer, file_len, is_full};

/// A sink's files: its granted directory and the files it has open.
pub struct Files {
    sink: String,
    root: Option<Place>,
    /// The schema of the batches in flight (all the sink's input columns).
    schema: SchemaRef,
    open: HashMap<u32, OpenFile>,
    next: u32,
    /// What files written in place become when created: emptied (a fresh
    /// run) or cut back to their lengths at the checkpoint resumed from.
    resume: ResumeFiles,
    /// Set when a write found the device full or the store unreachable:
    /// an outage, not a bad row.
    outage: Option<String>,
    /// `builtin:delta`: the table's log, which the epoch's published files
    /// are committed to, and a token that names this run's files apart
    /// from a replay's.
    delta: Option<(delta::DeltaLog, String)>,
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
    pub fn new(sink: &str, root: Option<Place>, schema: SchemaRef) -> Self {
        Files {
            sink: sink.to_string(),
            root,
            schema,
            open: HashMap::new(),
            next: 0,
            resume: ResumeFiles::Fresh,
            outage: None,
            delta: None,
        }
    }

    /// Makes the granted directory a Delta table (`builtin:delta`): its log
    /// is read (and checked against the sink's schema) now; `app_id` (the
    /// sink's id, with checkpoints) makes its commits exactly-once.
    pub fn as_delta_table(
        &mut self,
        partition_by: &[String],
        app_id: Option<String>,
    ) -> Result<(), String> {
        let root = self.root.as_ref().ok_or_else(|| {
            format!(
                "sink `{}` has no directory granted; set `directory` to the table's folder",
                self.sink
            )
        })?;
        let log = delta::DeltaLog::open(root, &self.schema, partition_by, app_id)?;
        let token = format!("{:x}", delta::now_ms());
        self.delta = Some((log, token));
        Ok(())
    }

    /// After the sink committed `epoch`: the files it published become the
    /// table's next version (a Delta table; nothing to do otherwise).
    pub fn commit_table(&mut self, epoch: Option<u64>) -> Result<(), String> {
        let Some((log, _)) = &mut self.delta else {
            return Ok(());
        };
        log.commit(epoch).map_err(|(message, retryable)| {
            if retryable {
                self.outage.get_or_insert_with(|| message.clone());
            }
            message
        })
    }

    /// Checks that an object-store directory can be listed (the bucket
    /// exists, the credentials are accepted): `Err((message, retryable))`.
    pub fn check(&self) -> Result<(), (String, bool)> {
        let Some(Place::Object(place)) = &self.root else {
            return Ok(());
        };
        storage::block_on(place.store.list_with_delimiter(Some(&place.prefix)))
            .map(|_| ())
            .map_err(|e| {
                (
                    format!("cannot list {}: {e}", place.url),
                    storage::retryable(&e),
                )
            })
    }

    /// A device that filled up, or a store that failed, under one of the
    /// sink's files: the epoch is aborted and retried from the checkpoint
    /// (a file in place is cut back to its length there), as when a
    /// database goes away.
    pub fn outage(&self) -> Option<String> {
        self.outage.clone()
    }

    /// Notes an outage if `result` failed on one.
    fn watch<T>(&mut self, trouble: &Trouble, result: Result<T, String>) -> Result<T, String> {
        if let Err(e) = &result
            && let Some(reason) = trouble.get()
        {
            tracing::warn!(sink = %self.sink, error = %e, "{reason}; the epoch will be retried.");
            self.outage.get_or_insert_with(|| reason.clone());
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
            let Target::Local { written, .. } = &file.place else {
                unreachable!("objects are never written in place")
            };
            // Every append has reached the file (see `OpenFile::write`);
            // syncing any handle of it syncs its data.
            File::open(written)
                .and_then(|f| f.sync_data())
                .map_err(|e| format!("cannot sync {}: {e}", file.shown))?;
            marks.insert(file.relative.clone(), file_len(written)?);
        }
        Ok(marks)
    }

    /// Deletes every staged file not yet published: the run failed.
    pub fn discard_all(&mut self) {
        for (_, file) in self.open.drain() {
            file.discard();
        }
        if let Some((log, _)) = &mut self.delta {
            log.discard();
        }
    }

    /// The granted directory, with `relative` checked to stay inside it.
    fn resolve(&self, relative: &str) -> Result<&Place, String> {
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
                root.describe()
            ));
        }
        Ok(root)
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

impl files::Host for FilesView<'_> {
    fn create(&mut self, path: String, options: FileOptions) -> Result<u32, String> {
        let files = &mut *self.files;
        let root = files.resolve(&path)?.clone();
        // A Delta table's files are named per run: a replayed epoch writes
        // new files, never over ones an earlier commit references.
        let path = match &files.delta {
            Some((_, token)) => match path.rsplit_once('.') {
                Some((stem, extension)) => format!("{stem}-{token}.{extension}"),
                None => format!("{path}-{token}"),
            },
            None => path,
        };
        let columns: Option<Vec<usize>> = options
            .columns
            .map(|c| c.into_iter().map(|i| i as usize).collect());
        let schema = match &columns {
            Some(c) => std::sync::Arc::new(files.schema.project(c).map_err(|e| e.to_string())?),
            None => files.schema.clone(),
        };
        let in_place = !options.staged && options.format != Format::Parquet;
        let trouble = Trouble::default();
        let (out, shown, place, header, size) = match &root {
            Place::Object(location) => {
                if in_place {
                    return Err(format!(
                        "{}: objects are written whole, so a file cannot grow in place there; \
                         leave `path` out (one file per epoch) or set `staged = true` (one file, visible at the end of the run)",
                        location.url
                    ));
                }
                let upload = Upload::new(location, storage::child(&location.prefix, &path));
                let shown = upload.url();
                (
                    Out::Upload(upload),
                    shown,
                    Target::Object,
                    options.header,
                    0,
                )
            }
            Place::Local(dir) => {
                let target = dir.join(&path);
                let written = if options.staged {
                    let name = target.file_name().expect("checked to be a normal path");
                    target.with_file_name(format!(".{}.weir-staging", name.to_string_lossy()))
                } else {
                    target.clone()
                };
                let (file, header, size) = if in_place {
                    let (file, len) =
                        open_in_place(&written, files.resume.file(&path)).map_err(|e| {
                            if is_full(&e) {
                                files.outage.get_or_insert_with(|| {
                                    format!("no space left on the device of {}", written.display())
                                });
                            }
                            format!("cannot open {}: {e}", written.display())
                        })?;
                    // A file resumed with rows in it has its header already.
                    (file, options.header && len == 0, len)
                } else {
                    if options.format == Format::Parquet
                        && files.resume != ResumeFiles::Fresh
                        && target.exists()
                    {
                        tracing::warn!(sink = %files.sink, file = %target.display(), "A single Parquet file cannot be appended to: this run replaces it, and rows of earlier runs are in it no longer. Leave `path` out to write one file per epoch.");
                    }
                    (open_file(&written)?, options.header, 0)
                };
                let shown = target.display().to_string();
                let place = Target::Local {
                    path: target,
                    written,
                };
                (Out::File(file), shown, place, header, size)
            }
        };
        let size = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(size));
        let out = Watched {
            out,
            shown: shown.clone(),
            trouble: trouble.clone(),
            size: size.clone(),
        };
        let writer = match options.format {
            Format::Csv => Writer::Csv(Box::new(
                arrow::csv::WriterBuilder::new()
                    .with_header(header)
                    .with_delimiter(u8::try_from(options.delimiter).map_err(|_| {
                        format!("the CSV delimiter {:?} is not one byte", options.delimiter)
                    })?)
                    .build(out),
            )),
            Format::Jsonl => Writer::Jsonl(Box::new(arrow::json::LineDelimitedWriter::new(
                BufWriter::new(out),
            ))),
            Format::Parquet => {
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(parquet::basic::Compression::SNAPPY)
                    .build();
                Writer::Parquet(Box::new(
                    ArrowWriter::try_new(out, schema, Some(props))
                        .map_err(|e| format!("cannot start Parquet file {path}: {e}"))?,
                ))
            }
        };
        let handle = files.next;
        files.next += 1;
        files.open.insert(
            handle,
            OpenFile {
                shown,
                relative: path,
                in_place,
                place,
                columns,
                writer,
                rows: 0,
                header,
                trouble,
                size,
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
        let trouble = open.trouble.clone();
        self.files.watch(&trouble, written)
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
        let trouble = open.trouble.clone();
        files.watch(&trouble, finished)
    }

    fn publish(&mut self, file: u32) -> Result<(), String> {
        let open = self
            .files
            .open
            .remove(&file)
            .ok_or_else(|| format!("no open file has handle {file}"))?;
        let trouble = open.trouble.clone();
        let (relative, size) = (open.relative.clone(), open.size.clone());
        let published = open.publish();
        if published.is_ok()
            && let Some((log, _)) = &mut self.files.delta
        {
            log.add(&relative, size.load(std::sync::atomic::Ordering::Relaxed));
        }
        self.files.watch(&trouble, published)
    }

    fn discard(&mut self, file: u32) {
        if let Some(open) = self.files.open.remove(&file) {
            open.discard();
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

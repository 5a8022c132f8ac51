//! The files source: one file, a directory whose files are read in name
//! order, or the objects under an object-store prefix, as Spark's file
//! stream source reads them. In a continuous run the place is listed again
//! every poll interval and new files are read; files must appear whole
//! (written elsewhere, then moved in; an object store's put is whole).
//! Text formats may be gzip- or zstd-compressed; Parquet is read by column.

mod listing;
mod parquet;
#[cfg(test)]
mod tests;

use super::decode::{Decoder, Line};
use super::{
    Done, Mark, Position, RunMode, SeenFile, Source, SourceBatch, SourceError, SourceProgress,
};
use crate::config::{Compression, FileFormat, FilesConfig, ddl};
use crate::dead_letter::DeadLetter;
use crate::envelope::Envelope;
use arrow::datatypes::SchemaRef;
use listing::{Found, Listing};
use parquet::ParquetFile;
use std::collections::{HashSet, VecDeque};
use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub struct FilesSource {
    listing: Listing,
    format: FileFormat,
    compression: Compression,
    /// Decodes lines of text (csv, jsonl, lines); Parquet has its own reader.
    decoder: Decoder,
    schema: SchemaRef,
    header: bool,
    batch_size: usize,
    poll_interval: Duration,
    mode: RunMode,
    max_files: usize,
    max_age_ms: i64,
    /// Files queued, in name order: what a checkpoint records.
    pending: VecDeque<SeenFile>,
    /// Files a listing found beyond `max_files`: queued when `pending`
    /// empties; not in a checkpoint (the next run's listing finds them).
    backlog: VecDeque<SeenFile>,
    /// Every file queued, open or read and not yet forgotten.
    seen: HashSet<String>,
    current: Option<OpenFile>,
    /// Files read to their end, in order.
    read: Vec<SeenFile>,
    forget_before: i64,
    /// Old files a listing found unseen and skipped (each is warned once).
    skipped_old: HashSet<String>,
    /// Batch sizes a replayed epoch must reproduce.
    replay: VecDeque<u64>,
    /// A bounded run lists once, at its start.
    listed_once: bool,
    bounded: bool,
    /// For progress: bytes read by this run, of the bytes of the files queued.
    bytes_read: u64,
    bytes_queued: u64,
}

struct OpenFile {
    file: SeenFile,
    name: Arc<str>,
    reader: Reader,
    /// Lines (or Parquet rows) returned so far, header included.
    position: i64,
    /// Bytes of it read so far (of text, after decompression).
    bytes: u64,
}

enum Reader {
    Lines(Box<dyn BufRead + Send>),
    Parquet(ParquetFile),
}

impl FilesSource {
    pub fn new(config: &FilesConfig, mode: RunMode) -> Result<Self, SourceError> {
        let listing = Listing::open(&config.path, &config.storage)?;
        let declared = match &config.schema {
            Some(ddl_text) => Some(ddl::parse_schema(ddl_text).map_err(SourceError::Config)?),
            None => None,
        };
        let decoder_format = match config.format {
            FileFormat::Parquet => FileFormat::Lines,
            other => other,
        };
        let decoder = Decoder::new(decoder_format, declared.clone(), config.delimiter);
        let schema = match (config.format, declared) {
            (FileFormat::Parquet, Some(schema)) => Arc::new(schema),
            // Without a declared schema, the first file's columns.
            (FileFormat::Parquet, None) => Arc::new(first_parquet_schema(&listing)?),
            _ => decoder.schema(),
        };
        Ok(FilesSource {
            listing,
            format: config.format,
            compression: config.compression,
            decoder,
            schema,
            header: config.header && config.format == FileFormat::Csv,
            batch_size: config.batch_size,
            poll_interval: Duration::from_millis(config.poll_interval_ms),
            mode,
            max_files: config.max_files_per_batch.unwrap_or(usize::MAX),
            max_age_ms: config.max_file_age_ms().map_err(SourceError::Config)?,
            pending: VecDeque::new(),
            backlog: VecDeque::new(),
            seen: HashSet::new(),
            current: None,
            read: Vec::new(),
            forget_before: i64::MIN,
            skipped_old: HashSet::new(),
            replay: VecDeque::new(),
            listed_once: false,
            bounded: config.bounded,
            bytes_read: 0,
            bytes_queued: 0,
        })
    }

    /// Adds the files not seen before to the backlog.
    fn list(&mut self) -> Result<(), SourceError> {
        self.listed_once = true;
        for Found {
            name,
            size,
            modified_ms,
        } in self.listing.list()?
        {
            if self.seen.contains(&name) {
                continue;
            }
            if modified_ms < self.forget_before {
                if self.skipped_old.insert(name.clone()) {
                    tracing::warn!(file = %name, "A new file is older than max_file_age before the newest file read; it is taken as read and skipped (set max_file_age to read it).");
                }
                continue;
            }
            self.seen.insert(name.clone());
            self.bytes_queued += size;
            self.backlog.push_back(SeenFile {
                name,
                modified_ms,
                size,
            });
        }
        Ok(())
    }

    /// Queues up to `max_files` files from the backlog once the queue is empty.
    fn refill(&mut self) {
        if self.pending.is_empty() {
            let take = self.backlog.len().min(self.max_files);
            self.pending.extend(self.backlog.drain(..take));
        }
    }

    /// Forgets read files modified long before the newest one read, so the
    /// set of files read stays bounded; never past a file still to read.
    fn forget_old(&mut self) {
        let Some(newest) = self.read.iter().map(|f| f.modified_ms).max() else {
            return;
        };
        let unread = self
            .pending
            .iter()
            .chain(&self.backlog)
            .chain(self.current.as_ref().map(|c| &c.file))
            .map(|f| f.modified_ms)
            .min()
            .unwrap_or(i64::MAX);
        let bound = newest.saturating_sub(self.max_age_ms).min(unread);
        if bound <= self.forget_before {
            return;
        }
        self.forget_before = bound;
        let seen = &mut self.seen;
        self.read.retain(|f| {
            let keep = f.modified_ms >= bound;
            if !keep {
                seen.remove(&f.name);
            }
            keep
        });
    }

    /// Opens the next queued file; `Ok(None)` if none is queued,
    /// `Ok(Some(Err(letter)))` if it cannot be read as its format.
    fn open_next(&mut self) -> Result<Option<Result<(), DeadLetter>>, SourceError> {
        let Some(file) = self.pending.pop_front() else {
            return Ok(None);
        };
        tracing::debug!(file = %file.name, "Reading a new file.");
        self.open_at(file, 0).map(Some)
    }

    /// Opens the next queued file, or refuses it with a dead letter; `false`
    /// when none is queued.
    fn open_or_refuse(&mut self, rejected: &mut Vec<DeadLetter>) -> Result<bool, SourceError> {
        match self.open_next()? {
            None => Ok(false),
            Some(Ok(())) => Ok(true),
            Some(Err(letter)) => {
                rejected.push(letter);
                Ok(true)
            }
        }
    }

    /// Opens `file` and skips its first `position` rows (Parquet; lines are
    /// skipped by [`FilesSource::reopen`]). A file that is not its format is
    /// given up with a dead letter; a store that fails is an error.
    fn open_at(
        &mut self,
        file: SeenFile,
        position: i64,
    ) -> Result<Result<(), DeadLetter>, SourceError> {
        let name: Arc<str> = Arc::from(file.name.as_str());
        let reader = match self.format {
            FileFormat::Parquet => {
                let bytes = self.listing.bytes(&file.name)?;
                match ParquetFile::open(bytes, &self.schema, position as usize) {
                    Ok(reader) => Reader::Parquet(reader),
                    Err(e) => {
                        let letter = DeadLetter {
                            stage: self.format.stage().to_string(),
                            reason: format!("not a readable Parquet file: {e}"),
                            source: file.name.clone(),
                            offset: 0,
                            input: serde_json::Value::Null,
                        };
                        self.bytes_read += file.size;
                        self.finished(file);
                        return Ok(Err(letter));
                    }
                }
            }
            _ => Reader::Lines(self.listing.lines(&file.name, self.compression)?),
        };
        self.current = Some(OpenFile {
            file,
            name,
            reader,
            position,
            bytes: 0,
        });
        Ok(Ok(()))
    }

    /// `file` has been read to its end (or given up as unreadable).
    fn finished(&mut self, file: SeenFile) {
        self.read.push(file);
        self.forget_old();
    }

    fn close_current(&mut self) {
        let done = self.current.take().expect("a file is open");
        self.bytes_read += done.file.size;
        self.finished(done.file);
    }

    /// How many records the next batch holds: a replayed batch's count, or
    /// up to `batch_size`.
    fn limit(&mut self) -> usize {
        match self.replay.pop_front() {
            Some(records) => records as usize,
            None => self.batch_size,
        }
    }

    /// Reads up to `limit` lines from the queued files.
    fn read_lines(
        &mut self,
        limit: usize,
        rejected: &mut Vec<DeadLetter>,
    ) -> Result<Vec<Line>, SourceError> {
        let mut lines = Vec::new();
        let mut buffer = Vec::new();
        let (stage, compression) = (self.format.stage(), self.compression);
        while lines.len() + rejected.len() < limit {
            if self.current.is_none() {
                if !self.open_or_refuse(rejected)? {
                    break;
                }
                continue;
            }
            let file = self.current.as_mut().expect("opened above");
            let Reader::Lines(reader) = &mut file.reader else {
                unreachable!("a text format reads lines")
            };
            buffer.clear();
            let read = match reader.read_until(b'\n', &mut buffer) {
                Ok(read) => read,
                Err(e) => {
                    let compressed = compression != Compression::None
                        && (compression != Compression::Auto
                            || file.name.ends_with(".gz")
                            || file.name.ends_with(".zst")
                            || file.name.ends_with(".zstd"));
                    if e.kind() == std::io::ErrorKind::ConnectionReset {
                        return Err(SourceError::Unavailable {
                            path: file.name.to_string(),
                            message: e.to_string(),
                        });
                    }
                    if !compressed {
                        return Err(SourceError::Io {
                            path: file.name.to_string(),
                            source: e,
                        });
                    }
                    // Corrupt compressed data: the rest of the file is lost.
                    rejected.push(DeadLetter {
                        stage: stage.to_string(),
                        reason: format!(
                            "cannot decompress the file after line {}: {e}; the rest of it is skipped",
                            file.position
                        ),
                        source: file.name.to_string(),
                        offset: file.position + 1,
                        input: serde_json::Value::Null,
                    });
                    self.close_current();
                    continue;
                }
            };
            if read == 0 {
                self.close_current();
                continue;
            }
            file.bytes += read as u64;
            file.position += 1;
            if self.header && file.position == 1 {
                continue;
            }
            while matches!(buffer.last(), Some(b'\n' | b'\r')) {
                buffer.pop();
            }
            // Invalid UTF-8 is kept (lossily) for the dead-letter, which
            // the decoder sends it to.
            let (text, valid_utf8) = match String::from_utf8(std::mem::take(&mut buffer)) {
                Ok(t) => (t, true),
                Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
            };
            lines.push(Line {
                source: file.name.clone(),
                offset: file.position,
                text,
                valid_utf8,
            });
        }
        Ok(lines)
    }

    /// Reads up to `limit` rows from the queued Parquet files.
    fn read_parquet(
        &mut self,
        limit: usize,
        rejected: &mut Vec<DeadLetter>,
    ) -> Result<Option<Envelope>, SourceError> {
        let mut batches = Vec::new();
        let (mut sources, mut offsets) = (Vec::new(), Vec::new());
        while offsets.len() + rejected.len() < limit {
            if self.current.is_none() {
                if !self.open_or_refuse(rejected)? {
                    break;
                }
                continue;
            }
            let want = limit - offsets.len() - rejected.len();
            let file = self.current.as_mut().expect("opened above");
            let Reader::Parquet(reader) = &mut file.reader else {
                unreachable!("Parquet is read by rows")
            };
            match reader.read(want) {
                Ok(Some(batch)) => {
                    let first = file.position + 1;
                    file.position += batch.num_rows() as i64;
                    sources.extend(std::iter::repeat_n(file.name.clone(), batch.num_rows()));
                    offsets.extend(first..=file.position);
                    batches.push(batch);
                }
                Ok(None) => self.close_current(),
                Err(e) => {
                    rejected.push(DeadLetter {
                        stage: "decode:parquet".to_string(),
                        reason: format!(
                            "cannot read the file after row {}: {e}; the rest of it is skipped",
                            file.position
                        ),
                        source: file.name.to_string(),
                        offset: file.position + 1,
                        input: serde_json::Value::Null,
                    });
                    self.close_current();
                }
            }
        }
        if batches.is_empty() {
            return Ok(None);
        }
        let batch = arrow::compute::concat_batches(&self.schema, &batches)
            .map_err(|e| SourceError::Config(e.to_string()))?;
        let sources: Vec<&str> = sources.iter().map(|s| &**s).collect();
        Ok(Some(Envelope::new(batch, sources, offsets)))
    }

    /// Waits up to one poll interval, returning early if asked to stop.
    fn wait(&self) {
        let until = Instant::now() + self.poll_interval;
        while Instant::now() < until && !self.mode.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(self.poll_interval));
        }
    }
}

/// The columns of the first Parquet file there is.
fn first_parquet_schema(listing: &Listing) -> Result<arrow::datatypes::Schema, SourceError> {
    let first = listing.list()?.into_iter().next().ok_or_else(|| {
        SourceError::Config(format!(
            "{} has no Parquet file yet to take the columns from; declare them with `schema`",
            listing.describe()
        ))
    })?;
    let bytes = listing.bytes(&first.name)?;
    parquet::schema_of(bytes).map_err(|e| {
        SourceError::Config(format!(
            "{} is not a readable Parquet file: {e}; declare the columns with `schema`",
            first.name
        ))
    })
}

impl Source for FilesSource {
    fn position(&self) -> Position {
        Position::Files {
            read: self.read.clone(),
            current: self.current.as_ref().map(|f| (f.file.clone(), f.position)),
            pending: self.pending.iter().cloned().collect(),
            forget_before: self.forget_before,
        }
    }

    fn restore(&mut self, position: &Position) -> Result<(), SourceError> {
        let Position::Files {
            read,
            current,
            pending,
            forget_before,
        } = position
        else {
            return Err(SourceError::Restore(format!(
                "the checkpoint is of another kind of source: {position:?}"
            )));
        };
        self.read = read.clone();
        self.pending = pending.iter().cloned().collect();
        self.forget_before = *forget_before;
        self.seen = read
            .iter()
            .chain(pending)
            .chain(current.iter().map(|(f, _)| f))
            .map(|f| f.name.clone())
            .collect();
        self.backlog.clear();
        self.current = None;
        self.bytes_queued = self.pending.iter().map(|f| f.size).sum();
        self.bytes_read = 0;
        if let Some((file, position)) = current {
            self.bytes_queued += file.size;
            self.reopen(file.clone(), *position)?;
        }
        Ok(())
    }

    fn replay(&mut self, batches: &[Mark]) {
        self.replay = batches.iter().map(|m| m.records).collect();
    }

    fn progress(&self) -> SourceProgress {
        let read = self.read.len() as u64;
        let open = u64::from(self.current.is_some());
        SourceProgress {
            files: Some(Done {
                done: read,
                total: read + open + (self.pending.len() + self.backlog.len()) as u64,
            }),
            bytes: Some(Done {
                done: self.bytes_read
                    + self
                        .current
                        .as_ref()
                        .map_or(0, |f| f.bytes.min(f.file.size)),
                total: self.bytes_queued,
            }),
            partitions: Vec::new(),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn describe(&self) -> String {
        format!("files {}", self.listing.describe())
    }

    fn bounded(&self) -> bool {
        self.bounded
    }

    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        if self.mode.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let drained = self.current.is_none() && self.pending.is_empty() && self.backlog.is_empty();
        if !self.listed_once || (!self.mode.available_now && drained) {
            self.list()?;
        }
        self.refill();
        let limit = self.limit();
        let mut rejected = Vec::new();
        let rows = if self.format == FileFormat::Parquet {
            self.read_parquet(limit, &mut rejected)?
        } else {
            let lines = self.read_lines(limit, &mut rejected)?;
            (!lines.is_empty()).then(|| {
                let decoded = self.decoder.decode(lines);
                rejected.extend(decoded.rejected);
                let (sources, offsets): (Vec<&str>, Vec<i64>) =
                    decoded.origins.iter().map(|(s, o)| (&**s, *o)).unzip();
                Envelope::new(decoded.batch, sources, offsets)
            })
        };
        if rows.is_some() || !rejected.is_empty() {
            let rows = rows.unwrap_or_else(|| {
                Envelope::new(
                    arrow::array::RecordBatch::new_empty(self.schema.clone()),
                    vec![],
                    vec![],
                )
            });
            return Ok(Some(SourceBatch {
                rows,
                rejected,
                partition: 0,
            }));
        }
        if self.mode.available_now {
            return Ok(None);
        }
        self.wait();
        Ok(Some(SourceBatch::idle(self.schema.clone())))
    }
}

impl FilesSource {
    /// Opens `file` again and skips its first `position` lines or rows (read
    /// before the crash).
    fn reopen(&mut self, file: SeenFile, position: i64) -> Result<(), SourceError> {
        let name = file.name.clone();
        if let Err(letter) = self.open_at(file, position)? {
            return Err(SourceError::Restore(format!(
                "{name} was being read at the checkpoint and cannot be read now: {}",
                letter.reason
            )));
        }
        let OpenFile { reader, .. } = self.current.as_mut().expect("opened above");
        let Reader::Lines(reader) = reader else {
            // A Parquet file skips its rows when opened.
            return Ok(());
        };
        let mut skipped = Vec::new();
        for _ in 0..position {
            skipped.clear();
            let read =
                reader
                    .read_until(b'\n', &mut skipped)
                    .map_err(|source| SourceError::Io {
                        path: name.clone(),
                        source,
                    })?;
            if read == 0 {
                return Err(SourceError::Restore(format!(
                    "{name} has fewer than the {position} lines read before the crash; files must not change once in the directory"
                )));
            }
        }
        Ok(())
    }
}

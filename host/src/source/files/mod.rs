//! The files source: one file, a directory whose files are read in name
//! order, or the objects under an object-store prefix, as Spark's file
//! stream source reads them. In a continuous run the place is listed again
//! every poll interval and new files are read; files must appear whole
//! (written elsewhere, then moved in; an object store's put is whole).
//! Text formats may be gzip- or zstd-compressed; Parquet is read by column.

mod listing;
mod parquet;
mod queue;
#[cfg(test)]
mod tests;

use super::decode::{Decoder, Line};
use super::{
    Done, Mark, Position, RunMode, SeenFile, Source, SourceBatch, SourceError, SourceProgress,
};
use crate::config::{Compression, FileFormat, FilesConfig, ddl};
use crate::envelope::Envelope;
use crate::operator::DeadLetter;
use arrow::datatypes::SchemaRef;
use listing::Listing;
use parquet::ParquetFile;
use queue::FileQueue;
use std::collections::VecDeque;
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
    queue: FileQueue,
    current: Option<OpenFile>,
    /// Batch sizes a replayed epoch must reproduce.
    replay: VecDeque<u64>,
    /// A bounded run lists once, at its start.
    listed_once: bool,
    bounded: bool,
    /// For progress: bytes of the files this run read.
    bytes_read: u64,
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
            queue: FileQueue::new(
                config.max_files_per_batch.unwrap_or(usize::MAX),
                config.max_file_age_ms().map_err(SourceError::Config)?,
            ),
            current: None,
            replay: VecDeque::new(),
            listed_once: false,
            bounded: config.bounded,
            bytes_read: 0,
        })
    }

    /// Adds the files not seen before to the backlog.
    fn list(&mut self) -> Result<(), SourceError> {
        self.listed_once = true;
        self.queue.listed(self.listing.list()?);
        Ok(())
    }

    /// Opens the next queued file; `Ok(None)` if none is queued,
    /// `Ok(Some(Err(letter)))` if it cannot be read as its format.
    fn open_next(&mut self) -> Result<Option<Result<(), DeadLetter>>, SourceError> {
        let Some(file) = self.queue.pending.pop_front() else {
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
        let open = self.current.as_ref().map(|c| &c.file);
        self.queue.finished(file, open);
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
            read: self.queue.read.clone(),
            current: self.current.as_ref().map(|f| (f.file.clone(), f.position)),
            pending: self.queue.pending.iter().cloned().collect(),
            forget_before: self.queue.forget_before,
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
        let open = current.as_ref().map(|(f, _)| f);
        self.queue.restore(read, pending, *forget_before, open);
        self.current = None;
        self.bytes_read = 0;
        if let Some((file, position)) = current {
            self.reopen(file.clone(), *position)?;
        }
        Ok(())
    }

    fn replay(&mut self, batches: &[Mark]) {
        self.replay = batches.iter().map(|m| m.records).collect();
    }

    fn progress(&self) -> SourceProgress {
        let read = self.queue.read.len() as u64;
        let open = u64::from(self.current.is_some());
        let waiting = (self.queue.pending.len() + self.queue.backlog.len()) as u64;
        SourceProgress {
            files: Some(Done {
                done: read,
                total: read + open + waiting,
            }),
            bytes: Some(Done {
                done: self.bytes_read
                    + self
                        .current
                        .as_ref()
                        .map_or(0, |f| f.bytes.min(f.file.size)),
                total: self.queue.bytes_queued,
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
        let drained = self.current.is_none() && self.queue.drained();
        if !self.listed_once || (!self.mode.available_now && drained) {
            self.list()?;
        }
        self.queue.refill();
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

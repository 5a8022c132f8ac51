//! The files source: one file, or a directory whose files are read in name
//! order, as Spark's file stream source does. In a continuous run the
//! directory is listed again every poll interval and new files are read;
//! files must appear whole (written elsewhere, then moved in).

use super::decode::{Decoder, Line};
use super::{Done, Mark, Position, RunMode, Source, SourceBatch, SourceError, SourceProgress};
use crate::config::{FileFormat, FilesConfig, ddl};
use crate::envelope::Envelope;
use arrow::datatypes::SchemaRef;
use std::collections::{BTreeSet, VecDeque};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub struct FilesSource {
    path: PathBuf,
    decoder: Decoder,
    header: bool,
    batch_size: usize,
    poll_interval: Duration,
    mode: RunMode,
    /// Files found but not yet opened, in name order.
    pending: VecDeque<PathBuf>,
    /// Every file ever queued, so a listing does not queue it twice.
    seen: BTreeSet<PathBuf>,
    current: Option<OpenFile>,
    /// Files read to their end, in order (what a checkpoint records).
    read: Vec<Arc<str>>,
    /// Batch sizes a replayed epoch must reproduce.
    replay: VecDeque<u64>,
    /// A bounded run lists the directory once, at its start.
    listed_once: bool,
    bounded: bool,
    /// For progress: bytes read by this run, of the bytes of the files queued.
    bytes_read: u64,
    bytes_queued: u64,
}

struct OpenFile {
    name: Arc<str>,
    reader: std::io::BufReader<std::fs::File>,
    line_number: i64,
}

impl FilesSource {
    pub fn new(config: &FilesConfig, mode: RunMode) -> Result<Self, SourceError> {
        if !config.path.exists() {
            return Err(SourceError::Missing {
                path: config.path.display().to_string(),
            });
        }
        let schema = match &config.schema {
            Some(ddl_text) => Some(ddl::parse_schema(ddl_text).map_err(SourceError::Config)?),
            None => None,
        };
        Ok(FilesSource {
            path: config.path.clone(),
            decoder: Decoder::new(config.format, schema, config.delimiter),
            header: config.header && config.format == FileFormat::Csv,
            batch_size: config.batch_size,
            poll_interval: Duration::from_millis(config.poll_interval_ms),
            mode,
            pending: VecDeque::new(),
            seen: BTreeSet::new(),
            current: None,
            read: Vec::new(),
            replay: VecDeque::new(),
            listed_once: false,
            bounded: config.bounded,
            bytes_read: 0,
            bytes_queued: 0,
        })
    }

    /// Queues files not seen before. Hidden files (`.x`) and files starting
    /// with `_` are skipped, as Spark and Hadoop skip them.
    fn list(&mut self) -> Result<(), SourceError> {
        self.listed_once = true;
        let io = |source| SourceError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let mut found = Vec::new();
        if self.path.is_dir() {
            for entry in std::fs::read_dir(&self.path).map_err(io)? {
                let path = entry.map_err(io)?.path();
                let visible = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| !n.starts_with('.') && !n.starts_with('_'));
                if visible && path.is_file() {
                    found.push(path);
                }
            }
            found.sort();
        } else {
            found.push(self.path.clone());
        }
        for path in found {
            if self.seen.insert(path.clone()) {
                self.bytes_queued += file_size(&path);
                self.pending.push_back(path);
            }
        }
        Ok(())
    }

    fn open_next(&mut self) -> Result<bool, SourceError> {
        let Some(path) = self.pending.pop_front() else {
            return Ok(false);
        };
        let file = std::fs::File::open(&path).map_err(|source| SourceError::Io {
            path: path.display().to_string(),
            source,
        })?;
        tracing::debug!(file = %path.display(), "Reading a new file.");
        self.current = Some(OpenFile {
            name: Arc::from(path.display().to_string()),
            reader: std::io::BufReader::new(file),
            line_number: 0,
        });
        Ok(true)
    }

    /// Reads up to `batch_size` lines from the queued files (in a replay,
    /// exactly as many as the replayed batch held).
    fn read_lines(&mut self) -> Result<Vec<Line>, SourceError> {
        let limit = match self.replay.pop_front() {
            Some(records) => records as usize,
            None => self.batch_size,
        };
        let mut lines = Vec::new();
        let mut buffer = Vec::new();
        while lines.len() < limit {
            if self.current.is_none() && !self.open_next()? {
                break;
            }
            let file = self.current.as_mut().expect("opened above");
            buffer.clear();
            let read = file
                .reader
                .read_until(b'\n', &mut buffer)
                .map_err(|source| SourceError::Io {
                    path: file.name.to_string(),
                    source,
                })?;
            self.bytes_read += read as u64;
            if read == 0 {
                let done = self.current.take().expect("reading it");
                self.read.push(done.name);
                continue;
            }
            file.line_number += 1;
            if self.header && file.line_number == 1 {
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
                offset: file.line_number,
                text,
                valid_utf8,
            });
        }
        Ok(lines)
    }

    /// Waits up to one poll interval, returning early if asked to stop.
    fn wait(&self) {
        let until = Instant::now() + self.poll_interval;
        while Instant::now() < until && !self.mode.stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(self.poll_interval));
        }
    }
}

impl FilesSource {
    /// Opens `name` and skips its first `lines` lines (read before).
    fn reopen(&mut self, name: &str, lines: i64) -> Result<(), SourceError> {
        let io = |source| SourceError::Io {
            path: name.to_string(),
            source,
        };
        let file = std::fs::File::open(name).map_err(io)?;
        let mut reader = std::io::BufReader::new(file);
        let mut skipped = Vec::new();
        self.bytes_queued += file_size(Path::new(name));
        for _ in 0..lines {
            skipped.clear();
            let read = reader.read_until(b'\n', &mut skipped).map_err(io)?;
            self.bytes_read += read as u64;
            if read == 0 {
                return Err(SourceError::Restore(format!(
                    "{name} has fewer than the {lines} lines read before the crash; files must not change once in the directory"
                )));
            }
        }
        self.current = Some(OpenFile {
            name: Arc::from(name),
            reader,
            line_number: lines,
        });
        Ok(())
    }
}

impl Source for FilesSource {
    fn position(&self) -> Position {
        Position::Files {
            read: self.read.iter().map(|n| n.to_string()).collect(),
            current: self
                .current
                .as_ref()
                .map(|f| (f.name.to_string(), f.line_number)),
            pending: self
                .pending
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
        }
    }

    fn restore(&mut self, position: &Position) -> Result<(), SourceError> {
        let Position::Files {
            read,
            current,
            pending,
        } = position
        else {
            return Err(SourceError::Restore(format!(
                "the checkpoint is of another kind of source: {position:?}"
            )));
        };
        self.read = read.iter().map(|n| Arc::from(n.as_str())).collect();
        self.pending = pending.iter().map(PathBuf::from).collect();
        self.seen = read
            .iter()
            .chain(pending)
            .chain(current.iter().map(|(n, _)| n))
            .map(PathBuf::from)
            .collect();
        self.current = None;
        self.bytes_queued = self.pending.iter().map(|p| file_size(p)).sum();
        self.bytes_read = 0;
        if let Some((name, lines)) = current {
            self.reopen(name, *lines)?;
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
                total: read + open + self.pending.len() as u64,
            }),
            bytes: Some(Done {
                done: self.bytes_read,
                total: self.bytes_queued,
            }),
            partitions: Vec::new(),
        }
    }

    fn schema(&self) -> SchemaRef {
        self.decoder.schema()
    }

    fn describe(&self) -> String {
        format!("files {}", self.path.display())
    }

    fn bounded(&self) -> bool {
        self.bounded
    }

    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        if self.mode.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if !self.listed_once
            || (!self.mode.available_now && self.current.is_none() && self.pending.is_empty())
        {
            self.list()?;
        }
        let lines = self.read_lines()?;
        if !lines.is_empty() {
            let decoded = self.decoder.decode(lines);
            let (sources, offsets): (Vec<&str>, Vec<i64>) =
                decoded.origins.iter().map(|(s, o)| (&**s, *o)).unzip();
            let rows = Envelope::new(decoded.batch, sources, offsets);
            return Ok(Some(SourceBatch {
                rows,
                rejected: decoded.rejected,
                partition: 0,
            }));
        }
        if self.mode.available_now {
            return Ok(None);
        }
        self.wait();
        Ok(Some(SourceBatch::idle(self.decoder.schema())))
    }
}

/// A file's size, for progress (0 if it cannot be read: the read says why).
fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

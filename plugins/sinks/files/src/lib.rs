//! The bundled file sinks (`builtin:csv`, `builtin:jsonl`, `builtin:parquet`,
//! `builtin:stdout`): it decides file names, Hive-style partition folders
//! and rolling; the host's `files` capability encodes and writes the rows.

mod partition;

use partition::Partitioner;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use weir_sink::files::{self, FileOptions, Format};
use weir_sink::{Batch, Config, Schema, Sink, SinkPlan, WriteReport, export_sink};

/// Where rows go.
enum Layout {
    /// Standard output, as JSON Lines.
    Stdout,
    /// One file, created at open and finished at close.
    Single { path: String },
    /// Files in (partition) folders, rolled by rows, bytes or age.
    Folders {
        partitioner: Partitioner,
        roll: Roll,
    },
}

#[derive(Default)]
struct Roll {
    rows: Option<u64>,
    bytes: Option<u64>,
    age: Option<Duration>,
}

struct OpenFile {
    handle: u32,
    rows: u64,
    bytes: u64,
    opened: Instant,
}

struct FileSink {
    layout: Layout,
    options: FileOptions,
    extension: &'static str,
    /// Open files by folder ("" without partitions).
    open: BTreeMap<String, OpenFile>,
    /// Finished files waiting for the epoch's commit.
    finished: Vec<u32>,
    /// Names files uniquely across runs into the same folder.
    run_id: u128,
    /// With checkpoints, files are named by epoch instead, so that a
    /// replayed epoch writes the same files again (replacing, not adding).
    epoch: Option<u64>,
    next_file: u64,
}

fn parse_format(text: &str) -> Result<(Format, &'static str), String> {
    Ok(match text {
        "csv" => (Format::Csv, "csv"),
        "jsonl" => (Format::Jsonl, "jsonl"),
        "parquet" => (Format::Parquet, "parquet"),
        // A Delta table's data files; the host commits them to its log.
        "delta" => (Format::Parquet, "parquet"),
        other => {
            return Err(format!(
                "config key `format`: unknown format {other:?} (csv, jsonl, parquet or stdout)"
            ));
        }
    })
}

fn open(config: &Config, input: &Schema) -> Result<(FileSink, SinkPlan), String> {
    let format = config.require("format")?;
    let columns = weir_sink::columns(input);
    if format == "stdout" {
        config.reject_unknown()?;
        let state = FileSink {
            layout: Layout::Stdout,
            options: FileOptions {
                format: Format::Jsonl,
                header: false,
                delimiter: ',',
                staged: false,
                columns: None,
            },
            extension: "",
            open: BTreeMap::new(),
            finished: Vec::new(),
            run_id: 0,
            epoch: None,
            next_file: 0,
        };
        return Ok((
            state,
            SinkPlan {
                reads: Some(vec![]),
            },
        ));
    }
    let delta = format == "delta";
    let (format, extension) = parse_format(format)?;
    if delta && config.get("path").is_some() {
        return Err(
            "config key `path`: a Delta table is a folder of files (the sink's directory); leave `path` out"
                .to_string(),
        );
    }
    if format == Format::Csv
        && let Some((name, data_type, _)) = columns.iter().find(|(_, t, _)| {
            matches!(
                t,
                weir_sink::DataType::List(_) | weir_sink::DataType::Struct(_)
            )
        })
    {
        return Err(format!(
            "CSV cannot hold column `{name}` of type {}; use a jsonl sink",
            if matches!(data_type, weir_sink::DataType::List(_)) {
                "list"
            } else {
                "struct"
            }
        ));
    }
    let delimiter = match config.get("delimiter") {
        None => ',',
        Some(d) if d.chars().count() == 1 => d.chars().next().unwrap(),
        Some(d) => {
            return Err(format!("config key `delimiter`: one character, got {d:?}"));
        }
    };
    let header = config.flag("header", true)?;
    let partition_by = config.list("partition_by");
    let roll = Roll {
        rows: config.number("max_rows_per_file")?,
        bytes: config.number("max_bytes_per_file")?,
        age: config
            .number("max_seconds_per_file")?
            .map(Duration::from_secs),
    };
    let path = config.get("path").map(str::to_string);
    let rolled = roll.rows.is_some() || roll.bytes.is_some() || roll.age.is_some();
    let staged_default = path.is_none() || format == Format::Parquet;
    let staged = config.flag("staged", staged_default)?;
    config.reject_unknown()?;

    let (layout, reads, written) = match path {
        Some(path) => {
            if !partition_by.is_empty() || rolled {
                return Err(
                    "config key `path` names one file; for partition folders or rolling \
                     files leave it out (files are then named part-….EXT)"
                        .to_string(),
                );
            }
            (Layout::Single { path }, Some(vec![]), None)
        }
        None => {
            let partitioner = Partitioner::new(input, &partition_by)?;
            let reads = partitioner.columns().to_vec();
            // Hive layout: partition values live in the folder names only.
            let written = (!reads.is_empty()).then(|| {
                (0..columns.len() as u32)
                    .filter(|i| !reads.contains(i))
                    .collect::<Vec<_>>()
            });
            (Layout::Folders { partitioner, roll }, Some(reads), written)
        }
    };
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let epoch = config
        .run("epoch")
        .map(|e| e.parse::<u64>().map_err(|_| format!("weir.epoch: {e:?}")))
        .transpose()?;
    let state = FileSink {
        epoch,
        layout,
        options: FileOptions {
            format,
            header,
            delimiter,
            staged,
            columns: written,
        },
        extension,
        open: BTreeMap::new(),
        finished: Vec::new(),
        run_id,
        next_file: 0,
    };
    let mut state = state;
    if let Layout::Single { .. } = state.layout {
        // Created now, so an empty result is still a file (with its header).
        state.file_for("")?;
    }
    Ok((state, SinkPlan { reads }))
}

impl FileSink {
    fn file_for(&mut self, folder: &str) -> Result<&mut OpenFile, String> {
        if !self.open.contains_key(folder) {
            let name = match &self.layout {
                Layout::Single { path } => path.clone(),
                _ => {
                    let n = self.next_file;
                    self.next_file += 1;
                    match self.epoch {
                        Some(epoch) => {
                            format!("{folder}part-e{epoch:08}-{n:05}.{}", self.extension)
                        }
                        None => format!("{folder}part-{}-{n:05}.{}", self.run_id, self.extension),
                    }
                }
            };
            let handle = files::create(&name, &self.options)?;
            self.open.insert(
                folder.to_string(),
                OpenFile {
                    handle,
                    rows: 0,
                    bytes: 0,
                    opened: Instant::now(),
                },
            );
        }
        Ok(self.open.get_mut(folder).expect("inserted above"))
    }

    /// Appends rows to the folder's file, rolling it when a limit is reached.
    fn append(&mut self, folder: &str, rows: Option<Vec<u32>>, n: u64) -> Result<(), String> {
        let roll_rows = match &self.layout {
            Layout::Folders { roll, .. } => roll.rows,
            _ => None,
        };
        let mut remaining: Option<&[u32]> = rows.as_deref();
        let mut all_left = n;
        while all_left > 0 {
            let file = self.file_for(folder)?;
            let room = roll_rows.map_or(u64::MAX, |max| max - file.rows);
            let take = room.min(all_left);
            let chunk: Option<Vec<u32>> = match (remaining, take == n) {
                // Every row of the batch, in one go.
                (None, true) => None,
                (None, false) => {
                    let start = (n - all_left) as u32;
                    Some((start..start + take as u32).collect())
                }
                (Some(r), _) => Some(r[..take as usize].to_vec()),
            };
            file.bytes = files::append(file.handle, chunk.as_deref())?;
            file.rows += take;
            all_left -= take;
            if let Some(r) = remaining {
                remaining = Some(&r[take as usize..]);
            }
            self.roll_if_full(folder)?;
        }
        Ok(())
    }

    fn roll_if_full(&mut self, folder: &str) -> Result<(), String> {
        let Layout::Folders { roll, .. } = &self.layout else {
            return Ok(());
        };
        let file = &self.open[folder];
        let full = roll.rows.is_some_and(|max| file.rows >= max)
            || roll.bytes.is_some_and(|max| file.bytes >= max)
            || roll.age.is_some_and(|max| file.opened.elapsed() >= max);
        if full {
            let file = self.open.remove(folder).expect("present");
            files::finish(file.handle)?;
            self.finished.push(file.handle);
        }
        Ok(())
    }

    fn write_rows(&mut self, batch: &Batch) -> Result<(), String> {
        let n = batch.num_rows as u64;
        if n == 0 {
            return Ok(());
        }
        let groups = match &self.layout {
            Layout::Stdout => return files::print(None),
            Layout::Single { .. } => return self.append("", None, n),
            Layout::Folders { partitioner, .. } => partitioner.group(batch)?,
        };
        if groups.len() == 1 {
            let (folder, rows) = groups.into_iter().next().expect("one group");
            return self.append(&folder, None, rows.len() as u64);
        }
        for (folder, rows) in groups {
            let count = rows.len() as u64;
            self.append(&folder, Some(rows), count)?;
        }
        Ok(())
    }

    /// Finishes every open file: the epoch's files wait to be published.
    fn finish_all(&mut self) -> Result<(), String> {
        for (_, file) in std::mem::take(&mut self.open) {
            files::finish(file.handle)?;
            self.finished.push(file.handle);
        }
        Ok(())
    }
}

impl Sink for FileSink {
    fn open(config: &Config, input: &Schema) -> Result<(Self, SinkPlan), String> {
        open(config, input)
    }

    fn write(&mut self, rows: Batch) -> Result<WriteReport, String> {
        self.write_rows(&rows)?;
        Ok(WriteReport {
            rejections: Vec::new(),
        })
    }

    fn pre_commit(&mut self, _epoch: u64) -> Result<(), String> {
        // A single file stays open across epochs (it is one growing file);
        // rolled files are finished and wait for the commit.
        if matches!(self.layout, Layout::Folders { .. }) {
            self.finish_all()?;
        }
        Ok(())
    }

    fn commit(&mut self, epoch: u64) -> Result<(), String> {
        for handle in std::mem::take(&mut self.finished) {
            files::publish(handle)?;
        }
        if let Some(next) = &mut self.epoch {
            *next = epoch + 1;
            self.next_file = 0;
        }
        Ok(())
    }

    fn abort(&mut self, _epoch: u64) {
        if matches!(self.layout, Layout::Folders { .. }) {
            for (_, file) in std::mem::take(&mut self.open) {
                files::discard(file.handle);
            }
        }
        for handle in std::mem::take(&mut self.finished) {
            files::discard(handle);
        }
        // The epoch is written again after a retry: the same names.
        if self.epoch.is_some() {
            self.next_file = 0;
        }
    }

    fn close(&mut self) -> Result<(), String> {
        self.finish_all()?;
        for handle in std::mem::take(&mut self.finished) {
            files::publish(handle)?;
        }
        Ok(())
    }
}

export_sink!(FileSink);

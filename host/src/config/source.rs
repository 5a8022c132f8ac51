//! `[source]` (and each of `[[sources]]`): files, the generator or Kafka,
//! with their defaults and the checks that need no input.

use super::{
    NamedSource, PipelineConfig, StorageOptions, check_delimiter, ddl, default_delimiter, duration,
    kafka,
};
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceConfig {
    Files(FilesConfig),
    Generator(GeneratorConfig),
    Kafka(Box<kafka::KafkaSourceConfig>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileFormat {
    /// One `value` column holding each line.
    Lines,
    Csv,
    Jsonl,
    /// Columns as the files hold them (or those of `schema`, cast to it).
    Parquet,
}

impl FileFormat {
    /// The dead-letter's stage for what this format's decoder refuses.
    pub fn stage(self) -> &'static str {
        match self {
            FileFormat::Lines => "decode:lines",
            FileFormat::Csv => "decode:csv",
            FileFormat::Jsonl => "decode:jsonl",
            FileFormat::Parquet => "decode:parquet",
        }
    }
}

/// How files of text are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Compression {
    /// By each file's extension: `.gz` is gzip, `.zst` zstd, others none.
    Auto,
    None,
    Gzip,
    Zstd,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// A file, or a directory whose files are read in name order; new files
    /// are picked up as they arrive. An object-store URL (`s3://bucket/prefix/`)
    /// reads the objects under the prefix, folders included.
    pub path: PathBuf,
    pub format: FileFormat,
    /// csv, jsonl, lines: how the files are compressed.
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// At most this many new files are taken from one listing; the rest
    /// wait for the next (bounds the queue a checkpoint records).
    pub max_files_per_batch: Option<usize>,
    /// Files older than this (by modification time) than the newest file
    /// seen are taken as read and forgotten, so the set of files read stays
    /// bounded (Spark's `maxFileAge`).
    #[serde(default = "default_max_file_age")]
    pub max_file_age: String,
    /// The pipeline's `[storage]` options, copied here when it is loaded.
    #[serde(skip)]
    pub storage: StorageOptions,
    /// Columns in Spark DDL (`"name STRING, age INT"`); required for csv and jsonl.
    pub schema: Option<String>,
    /// csv: the first line of each file is a header to skip.
    #[serde(default)]
    pub header: bool,
    /// csv: the field delimiter, one character.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How often a directory is listed for new files (not in --available-now).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The files are the whole input (a batch file): at the end of a run
    /// every open window is emitted, as with `--flush`.
    #[serde(default)]
    pub bounded: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    /// What to simulate; `user-events` (registrations, logins, logouts).
    #[serde(default = "default_simulation")]
    pub simulation: String,
    /// Events in all; unbounded if unset (then --available-now is refused).
    pub count: Option<u64>,
    /// Events per second; 0 generates as fast as possible.
    #[serde(default)]
    pub rate: u64,
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Event time of the first event (RFC 3339).
    #[serde(default = "default_start_time")]
    pub start_time: String,
    /// Event time between consecutive events, in milliseconds.
    #[serde(default = "default_step_ms")]
    pub step_ms: u64,
    #[serde(default = "default_users")]
    pub users: u64,
    /// Events arrive up to this much behind their event time ("90s"), as
    /// from devices that buffer: out of order, some late for a watermark.
    pub disorder: Option<String>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
}

fn default_compression() -> Compression {
    Compression::Auto
}

fn default_max_file_age() -> String {
    "7d".to_string()
}

impl FilesConfig {
    /// `max_file_age` in milliseconds.
    pub fn max_file_age_ms(&self) -> Result<i64, String> {
        duration::parse_micros(&self.max_file_age)
            .map(|micros| micros / 1000)
            .map_err(|e| format!("key `source.max_file_age`: {e}"))
    }
}

fn default_batch_size() -> usize {
    8192
}
fn default_poll_interval_ms() -> u64 {
    1000
}
fn default_simulation() -> String {
    "user-events".to_string()
}
fn default_seed() -> u64 {
    42
}
fn default_start_time() -> String {
    "2026-01-01T00:00:00Z".to_string()
}
fn default_step_ms() -> u64 {
    100
}
fn default_users() -> u64 {
    1000
}

/// A source's settings; errors name it by `key` (`source`, `sources[1]`).
pub(super) fn validate_source(source: &SourceConfig, key: &str) -> Result<(), String> {
    match source {
        SourceConfig::Files(f) => {
            if matches!(f.format, FileFormat::Csv | FileFormat::Jsonl) && f.schema.is_none() {
                return Err(format!(
                    "key `{key}.schema`: the csv and jsonl formats need a declared schema, \
                                e.g. schema = \"name STRING, age INT\""
                ));
            }
            if f.format == FileFormat::Parquet && f.compression != Compression::Auto {
                return Err(format!(
                    "key `{key}.compression`: Parquet files compress their own pages; leave it out"
                ));
            }
            if f.max_files_per_batch == Some(0) {
                return Err(format!(
                    "key `{key}.max_files_per_batch` must be at least 1"
                ));
            }
            f.max_file_age_ms()
                .map_err(|e| e.replace("key `source.", &format!("key `{key}.")))?;
            if let Some(schema) = &f.schema {
                ddl::parse_schema(schema).map_err(|e| format!("key `{key}.schema`: {e}"))?;
            }
            if f.batch_size == 0 {
                return Err(format!("key `{key}.batch_size` must be at least 1"));
            }
            check_delimiter(f.delimiter).map_err(|e| format!("key `{key}.delimiter`: {e}"))?;
        }
        SourceConfig::Kafka(k) => {
            k.validate()
                .map_err(|e| e.replace("key `source.", &format!("key `{key}.")))?;
            check_delimiter(k.delimiter).map_err(|e| format!("key `{key}.delimiter`: {e}"))?;
        }
        SourceConfig::Generator(g) => {
            if g.simulation != "user-events" {
                return Err(format!(
                    "key `{key}.simulation`: unknown simulation {:?} (known: user-events)",
                    g.simulation
                ));
            }
            if g.batch_size == 0 {
                return Err(format!("key `{key}.batch_size` must be at least 1"));
            }
        }
    }
    Ok(())
}

/// The pipeline's sources: one `[source]`, or `[[sources]]`.
impl PipelineConfig {
    /// Every source, each with the key that names it in errors (`source`,
    /// or `sources[1]`) and its name (`source` for the only one).
    pub fn named_sources(&self) -> Vec<(String, NamedSource)> {
        match &self.source {
            Some(config) => vec![(
                "source".to_string(),
                NamedSource {
                    name: "source".to_string(),
                    config: config.clone(),
                },
            )],
            None => self
                .sources
                .iter()
                .enumerate()
                .map(|(i, s)| (format!("sources[{i}]"), s.clone()))
                .collect(),
        }
    }

    /// The first source: the only one, or the first of `sources`.
    pub fn first_source(&self) -> Option<&SourceConfig> {
        self.source
            .as_ref()
            .or_else(|| self.sources.first().map(|s| &s.config))
    }

    pub(super) fn sources_mut(&mut self) -> Vec<(String, &mut SourceConfig)> {
        match &mut self.source {
            Some(config) => vec![("source".to_string(), config)],
            None => self
                .sources
                .iter_mut()
                .enumerate()
                .map(|(i, s)| (format!("sources[{i}]"), &mut s.config))
                .collect(),
        }
    }

    /// One `[source]`, or two `[[sources]]` with the `[interval_join]` that
    /// combines them, and each source's settings.
    pub(super) fn validate_sources(&self) -> Result<(), String> {
        match (&self.source, self.sources.len(), &self.interval_join) {
            (None, 0, _) => {
                return Err("key `source`: a pipeline reads a [source] (or two [[sources]] joined by an [interval_join])".to_string());
            }
            (Some(_), n, _) if n > 0 => {
                return Err(
                    "key `sources`: a pipeline has either one [source] or [[sources]], not both"
                        .to_string(),
                );
            }
            (Some(_), _, Some(_)) => {
                return Err("key `interval_join`: an interval join matches two streams; declare them as [[sources]], each with a `name`".to_string());
            }
            (None, 1, None) => {}
            (None, _, None) => {
                return Err("key `sources`: several sources are combined by an [interval_join] (left, right, on, left_time, between)".to_string());
            }
            (None, _, Some(join)) => join
                .validate(&self.sources)
                .map_err(|e| format!("key `interval_join.{e}"))?,
            (Some(_), _, None) => {}
        }
        let mut names = std::collections::HashSet::new();
        let mut groups = std::collections::HashSet::new();
        for (i, s) in self.sources.iter().enumerate() {
            if !names.insert(s.name.as_str()) {
                return Err(format!(
                    "key `sources[{i}].name`: the name {:?} is used twice",
                    s.name
                ));
            }
            // One consumer group per source: each source's members share
            // its partitions, which a group split over two sources would not.
            if let SourceConfig::Kafka(k) = &s.config
                && !groups.insert(k.group.as_str())
            {
                return Err(format!(
                    "key `sources[{i}].group`: the group {:?} is another source's; give each Kafka source a group of its own",
                    k.group
                ));
            }
        }
        for (key, named) in self.named_sources() {
            validate_source(&named.config, &key)?;
        }
        Ok(())
    }
}

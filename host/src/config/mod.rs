//! Pipeline files: TOML parsed into plain configuration types (unknown keys
//! rejected), `${ENV}` interpolated, relative paths resolved against the
//! file's folder. Building running components from them happens elsewhere.

pub mod aggregate;
mod checkpoint;
pub mod ddl;
mod dead_letter;
pub mod duration;
mod env;
pub mod interval;
pub mod join;
pub mod kafka;
mod kafka_security;
mod limits;
mod read;
mod sandbox;
mod sink;
mod source;
mod storage;
mod window;

pub use checkpoint::{CheckpointConfig, DEFAULT_INTERVAL_MS};
pub use dead_letter::{DeadLetterConfig, Delivery};
pub use interval::{Bounds, IntervalJoinConfig, NamedSource};
pub use limits::{
    DEFAULT_MAX_OUTPUT_ROWS, DEFAULT_MEMORY_LIMIT_MB, DEFAULT_SINK_TIMEOUT_MS,
    DEFAULT_STATE_LIMIT_MB, DEFAULT_TRANSFORM_TIMEOUT_MS, MAX_MEMORY_LIMIT_MB, PluginLimits,
};
pub use sandbox::{ErrorPolicy, Grant};
pub use sink::{ConnectionConfig, PluginSinkConfig, SinkConfig};
pub use source::{Compression, FileFormat, FilesConfig, GeneratorConfig, SourceConfig};
pub use storage::StorageOptions;

pub use window::{LatePolicy, OutputMode, WindowConfig, WindowKind};

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A pipeline file that cannot be used, with the file and the key named.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// Defaults to the file name without its extension.
    pub name: Option<String>,
    /// What the pipeline reads; or `sources`, for two joined streams.
    pub source: Option<SourceConfig>,
    /// Two named sources an `interval_join` matches up.
    #[serde(default)]
    pub sources: Vec<NamedSource>,
    /// A stream–stream join of the two `sources`, before the transforms.
    pub interval_join: Option<IntervalJoinConfig>,
    /// Transforms before the window (or all of them, without a window).
    #[serde(default)]
    pub transforms: Vec<TransformConfig>,
    /// Stream–table joins, after the transforms and before the window.
    #[serde(default)]
    pub joins: Vec<join::JoinConfig>,
    /// Reference tables, by name, that transforms granted them (`tables`)
    /// look keys up in.
    #[serde(default)]
    pub tables: std::collections::BTreeMap<String, join::TableConfig>,
    /// Event-time windows and aggregates, computed by the host.
    pub window: Option<WindowConfig>,
    /// Transforms of the aggregate rows a window emits.
    #[serde(default)]
    pub after_window: Vec<TransformConfig>,
    #[serde(default)]
    pub sinks: Vec<SinkConfig>,
    /// Databases, declared once; a sink names those it may use.
    #[serde(default)]
    pub connections: std::collections::BTreeMap<String, ConnectionConfig>,
    #[serde(default)]
    pub dead_letter: DeadLetterConfig,
    /// Checkpoints for exactly-once; none unless the table is there.
    pub checkpoint: Option<CheckpointConfig>,
    /// Options of the object stores the pipeline's URLs name.
    #[serde(default, deserialize_with = "storage::deserialize")]
    pub storage: StorageOptions,
    /// The file as it was read (before `${ENV}` interpolation), for the
    /// console to show redacted.
    #[serde(skip)]
    pub text: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformConfig {
    pub name: String,
    /// Path to the component (`.wasm`).
    pub plugin: PathBuf,
    /// Passed to the plugin's `init` as text values.
    #[serde(default)]
    pub config: toml::Table,
    /// A call running longer traps; its batch goes to the dead-letter.
    #[serde(default = "limits::default_transform_timeout_ms")]
    pub timeout_ms: u64,
    /// An instance growing its memory past this traps, likewise.
    #[serde(default = "limits::default_memory_limit_mb")]
    pub memory_limit_mb: u64,
    /// The plugin's key-value state (bytes of keys and values) may hold at
    /// most this; a `set` past it fails its batch, likewise.
    #[serde(default = "limits::default_state_limit_mb")]
    pub state_limit_mb: u64,
    /// A batch whose output has more rows than this fails, likewise.
    #[serde(default = "limits::default_max_output_rows")]
    pub max_output_rows: usize,
    /// A batch with more rejected rows than this fails: a plugin rejecting
    /// wholesale is more likely broken than its input. Unlimited if unset.
    pub max_rejected_per_batch: Option<usize>,
    /// Ambient capabilities granted beyond the contract (`["clock"]`).
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// `dead-letter` (the default) or `stop`: see [`ErrorPolicy`].
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// `[tables]` entries the plugin may look keys up in.
    #[serde(default)]
    pub tables: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSinkConfig {
    pub name: String,
    pub path: PathBuf,
    #[serde(default = "default_true")]
    pub header: bool,
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlSinkConfig {
    pub name: String,
    pub path: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSinkConfig {
    pub name: String,
}

/// CSV is split and written byte by byte: a delimiter outside ASCII would
/// cut characters in two (and a quote or a line break cannot delimit).
fn check_delimiter(delimiter: char) -> Result<(), String> {
    if !delimiter.is_ascii() || matches!(delimiter, '"' | '\n' | '\r') {
        return Err(format!(
            "{delimiter:?} cannot separate CSV fields: use one ASCII character other than a quote or a line break"
        ));
    }
    Ok(())
}

/// Whether a path is an object-store URL, not a local path: it is not
/// resolved against the pipeline's folder.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.contains("://"))
}

fn default_delimiter() -> char {
    ','
}
fn default_true() -> bool {
    true
}

impl PipelineConfig {
    /// Reads, interpolates, parses and validates a pipeline file, and
    /// resolves its relative paths against the file's folder.
    pub fn load(path: &Path) -> Result<PipelineConfig, ConfigError> {
        let text = read::pipeline_text(path).map_err(|message| ConfigError {
            path: path.display().to_string(),
            message,
        })?;
        PipelineConfig::from_text(&text, path)
    }

    /// Parses and validates the text of a pipeline file that was read from
    /// `path` (which names it in errors, resolves its relative paths and
    /// gives the default name). Reads no file itself.
    pub fn from_text(text: &str, path: &Path) -> Result<PipelineConfig, ConfigError> {
        let shown = path.display().to_string();
        let fail = |message: String| ConfigError {
            path: shown.clone(),
            message,
        };
        // Structure first, from the user's own text, so that toml's message
        // shows the line and names the key; interpolation changes only values.
        toml::from_str::<PipelineConfig>(text).map_err(|e| fail(e.to_string()))?;
        let mut value: toml::Value = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        env::interpolate(&mut value, "").map_err(fail)?;
        let mut config: PipelineConfig = value
            .try_into()
            .map_err(|e: toml::de::Error| fail(e.to_string()))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        config.resolve_paths(base);
        config.text = text.to_string();
        if config.name.is_none() {
            config.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        if let Some(c) = &mut config.checkpoint {
            let location = c.location.take().unwrap_or_else(|| {
                format!(
                    ".weir/{}/checkpoints",
                    config.name.as_deref().unwrap_or("pipeline")
                )
            });
            c.location = Some(if location.contains("://") {
                location
            } else {
                base.join(location).display().to_string()
            });
        }
        let storage = config.storage.clone();
        for (_, source) in config.sources_mut() {
            if let SourceConfig::Files(f) = source {
                f.storage = storage.clone();
            }
        }
        for j in &mut config.joins {
            j.table.storage = config.storage.clone();
        }
        for t in config.tables.values_mut() {
            t.storage = config.storage.clone();
        }
        config.validate().map_err(fail)?;
        config
            .dead_letter
            .resolve_connection(&config.connections)
            .map_err(|e| fail(format!("key `dead_letter.{e}")))?;
        Ok(config)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("pipeline")
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !is_url(p) {
                *p = base.join(&*p);
            }
        };
        for (_, source) in self.sources_mut() {
            match source {
                SourceConfig::Files(f) => resolve(&mut f.path),
                SourceConfig::Kafka(k) => {
                    if let Some(ca) = k.registry.as_mut().and_then(|r| r.ca_location.as_mut()) {
                        resolve(ca);
                    }
                    kafka_security::resolve_paths(&mut k.properties, base);
                }
                SourceConfig::Generator(_) => {}
            }
        }
        for t in self
            .transforms
            .iter_mut()
            .chain(self.after_window.iter_mut())
        {
            resolve(&mut t.plugin);
        }
        let tables = self.joins.iter_mut().map(|j| &mut j.table);
        for table in tables.chain(self.tables.values_mut()) {
            if let Some(path) = &mut table.path {
                resolve(path);
            }
        }
        for s in &mut self.sinks {
            match s {
                SinkConfig::Csv(c) => resolve(&mut c.path),
                SinkConfig::Jsonl(c) => resolve(&mut c.path),
                SinkConfig::Stdout(_) => {}
                SinkConfig::Kafka(k) => {
                    if let Some(ca) = k.registry.as_mut().and_then(|r| r.ca_location.as_mut()) {
                        resolve(ca);
                    }
                    kafka_security::resolve_paths(&mut k.properties, base);
                }
                SinkConfig::Plugin(p) => p.resolve_paths(base),
            }
        }
        for c in self.connections.values_mut() {
            c.resolve_paths(base);
        }
        match &mut self.dead_letter {
            DeadLetterConfig::Jsonl { path } => resolve(path),
            DeadLetterConfig::Kafka { properties, .. } => {
                kafka_security::resolve_paths(properties, base);
            }
            DeadLetterConfig::Stderr => {}
        }
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(c) = &self.checkpoint {
            c.validate()?;
        }
        if let DeadLetterConfig::Kafka {
            delivery: Delivery::ExactlyOnce,
            ..
        } = &self.dead_letter
            && self.checkpoint.is_none()
        {
            return Err("key `dead_letter.delivery`: exactly-once commits the letters with each checkpointed epoch; add a [checkpoint] table".to_string());
        }
        self.check_security_files()?;
        self.validate_sources()?;
        let mut names = std::collections::HashSet::new();
        for (list, transforms) in [
            ("transforms", &self.transforms),
            ("after_window", &self.after_window),
        ] {
            for (i, t) in transforms.iter().enumerate() {
                if !names.insert(t.name.as_str()) {
                    return Err(format!(
                        "key `{list}[{i}].name`: the name {:?} is used twice",
                        t.name
                    ));
                }
                plugin_config(t).map_err(|e| format!("key `{list}[{i}].config.{e}"))?;
                limits::check_memory_limit(t.memory_limit_mb)
                    .map_err(|e| format!("key `{list}[{i}].memory_limit_mb`: {e}"))?;
                for (k, table) in t.tables.iter().enumerate() {
                    if !self.tables.contains_key(table) {
                        let declared: Vec<&str> = self.tables.keys().map(String::as_str).collect();
                        return Err(format!(
                            "key `{list}[{i}].tables[{k}]`: no [tables.{table}] is declared (declared: {})",
                            if declared.is_empty() {
                                "none".to_string()
                            } else {
                                declared.join(", ")
                            }
                        ));
                    }
                }
            }
        }
        for (name, table) in &self.tables {
            let key = |e: String| match e.strip_prefix("table") {
                Some(rest) => format!("key `tables.{name}{rest}"),
                None => format!("key `tables.{name}`: {e}"),
            };
            table.validate(&self.connections).map_err(key)?;
            if table.key.as_ref().is_none_or(Vec::is_empty) {
                return Err(key(
                    "table.key`: name the table's key columns, e.g. key = [\"customer_id\"]"
                        .to_string(),
                ));
            }
        }
        for (i, j) in self.joins.iter().enumerate() {
            if !names.insert(j.name.as_str()) {
                return Err(format!(
                    "key `joins[{i}].name`: the name {:?} is used twice",
                    j.name
                ));
            }
            j.validate(&self.connections)
                .map_err(|e| format!("key `joins[{i}].{e}"))?;
        }
        match &self.window {
            Some(w) => w.validate().map_err(|e| format!("key `window.{e}"))?,
            None if !self.after_window.is_empty() => {
                return Err("key `after_window`: there is no [window] to come after".to_string());
            }
            None => {}
        }
        for (i, s) in self.sinks.iter().enumerate() {
            if !names.insert(s.name()) {
                return Err(format!(
                    "key `sinks[{i}].name`: the name {:?} is used twice",
                    s.name()
                ));
            }
            if let SinkConfig::Csv(c) = s {
                check_delimiter(c.delimiter)
                    .map_err(|e| format!("key `sinks[{i}].delimiter`: {e}"))?;
            }
            if let SinkConfig::Plugin(p) = s {
                limits::check_memory_limit(p.memory_limit_mb)
                    .map_err(|e| format!("key `sinks[{i}].memory_limit_mb`: {e}"))?;
                p.validate(&self.connections)
                    .map_err(|e| format!("key `sinks[{i}].{e}"))?;
            }
        }
        Ok(())
    }
}

impl PipelineConfig {
    /// Every Kafka client's certificate and key files can be read.
    fn check_security_files(&self) -> Result<(), String> {
        for (key, named) in self.named_sources() {
            if let SourceConfig::Kafka(k) = &named.config {
                kafka_security::check_files(&k.properties, &format!("{key}.properties"))?;
            }
        }
        for (i, s) in self.sinks.iter().enumerate() {
            if let SinkConfig::Kafka(k) = s {
                kafka_security::check_files(&k.properties, &format!("sinks[{i}].properties"))?;
            }
        }
        for (name, c) in &self.connections {
            kafka_security::check_files(&c.properties, &format!("connections.{name}.properties"))?;
        }
        if let DeadLetterConfig::Kafka { properties, .. } = &self.dead_letter {
            kafka_security::check_files(properties, "dead_letter.properties")?;
        }
        Ok(())
    }
}

/// The plugin's config table as text pairs; nested tables and arrays are
/// refused (their text form would be ambiguous across plugin languages).
pub fn plugin_config(transform: &TransformConfig) -> Result<Vec<(String, String)>, String> {
    config_pairs(&transform.config)
}

/// A `config` table as text pairs, as plugins receive it.
pub fn config_pairs(table: &toml::Table) -> Result<Vec<(String, String)>, String> {
    table
        .iter()
        .map(|(k, v)| {
            let text = match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                toml::Value::Array(_) | toml::Value::Table(_) => {
                    return Err(format!(
                        "{k}`: only text, numbers, booleans and dates can be passed to a plugin"
                    ));
                }
            };
            Ok((k.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests;

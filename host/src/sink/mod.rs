//! Sinks: where rows end up. Every sink is a component of the `sink` world
//! (bundled, `builtin:NAME`, or the user's own .wasm) that reaches files
//! and databases only through the capabilities its pipeline entry grants.
//! The older `type = "csv" | "jsonl" | "stdout" | "kafka"` entries run on
//! the bundled file sinks and the bundled Kafka sink.

pub mod builtin;
mod fan_out;

pub use fan_out::SinkFanOut;

use crate::capability::{Capabilities, ConnectError, ConnectionSpec};
use crate::config::kafka::{KafkaSinkConfig, KafkaSinkFormat};
use crate::config::{ConnectionConfig, PluginSinkConfig, SinkConfig};
use crate::error::{Classified, ErrorDomain, Retry};
use crate::runtime::{PluginError, Runtime, SinkOutcome, SinkPlugin, SinkSettings, World};
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use std::collections::BTreeMap;
use std::path::Path;
use wasmtime::component::Component;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink `{sink}` cannot take this pipeline's rows: {message}")]
    Schema { sink: String, message: String },
    #[error("sink `{sink}`: {message}")]
    Config { sink: String, message: String },
    #[error(transparent)]
    Plugin(#[from] Box<PluginError>),
}

impl Classified for SinkError {
    fn domain(&self) -> ErrorDomain {
        match self {
            SinkError::Schema { .. } | SinkError::Config { .. } => ErrorDomain::User,
            SinkError::Plugin(e) => e.domain(),
        }
    }

    fn retry(&self) -> Retry {
        match self {
            SinkError::Schema { .. } | SinkError::Config { .. } => Retry::Useless,
            SinkError::Plugin(e) => e.retry(),
        }
    }
}

/// A sink whose component is compiled and whose config is complete;
/// nothing is connected or written until [`PlannedSink::open`].
pub struct PlannedSink {
    pub name: String,
    /// Where rows go, for the run summary.
    pub target: String,
    /// Which build writes: a bundled sink's (`builtin:…`) or the file's.
    pub version: crate::runtime::PluginVersion,
    shown: String,
    component: Component,
    settings: SinkSettings,
    /// The directory the `files` capability may write in.
    directory: Option<crate::storage::Place>,
    /// The connections the `sql`, `cql` and `kafka` capabilities may use
    /// (each takes those its URL scheme says are its own).
    connections: Vec<ConnectionSpec>,
}

/// An opened sink: its component, instantiated, with its grants connected.
pub struct OpenSink(SinkPlugin);

impl OpenSink {
    pub fn name(&self) -> &str {
        self.0.name()
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<SinkOutcome, PluginError> {
        self.0.write(batch)
    }

    pub fn pre_commit(&mut self, epoch: u64) -> Result<(), PluginError> {
        self.0.pre_commit(epoch)
    }

    pub fn commit(&mut self, epoch: u64) -> Result<(), PluginError> {
        self.0.commit(epoch)
    }

    pub fn abort(&mut self, epoch: u64) {
        self.0.abort(epoch)
    }

    pub fn close(&mut self) -> Result<(), PluginError> {
        self.0.close()
    }

    /// Lengths of the files it writes in place, for the checkpoint.
    pub fn file_marks(&mut self) -> Result<std::collections::BTreeMap<String, u64>, PluginError> {
        self.0.file_marks()
    }
}

/// Checks, before anything is opened, that a sink can encode `schema`.
pub fn check(config: &SinkConfig, schema: &Schema) -> Result<(), SinkError> {
    let nested = schema
        .fields()
        .iter()
        .find(|f| matches!(f.data_type(), DataType::List(_) | DataType::Struct(_)));
    if let SinkConfig::Kafka(k) = config {
        // `weir check` plans sinks without opening them: the settings the
        // host parses itself are checked here, before the sink's `open`.
        let problem = match (&k.key, k.format) {
            (Some(key), _) if schema.index_of(key).is_err() => {
                Some(format!("key column `{key}` is not in the rows"))
            }
            (_, KafkaSinkFormat::Avro) if k.registry.is_none() => {
                Some("the avro format needs registry = { url = ... }".to_string())
            }
            (_, KafkaSinkFormat::Text) if schema.index_of("value").is_err() => Some(
                "the text format writes a `value` column of text; the rows have none".to_string(),
            ),
            _ => None,
        };
        if let Some(message) = problem {
            return Err(SinkError::Schema {
                sink: k.name.clone(),
                message,
            });
        }
    }
    if let (SinkConfig::Csv(c), Some(f)) = (config, nested) {
        return Err(SinkError::Schema {
            sink: c.name.clone(),
            message: format!(
                "CSV cannot hold column `{}` of type {}; use a jsonl sink",
                f.name(),
                f.data_type()
            ),
        });
    }
    Ok(())
}

/// The connection a `type = "kafka"` entry makes of its own settings.
const KAFKA_CONNECTION: &str = "kafka";

/// A `type = "kafka"` entry as a `kafka://` connection of its own.
fn kafka_connection(k: &KafkaSinkConfig) -> ConnectionConfig {
    ConnectionConfig {
        url: format!("kafka://{}", k.brokers),
        connect_attempts: 1,
        backoff_ms: 0,
        properties: k.properties.clone(),
        registry: k.registry.clone(),
    }
}

/// A `type = …` entry as the bundled sink it runs on.
fn as_plugin(config: &SinkConfig) -> PluginSinkConfig {
    let entry =
        |name: &str, plugin: &str, directory, pairs: Vec<(&str, toml::Value)>| PluginSinkConfig {
            name: name.to_string(),
            plugin: plugin.to_string(),
            config: pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            connections: Vec::new(),
            directory,
            timeout_ms: crate::config::DEFAULT_SINK_TIMEOUT_MS,
            memory_limit_mb: crate::config::DEFAULT_MEMORY_LIMIT_MB,
        };
    let split = |path: &Path| {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        (Some(dir.to_path_buf()), toml::Value::String(file))
    };
    match config {
        SinkConfig::Csv(c) => {
            let (dir, file) = split(&c.path);
            entry(
                &c.name,
                "builtin:csv",
                dir,
                vec![
                    ("path", file),
                    ("header", toml::Value::Boolean(c.header)),
                    ("delimiter", toml::Value::String(c.delimiter.to_string())),
                ],
            )
        }
        SinkConfig::Jsonl(c) => {
            let (dir, file) = split(&c.path);
            entry(&c.name, "builtin:jsonl", dir, vec![("path", file)])
        }
        SinkConfig::Stdout(c) => entry(&c.name, "builtin:stdout", None, vec![]),
        SinkConfig::Kafka(k) => {
            let format = match k.format {
                KafkaSinkFormat::Avro => "avro",
                KafkaSinkFormat::Json => "json",
                KafkaSinkFormat::Text => "text",
            };
            let text = |v: &str| toml::Value::String(v.to_string());
            let mut pairs = vec![
                ("connection", text(KAFKA_CONNECTION)),
                ("topic", text(&k.topic)),
                ("format", text(format)),
            ];
            if let Some(key) = &k.key {
                pairs.push(("key", text(key)));
            }
            if let Some(delivery) = &k.delivery {
                pairs.push(("delivery", text(delivery)));
            }
            let mut entry = entry(&k.name, "builtin:kafka", None, pairs);
            entry.connections = vec![KAFKA_CONNECTION.to_string()];
            entry
        }
        SinkConfig::Plugin(p) => p.clone(),
    }
}

/// Resolves and compiles a sink's component and gathers its grants.
pub fn plan(
    config: &SinkConfig,
    connections: &BTreeMap<String, ConnectionConfig>,
    storage: &crate::config::StorageOptions,
    runtime: &Runtime,
) -> Result<PlannedSink, SinkError> {
    let entry = as_plugin(config);
    let own = match config {
        SinkConfig::Kafka(k) => Some(kafka_connection(k)),
        _ => None,
    };
    let fail = |message: String| SinkError::Config {
        sink: entry.name.clone(),
        message,
    };
    let mut pairs =
        crate::config::config_pairs(&entry.config).map_err(|e| fail(format!("config.{e}")))?;
    if let Some((key, _)) = pairs.iter().find(|(k, _)| k.starts_with("weir.")) {
        return Err(fail(format!(
            "config key `{key}`: keys starting with `weir.` are set by the host"
        )));
    }
    let builtin = builtin::find(&entry.plugin).map_err(|m| fail(format!("key `plugin`: {m}")))?;
    let (shown, bytes) = match builtin {
        Some(b) => {
            let (key, value) = b.preset;
            if pairs.iter().any(|(k, _)| k == key) {
                return Err(fail(format!(
                    "config key `{key}` is set by {} itself; leave it out",
                    entry.plugin
                )));
            }
            pairs.push((key.to_string(), value.to_string()));
            (
                entry.plugin.clone(),
                std::borrow::Cow::Borrowed(b.component),
            )
        }
        None => {
            let bytes = std::fs::read(&entry.plugin).map_err(|source| {
                SinkError::Plugin(Box::new(PluginError::Read {
                    path: entry.plugin.clone(),
                    source,
                }))
            })?;
            (entry.plugin.clone(), std::borrow::Cow::Owned(bytes))
        }
    };
    let (component, contract) = runtime
        .load_world(&shown, &bytes, World::Sink)
        .map_err(|e| SinkError::Plugin(Box::new(e)))?;
    let version = crate::runtime::PluginVersion {
        contract: contract.to_string(),
        ..crate::runtime::PluginVersion::of(&shown, &bytes)
    };
    let specs: Vec<ConnectionSpec> = entry
        .connections
        .iter()
        .map(|name| ConnectionSpec::new(name, own.as_ref().unwrap_or_else(|| &connections[name])))
        .collect();
    let target = match config {
        SinkConfig::Csv(c) => c.path.display().to_string(),
        SinkConfig::Jsonl(c) => c.path.display().to_string(),
        SinkConfig::Stdout(_) => "stdout".to_string(),
        SinkConfig::Kafka(k) => format!("kafka topic {}", k.topic),
        SinkConfig::Plugin(p) => {
            let mut grants: Vec<String> = p
                .connections
                .iter()
                .map(|c| format!("connection {c}"))
                .collect();
            if let Some(dir) = &p.directory {
                grants.push(dir.display().to_string());
            }
            if grants.is_empty() {
                p.plugin.clone()
            } else {
                format!("{} ({})", grants.join(", "), p.plugin)
            }
        }
    };
    Ok(PlannedSink {
        name: entry.name.clone(),
        target,
        version,
        shown,
        component,
        settings: SinkSettings {
            config: pairs,
            limits: entry.limits(),
        },
        directory: entry
            .directory
            .as_deref()
            .map(|d| crate::storage::Place::open(d, storage))
            .transpose()
            .map_err(|e| fail(format!("key `directory`: {e}")))?,
        connections: specs,
    })
}

/// A connection that could not be opened, as the plugin error the epoch
/// fails with: an outage (retryable) when its service could not be reached,
/// a refusal (the user's to fix) when it can never work as written.
fn connect_failed(sink: &str, error: ConnectError) -> PluginError {
    if error.retryable() {
        PluginError::Unavailable {
            plugin: sink.to_string(),
            reason: error.to_string(),
        }
    } else {
        PluginError::Refused {
            plugin: sink.to_string(),
            call: "connect",
            message: error.to_string(),
        }
    }
}

impl PlannedSink {
    /// Connects the sink's grants, instantiates it and calls its `open`.
    /// `run` is what the host tells every sink of the run, as `weir.*`
    /// config keys (the first epoch, the sink's id for epoch markers).
    pub fn open(
        &self,
        runtime: &Runtime,
        input: SchemaRef,
        run: &[(String, String)],
    ) -> Result<OpenSink, PluginError> {
        self.open_resuming(runtime, input, run, Default::default())
    }

    /// [`PlannedSink::open`] for a run resuming from a checkpoint: files the
    /// sink writes in place are cut back to their lengths there.
    pub fn open_resuming(
        &self,
        runtime: &Runtime,
        input: SchemaRef,
        run: &[(String, String)],
        resume: crate::capability::in_place::ResumeFiles,
    ) -> Result<OpenSink, PluginError> {
        let mut settings = self.settings.clone();
        settings.config.extend(run.iter().cloned());
        let mut grants = Capabilities::connect(
            &self.name,
            self.directory.clone(),
            &self.connections,
            input.clone(),
        )
        .map_err(|error| connect_failed(&self.name, error))?;
        grants.files.resume_as(resume);
        if self.shown == "builtin:delta" {
            let setting = |key: &str| {
                settings
                    .config
                    .iter()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            };
            let partition_by: Vec<String> = setting("partition_by")
                .map(|p| {
                    p.split(',')
                        .map(|c| c.trim().to_string())
                        .filter(|c| !c.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            // Exactly-once needs epochs that survive a restart: checkpoints.
            let app_id = setting("weir.epoch").and(setting("weir.sink-id"));
            grants
                .files
                .as_delta_table(&partition_by, app_id)
                .map_err(|message| PluginError::Refused {
                    plugin: self.name.clone(),
                    call: "open",
                    message,
                })?;
        }
        SinkPlugin::load(
            runtime,
            &self.name,
            &self.shown,
            &self.component,
            settings,
            grants,
            input,
        )
        .map(OpenSink)
    }
}

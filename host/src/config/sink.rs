//! Sinks and connections in a pipeline file. A sink is a plugin
//! (`plugin = "builtin:postgres"` or a path to a component); the older
//! `type = "csv" | "jsonl" | "stdout"` entries still work and run on the
//! bundled file sinks.

use super::{CsvSinkConfig, JsonlSinkConfig, StdoutSinkConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub enum SinkConfig {
    Csv(CsvSinkConfig),
    Jsonl(JsonlSinkConfig),
    /// JSON Lines on standard output.
    Stdout(StdoutSinkConfig),
    /// Produce to a Kafka topic (runs on the bundled Kafka sink).
    Kafka(Box<super::kafka::KafkaSinkConfig>),
    /// A sink component, bundled or the user's.
    Plugin(PluginSinkConfig),
}

/// The `type = …` form.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum TypedSink {
    Csv(CsvSinkConfig),
    Jsonl(JsonlSinkConfig),
    Stdout(StdoutSinkConfig),
    Kafka(Box<super::kafka::KafkaSinkConfig>),
}

impl<'de> Deserialize<'de> for SinkConfig {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let table = toml::Table::deserialize(deserializer)?;
        if table.contains_key("plugin") {
            if table.contains_key("type") {
                return Err(D::Error::custom(
                    "a sink has either `plugin` (a component) or `type` (csv, jsonl, stdout, kafka), not both",
                ));
            }
            return table
                .try_into::<PluginSinkConfig>()
                .map(SinkConfig::Plugin)
                .map_err(|e| D::Error::custom(e.message()));
        }
        if !table.contains_key("type") {
            return Err(D::Error::custom(
                "a sink needs `plugin` (e.g. \"builtin:postgres\" or a .wasm path) or `type` \
                 (csv, jsonl, stdout, kafka)",
            ));
        }
        Ok(
            match table
                .try_into::<TypedSink>()
                .map_err(|e| D::Error::custom(e.message()))?
            {
                TypedSink::Csv(c) => SinkConfig::Csv(c),
                TypedSink::Jsonl(c) => SinkConfig::Jsonl(c),
                TypedSink::Stdout(c) => SinkConfig::Stdout(c),
                TypedSink::Kafka(c) => SinkConfig::Kafka(c),
            },
        )
    }
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Csv(c) => &c.name,
            SinkConfig::Jsonl(c) => &c.name,
            SinkConfig::Stdout(c) => &c.name,
            SinkConfig::Kafka(c) => &c.name,
            SinkConfig::Plugin(c) => &c.name,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginSinkConfig {
    pub name: String,
    /// `builtin:NAME` or a path to a sink component (`.wasm`).
    pub plugin: String,
    /// Passed to the sink's `open` as text values.
    #[serde(default)]
    pub config: toml::Table,
    /// The connections (from `[connections]`) the sink may use.
    #[serde(default)]
    pub connections: Vec<String>,
    /// The one directory the sink may write files in.
    pub directory: Option<PathBuf>,
    /// A call running longer traps (time spent in the database does not count).
    #[serde(default = "super::limits::default_sink_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "super::limits::default_memory_limit_mb")]
    pub memory_limit_mb: u64,
}

impl PluginSinkConfig {
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(dir) = &mut self.directory
            && dir.is_relative()
            && !super::is_url(dir)
        {
            *dir = base.join(&*dir);
        }
        if !self.plugin.starts_with("builtin:") && Path::new(&self.plugin).is_relative() {
            self.plugin = base.join(&self.plugin).display().to_string();
        }
    }

    /// Errors start with the key, after `sinks[i].`.
    pub(super) fn validate(
        &self,
        declared: &BTreeMap<String, ConnectionConfig>,
    ) -> Result<(), String> {
        for (j, c) in self.connections.iter().enumerate() {
            if !declared.contains_key(c) {
                let known: Vec<&str> = declared.keys().map(String::as_str).collect();
                return Err(format!(
                    "connections[{j}]`: no connection {c:?} is declared in [connections] (declared: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        super::config_pairs(&self.config).map_err(|e| format!("config.{e}"))?;
        Ok(())
    }
}

/// `[connections.NAME]`: a database or Kafka cluster the host connects to
/// for the sinks that name it. Secrets come from the environment:
/// `url = "${PG_URL}"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// postgres://…, mysql://… (or mariadb://…), sqlite:FILE,
    /// cassandra://… (or scylla://…), kafka://….
    pub url: String,
    /// Connection attempts before the pipeline gives up (a database that is
    /// starting is waited for), with doubling backoff from `backoff_ms`.
    #[serde(default = "default_attempts")]
    pub connect_attempts: u32,
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// kafka: librdkafka producer properties, passed through as written.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// kafka: the schema registry Avro records are registered with.
    pub registry: Option<super::kafka::RegistryConfig>,
}

fn default_attempts() -> u32 {
    5
}
fn default_backoff_ms() -> u64 {
    200
}

impl ConnectionConfig {
    /// A relative SQLite file follows the pipeline file, and is created if
    /// missing (the embedded default needs no setup).
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        if let Some(ca) = self.registry.as_mut().and_then(|r| r.ca_location.as_mut())
            && ca.is_relative()
        {
            *ca = base.join(&*ca);
        }
        super::kafka_security::resolve_paths(&mut self.properties, base);
        let Some(rest) = self.url.strip_prefix("sqlite:") else {
            return;
        };
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (file, query) = rest.split_once('?').unwrap_or((rest, ""));
        if file.is_empty() || file == ":memory:" {
            return;
        }
        let path = if Path::new(file).is_relative() {
            base.join(file)
        } else {
            PathBuf::from(file)
        };
        let query = if query.contains("mode=") {
            query.to_string()
        } else if query.is_empty() {
            "mode=rwc".to_string()
        } else {
            format!("{query}&mode=rwc")
        };
        self.url = format!("sqlite://{}?{query}", path.display());
    }
}

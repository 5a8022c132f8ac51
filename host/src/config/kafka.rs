//! `[source] type = "kafka"` and `[[sinks]] type = "kafka"`: brokers,
//! topics, the consumer group, where to start, the record format, the schema
//! registry, and librdkafka properties passed through as they are written.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port...]` (librdkafka's `bootstrap.servers`).
    pub brokers: String,
    /// Topics to read; or `topic_pattern`.
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression matched against topic names (librdkafka's `^...`).
    pub topic_pattern: Option<String>,
    /// The consumer group; hosts in one group share the partitions.
    pub group: String,
    /// Where a partition without a committed offset starts:
    /// `earliest`, `latest`, `committed` (fail if none) or `timestamp:<RFC 3339>`.
    #[serde(default = "default_start")]
    pub start: String,
    pub format: KafkaFormat,
    /// Columns in Spark DDL; required for csv and json.
    pub schema: Option<String>,
    /// csv: the field delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// avro: the Confluent-compatible schema registry.
    pub registry: Option<RegistryConfig>,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// A batch is emitted when it is full or when this much time has passed.
    #[serde(default = "default_max_wait_ms")]
    pub max_wait_ms: u64,
    /// How long to wait for the brokers at start before failing.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Add the `_headers` column (as Spark's `includeHeaders`).
    #[serde(default)]
    pub include_headers: bool,
    /// Any librdkafka property (`security.protocol`, `ssl.ca.location`,
    /// `sasl.mechanism`, `session.timeout.ms`, ...), passed through.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaFormat {
    /// Confluent wire format (magic 0, 4-byte schema id) through the registry.
    Avro,
    /// One JSON object per record, against `schema`.
    Json,
    Csv,
    /// The value as UTF-8 text, in a `value` column.
    Lines,
    /// The value as bytes, in a `value` column.
    Raw,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// A PEM file of certificate authorities to trust for an `https` registry.
    pub ca_location: Option<std::path::PathBuf>,
    /// The subject whose latest schema is the reader schema (default `<topic>-value`).
    pub subject: Option<String>,
    /// Pin the reader schema to this registry id instead of the subject's latest.
    pub reader_schema_id: Option<u32>,
    /// How long a registry that does not answer is retried (the pipeline
    /// waits meanwhile) before the run fails.
    #[serde(default = "default_registry_patience_ms")]
    pub patience_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    pub name: String,
    pub brokers: String,
    pub topic: String,
    /// `avro` (registered with the registry, Confluent-framed), `json`, or `text`.
    pub format: KafkaSinkFormat,
    /// A column whose value (as text) becomes the record key.
    pub key: Option<String>,
    /// `at-least-once` (the default) or `exactly-once` (transactions).
    pub delivery: Option<String>,
    pub registry: Option<RegistryConfig>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaSinkFormat {
    Avro,
    Json,
    /// The text of a `value` column, as it is (e.g. lines read from files).
    Text,
}

fn default_start() -> String {
    "earliest".to_string()
}
fn default_delimiter() -> char {
    ','
}
fn default_batch_size() -> usize {
    8192
}
fn default_max_wait_ms() -> u64 {
    500
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_registry_patience_ms() -> u64 {
    60_000
}

/// Where partitions start, parsed from `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    Earliest,
    Latest,
    Committed,
    /// Milliseconds since the epoch.
    Timestamp(i64),
}

impl KafkaSourceConfig {
    pub fn start_at(&self) -> Result<StartAt, String> {
        Ok(match self.start.as_str() {
            "earliest" => StartAt::Earliest,
            "latest" => StartAt::Latest,
            "committed" => StartAt::Committed,
            other => match other.strip_prefix("timestamp:") {
                Some(t) => StartAt::Timestamp(
                    arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(t.trim())
                        .map_err(|_| {
                            format!("key `source.start`: {t:?} is not an RFC 3339 time")
                        })?
                        / 1_000_000,
                ),
                None => {
                    return Err(format!(
                        "key `source.start`: {other:?} is not one of earliest, latest, committed, timestamp:<RFC 3339>"
                    ));
                }
            },
        })
    }

    pub fn validate(&self) -> Result<(), String> {
        self.start_at()?;
        match (self.topics.is_empty(), &self.topic_pattern) {
            (true, None) => {
                return Err(
                    "key `source.topics`: name at least one topic, or set topic_pattern"
                        .to_string(),
                );
            }
            (false, Some(_)) => {
                return Err(
                    "key `source.topic_pattern`: set topics or topic_pattern, not both".to_string(),
                );
            }
            _ => {}
        }
        let needs_schema = matches!(self.format, KafkaFormat::Json | KafkaFormat::Csv);
        if needs_schema && self.schema.is_none() {
            return Err("key `source.schema`: the csv and json formats need a declared schema, e.g. schema = \"name STRING, age INT\"".to_string());
        }
        if let Some(schema) = &self.schema {
            super::ddl::parse_schema(schema).map_err(|e| format!("key `source.schema`: {e}"))?;
        }
        if self.format == KafkaFormat::Avro && self.registry.is_none() {
            return Err("key `source.registry`: the avro format needs a schema registry, e.g. registry = { url = \"http://127.0.0.1:8081\" }".to_string());
        }
        if self.batch_size == 0 {
            return Err("key `source.batch_size` must be at least 1".to_string());
        }
        Ok(())
    }
}

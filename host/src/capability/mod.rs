//! Host capabilities a sink imports: the host does the I/O, the sink decides
//! what to write. One module per capability, each with its state type and
//! its own `add_to_linker`; a sink is granted only what its pipeline names.

pub mod cql;
pub mod files;
pub mod in_place;
pub mod json;
pub mod kafka;
pub mod sql;

pub use cql::{Cql, CqlView};
pub use files::{Files, FilesView};
pub use kafka::{Kafka, KafkaView};
pub use sql::{Sql, SqlView};

use crate::config::kafka::RegistryConfig;
use std::collections::BTreeMap;
use std::time::Duration;

/// A connection as the pipeline declares it.
#[derive(Debug, Clone)]
pub struct ConnectionSpec {
    pub name: String,
    pub url: String,
    /// Connection attempts before giving up, with doubling backoff.
    pub attempts: u32,
    pub backoff: Duration,
    /// kafka: librdkafka producer properties.
    pub properties: BTreeMap<String, String>,
    /// kafka: the schema registry for Avro records.
    pub registry: Option<RegistryConfig>,
}

/// Which capability serves a connection, by its URL's scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionKind {
    Sql,
    Cql,
    Kafka,
}

impl ConnectionSpec {
    pub fn kind(&self) -> ConnectionKind {
        let scheme = self.url.split(':').next().unwrap_or_default();
        match scheme {
            "cassandra" | "scylla" | "cql" => ConnectionKind::Cql,
            "kafka" => ConnectionKind::Kafka,
            // Unknown schemes too: the sql capability names what it takes.
            _ => ConnectionKind::Sql,
        }
    }
}

/// The error for a connection a sink was not granted, naming the ones it was.
fn not_granted<'a>(sink: &str, name: &str, granted: impl Iterator<Item = &'a String>) -> String {
    let granted: Vec<&str> = granted.map(String::as_str).collect();
    format!(
        "connection `{name}` is not granted to sink `{sink}` (granted: {}); list it in the \
         sink's `connections`",
        if granted.is_empty() {
            "none".to_string()
        } else {
            granted.join(", ")
        }
    )
}

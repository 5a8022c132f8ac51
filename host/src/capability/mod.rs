//! Host capabilities a sink imports: the host does the I/O, the sink decides
//! what to write. One module per capability, each with its state type and
//! its own `add_to_linker`; a sink is granted only what its pipeline names.

mod blocking;
pub mod connect;
pub mod cql;
pub mod files;
mod grants;
pub mod in_place;
pub mod json;
pub mod kafka;
mod rows;
pub mod sql;

pub use connect::{ConnectError, redact};
pub use cql::{Cql, CqlView};
pub use files::{Files, FilesView};
pub use kafka::{Kafka, KafkaView};
pub use sql::{Sql, SqlView};

use crate::config::kafka::RegistryConfig;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::collections::BTreeMap;
use std::time::Duration;
use wasmtime::component::Linker;

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
    /// The `[connections.NAME]` entry `config`, as a capability opens it.
    pub fn new(name: &str, config: &crate::config::ConnectionConfig) -> Self {
        ConnectionSpec {
            name: name.to_string(),
            url: config.url.clone(),
            attempts: config.connect_attempts.max(1),
            backoff: Duration::from_millis(config.backoff_ms),
            properties: config.properties.clone(),
            registry: config.registry.clone(),
        }
    }

    /// A `kafka://host:port[,host:port…]` URL's brokers, as librdkafka's
    /// `bootstrap.servers` takes them.
    pub fn brokers(&self) -> Result<&str, &'static str> {
        self.url
            .strip_prefix("kafka://")
            .map(|b| b.trim_end_matches('/'))
            .filter(|b| !b.is_empty())
            .ok_or("a Kafka URL is kafka://host:port[,host:port...]")
    }

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

/// Everything one sink is granted: its directory and its connections,
/// opened, and the batch it is writing (none outside `write`).
pub struct Capabilities {
    pub files: Files,
    pub sql: Sql,
    pub cql: Cql,
    pub kafka: Kafka,
    batch: Option<RecordBatch>,
}

impl Capabilities {
    /// Opens the sink's grants: `directory` for `files`, and each of
    /// `connections` by the capability its URL names. `input`: the schema
    /// of the rows the sink receives.
    pub fn connect(
        sink: &str,
        directory: Option<crate::storage::Place>,
        connections: &[ConnectionSpec],
        input: SchemaRef,
    ) -> Result<Self, ConnectError> {
        let url = directory
            .as_ref()
            .map(crate::storage::Place::describe)
            .unwrap_or_default();
        let files = Files::new(sink, directory, input.clone());
        if let Err((message, retryable)) = files.check() {
            return Err(ConnectError::storage(&url, message, retryable));
        }
        let of_kind = |kind| -> Vec<ConnectionSpec> {
            let all = connections.iter();
            all.filter(|c| c.kind() == kind).cloned().collect()
        };
        Ok(Capabilities {
            sql: Sql::connect(sink, &of_kind(ConnectionKind::Sql))?,
            cql: Cql::connect(sink, &of_kind(ConnectionKind::Cql))?,
            kafka: Kafka::connect(sink, &of_kind(ConnectionKind::Kafka), input.clone())?,
            files,
            batch: None,
        })
    }

    /// The batch the sink's `write` is writing, for the calls it makes.
    pub fn set_batch(&mut self, batch: Option<RecordBatch>) {
        self.batch = batch;
    }

    /// The first connection that was lost, of any capability: the service
    /// is down, so the epoch is retried later rather than its rows refused.
    pub fn outage(&self) -> Option<String> {
        self.sql
            .outage()
            .or_else(|| self.cql.outage())
            .or_else(|| self.kafka.outage())
            .or_else(|| self.files.outage())
    }

    /// Why the sink cannot go on at all, if it cannot: a transactional
    /// Kafka connection was fenced by another producer of its id.
    pub fn fenced(&self) -> Option<String> {
        self.kafka.fenced()
    }

    /// Drops what the epoch left behind: staged files deleted, open
    /// transactions rolled back (SQL and Kafka), staged CQL rows dropped.
    /// (Records an at-least-once Kafka sink produced stay.)
    pub fn abort(&mut self) {
        self.files.discard_all();
        self.sql.abort_all();
        self.cql.discard_all();
        self.kafka.abort_all();
    }
}

/// A store's data that holds a sink's [`Capabilities`].
pub trait HasCapabilities: Send + 'static {
    fn capabilities(&mut self) -> &mut Capabilities;
}

fn files_view<T: HasCapabilities>(data: &mut T) -> FilesView<'_> {
    let c = data.capabilities();
    FilesView {
        files: &mut c.files,
        batch: c.batch.as_ref(),
    }
}

fn sql_view<T: HasCapabilities>(data: &mut T) -> SqlView<'_> {
    let c = data.capabilities();
    SqlView {
        sql: &mut c.sql,
        batch: c.batch.as_ref(),
    }
}

fn cql_view<T: HasCapabilities>(data: &mut T) -> CqlView<'_> {
    let c = data.capabilities();
    CqlView {
        cql: &mut c.cql,
        batch: c.batch.as_ref(),
    }
}

fn kafka_view<T: HasCapabilities>(data: &mut T) -> KafkaView<'_> {
    let c = data.capabilities();
    KafkaView {
        kafka: &mut c.kafka,
        batch: c.batch.as_ref(),
    }
}

/// Links every capability a sink may import.
pub fn add_to_linker<T: HasCapabilities>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    files::add_to_linker(linker, files_view::<T>)?;
    sql::add_to_linker(linker, sql_view::<T>)?;
    cql::add_to_linker(linker, cql_view::<T>)?;
    kafka::add_to_linker(linker, kafka_view::<T>)
}

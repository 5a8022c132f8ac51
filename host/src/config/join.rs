//! `[[joins]]`: stream–table joins against a reference table in a file or
//! a SQL database, run after the transforms and before the window. Each
//! names the table, the key columns on each side, the kind (`inner`,
//! `left`) and what an unmatched row becomes.

use super::FileFormat;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    pub name: String,
    pub table: TableConfig,
    /// The stream's key columns.
    pub on: Vec<String>,
    /// The table's key columns, in the same order; the stream's names if unset.
    pub table_on: Option<Vec<String>>,
    #[serde(default)]
    pub kind: JoinKind,
    /// What becomes of a stream row no table row matches: `null` (a left
    /// join's, and its default), `drop` (an inner join's default) or
    /// `dead-letter` (inner only: the row goes there naming its key).
    pub on_miss: Option<OnMiss>,
    /// The table's columns added to each row; every column but the keys if unset.
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinKind {
    #[default]
    Inner,
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMiss {
    Null,
    Drop,
    DeadLetter,
}

/// A reference table: a file (`path`, `format`), read whole at start and
/// again whenever it changes, or a SQL query on a granted connection
/// (`connection`, `query`), read whole every `refresh` or, with `lookup`,
/// asked for the keys a batch misses in its cache.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// A local file, or an object-store URL (`s3://bucket/customers.parquet`).
    pub path: Option<PathBuf>,
    pub format: Option<TableFormat>,
    /// The columns, in Spark DDL: csv, jsonl and SQL tables; Parquet files
    /// carry theirs.
    pub schema: Option<String>,
    /// csv: the first line is a header to skip.
    #[serde(default)]
    pub header: bool,
    #[serde(default = "super::default_delimiter")]
    pub delimiter: char,
    /// A `[connections]` entry (PostgreSQL, MySQL/MariaDB, SQLite) the
    /// `query` runs on.
    pub connection: Option<String>,
    /// A SELECT whose result is the table.
    pub query: Option<String>,
    /// A compacted topic on a `kafka://` connection, read as a changelog:
    /// the latest value of each record key, a null value deleting it.
    pub topic: Option<String>,
    /// How often a SQL table is read whole again (default 1 minute).
    pub refresh: Option<String>,
    /// A SQL table is not loaded: the keys a batch misses in the cache
    /// are looked up, one query per batch.
    #[serde(default)]
    pub lookup: bool,
    /// lookup: the most keys the cache holds (the least recently used go).
    #[serde(default = "default_cache_rows")]
    pub cache_rows: usize,
    /// lookup: how long a looked-up key (or its absence) is trusted.
    pub cache_ttl: Option<String>,
    /// A `[tables]` entry's key columns (a join's table is keyed by its
    /// `table_on`).
    pub key: Option<Vec<String>>,
    /// The pipeline's `[storage]` options, copied here when it is loaded.
    #[serde(skip)]
    pub storage: super::StorageOptions,
}

fn default_cache_rows() -> usize {
    100_000
}

/// Where a table's rows come from, as its keys chose.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    File {
        path: &'a Path,
        format: TableFormat,
    },
    Query {
        connection: &'a str,
        query: &'a str,
        /// Reading the whole result every `refresh`, or looking keys up.
        access: Access,
    },
    Changelog {
        connection: &'a str,
        topic: &'a str,
        format: TableFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Load { refresh: Duration },
    Lookup { cache_rows: usize, ttl: Duration },
}

impl TableConfig {
    /// Where the rows come from; an error names the key that is missing or
    /// does not belong.
    pub fn origin(&self) -> Result<Origin<'_>, String> {
        let duration = |key: &str, text: &Option<String>, default: &str| {
            let text = text.as_deref().unwrap_or(default);
            let micros =
                super::duration::parse_micros(text).map_err(|e| format!("table.{key}`: {e}"))?;
            match u64::try_from(micros) {
                Ok(m) if m > 0 => Ok(Duration::from_micros(m)),
                _ => Err(format!("table.{key}`: {text:?} must be longer than zero")),
            }
        };
        if let Some(topic) = &self.topic {
            let connection = self.connection.as_deref().ok_or(
                "table.connection`: name the kafka:// entry of [connections] the topic is read from",
            )?;
            if self.path.is_some() || self.query.is_some() {
                return Err(
                    "table.topic`: a changelog table is a topic; leave out `path` and `query`"
                        .to_string(),
                );
            }
            if let Some(key) = self.sql_key_set() {
                return Err(format!(
                    "table.{key}`: a changelog table follows its topic as records come; `{key}` is for SQL tables"
                ));
            }
            let format = match self.format {
                Some(f @ (TableFormat::Json | TableFormat::Avro)) => f,
                _ => {
                    return Err(
                        "table.format`: a changelog topic's values are \"json\" or \"avro\""
                            .to_string(),
                    );
                }
            };
            return Ok(Origin::Changelog {
                connection,
                topic,
                format,
            });
        }
        match (&self.path, &self.connection, &self.query) {
            (Some(path), None, None) => {
                let format = match self.format {
                    Some(f @ (TableFormat::Csv | TableFormat::Jsonl | TableFormat::Parquet)) => f,
                    _ => {
                        return Err("table.format`: name the file's format: \"csv\", \"jsonl\" or \"parquet\"".to_string());
                    }
                };
                if let Some(key) = self.sql_key_set() {
                    return Err(format!(
                        "table.{key}`: a file table is read again whenever the file changes; `{key}` is for SQL tables"
                    ));
                }
                Ok(Origin::File { path, format })
            }
            (None, Some(connection), Some(query)) => {
                if self.format.is_some() {
                    return Err("table.format`: a SQL table has no file format".to_string());
                }
                let access = if self.lookup {
                    if self.refresh.is_some() {
                        return Err("table.refresh`: a lookup table is not read whole; its keys expire after `cache_ttl`".to_string());
                    }
                    if self.cache_rows == 0 {
                        return Err("table.cache_rows`: the cache must hold at least one key".to_string());
                    }
                    Access::Lookup {
                        cache_rows: self.cache_rows,
                        ttl: duration("cache_ttl", &self.cache_ttl, "10 minutes")?,
                    }
                } else {
                    if self.cache_ttl.is_some() {
                        return Err("table.cache_ttl`: only a lookup table (lookup = true) caches keys".to_string());
                    }
                    Access::Load {
                        refresh: duration("refresh", &self.refresh, "1 minute")?,
                    }
                };
                Ok(Origin::Query {
                    connection,
                    query,
                    access,
                })
            }
            (None, Some(_), None) => {
                Err("table.query`: a SQL table needs the SELECT that gives its rows".to_string())
            }
            (None, None, Some(_)) => Err(
                "table.connection`: name the [connections] entry the query runs on".to_string(),
            ),
            (Some(_), _, _) => Err(
                "table`: give either a file (`path`, `format`) or a SQL query (`connection`, `query`), not both"
                    .to_string(),
            ),
            (None, None, None) => Err(
                "table`: give a file (`path`, `format`) or a SQL query (`connection`, `query`)"
                    .to_string(),
            ),
        }
    }

    /// The first key only a SQL table takes that is set, if any.
    fn sql_key_set(&self) -> Option<&'static str> {
        [
            ("refresh", self.refresh.is_some()),
            ("lookup", self.lookup),
            ("cache_ttl", self.cache_ttl.is_some()),
        ]
        .into_iter()
        .find_map(|(key, set)| set.then_some(key))
    }

    /// The table's place, for messages: its file, topic or connection.
    pub fn shown(&self) -> String {
        match (&self.path, &self.topic, &self.connection) {
            (Some(path), _, _) => path.display().to_string(),
            (None, Some(topic), _) => format!("topic {topic}"),
            (None, None, Some(connection)) => format!("connection {connection}"),
            (None, None, None) => "no table".to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableFormat {
    Csv,
    Jsonl,
    Parquet,
    /// A changelog topic's values: one JSON object each.
    Json,
    /// A changelog topic's values: Avro through the connection's registry.
    Avro,
}

impl TableFormat {
    /// The line format the files source decodes it with; `None` for Parquet.
    pub fn lines(self) -> Option<FileFormat> {
        match self {
            TableFormat::Csv => Some(FileFormat::Csv),
            TableFormat::Jsonl | TableFormat::Json => Some(FileFormat::Jsonl),
            TableFormat::Parquet | TableFormat::Avro => None,
        }
    }
}

impl JoinConfig {
    /// The table's key columns.
    pub fn table_keys(&self) -> &[String] {
        self.table_on.as_deref().unwrap_or(&self.on)
    }

    /// What an unmatched row becomes, with the kind's default.
    pub fn miss(&self) -> OnMiss {
        self.on_miss.unwrap_or(match self.kind {
            JoinKind::Inner => OnMiss::Drop,
            JoinKind::Left => OnMiss::Null,
        })
    }

    pub(super) fn validate(
        &self,
        connections: &std::collections::BTreeMap<String, super::ConnectionConfig>,
    ) -> Result<(), String> {
        self.table.validate(connections)?;
        if self.table.key.is_some() {
            return Err("table.key`: a join's table is keyed by `table_on` (or `on`)".to_string());
        }
        if self.on.is_empty() {
            return Err("on`: name at least one key column".to_string());
        }
        if self.table_keys().len() != self.on.len() {
            return Err(format!(
                "table_on`: {} table key columns for {} stream key columns in `on`",
                self.table_keys().len(),
                self.on.len()
            ));
        }
        match (self.kind, self.miss()) {
            (JoinKind::Left, OnMiss::Null)
            | (JoinKind::Inner, OnMiss::Drop | OnMiss::DeadLetter) => {}
            (JoinKind::Left, other) => {
                return Err(format!(
                    "on_miss`: a left join keeps unmatched rows with nulls; {other:?} is an inner join's (use kind = \"inner\")"
                ));
            }
            (JoinKind::Inner, OnMiss::Null) => {
                return Err(
                    "on_miss`: an inner join has no row to fill with nulls; use kind = \"left\""
                        .to_string(),
                );
            }
        }
        Ok(())
    }
}

impl TableConfig {
    /// Checks what can be checked before the table is read: where its rows
    /// come from, its connection, its schema. Errors name the key from
    /// `table`, as a join spells it.
    pub fn validate(
        &self,
        connections: &std::collections::BTreeMap<String, super::ConnectionConfig>,
    ) -> Result<(), String> {
        let origin = self.origin()?;
        if let Origin::Query { connection, .. } | Origin::Changelog { connection, .. } = origin {
            let Some(declared) = connections.get(connection) else {
                let known: Vec<&str> = connections.keys().map(String::as_str).collect();
                return Err(format!(
                    "table.connection`: no [connections.{connection}] is declared (declared: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            let scheme = declared.url.split(':').next().unwrap_or_default();
            let changelog = matches!(origin, Origin::Changelog { .. });
            if changelog && scheme != "kafka" {
                return Err(format!(
                    "table.connection`: `{connection}` is a {scheme}: connection; a changelog topic is read from a kafka:// one"
                ));
            }
            if changelog && declared.registry.is_none() && self.format == Some(TableFormat::Avro) {
                return Err(format!(
                    "table.format`: Avro values are read through a schema registry; give [connections.{connection}] a `registry`"
                ));
            }
            if !changelog
                && !matches!(
                    scheme,
                    "postgres" | "postgresql" | "mysql" | "mariadb" | "sqlite"
                )
            {
                return Err(format!(
                    "table.connection`: `{connection}` is a {scheme}: connection; a SQL table needs PostgreSQL, MySQL/MariaDB or SQLite"
                ));
            }
        }
        let carries_schema = matches!(
            origin,
            Origin::File {
                format: TableFormat::Parquet,
                ..
            } | Origin::Changelog {
                format: TableFormat::Avro,
                ..
            }
        );
        match (carries_schema, &self.schema) {
            (true, Some(_)) => {
                return Err(
                    "table.schema`: Parquet files and Avro values carry their own schema"
                        .to_string(),
                );
            }
            (false, None) => {
                return Err(
                    "table.schema`: csv, jsonl, json and SQL tables need a declared schema, e.g. schema = \"id BIGINT, segment STRING\""
                        .to_string(),
                );
            }
            (_, Some(schema)) => {
                super::ddl::parse_schema(schema).map_err(|e| format!("table.schema`: {e}"))?;
            }
            _ => {}
        }
        super::check_delimiter(self.delimiter).map_err(|e| format!("table.delimiter`: {e}"))
    }
}

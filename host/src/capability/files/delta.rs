//! A Delta Lake table's transaction log, as `builtin:delta` writes it: the
//! epoch's Parquet files (written by the `files` capability) become visible
//! in one commit, `_delta_log/NNNNNNNNNNNNNNNNNNNN.json`, put only if absent
//! so two writers cannot both take a version. Each commit carries a `txn`
//! action (the sink's id and the epoch), as Spark's Delta sink does: a
//! replayed epoch whose version is already in the log is not committed
//! twice. Protocol 1/2 (readers 1, writers 2): appends, partition columns,
//! no deletion vectors or column mapping.
//!
//! The `deltalake` crate was measured for this: it builds on arrow 59 and
//! object_store 0.13 (weir is on 60 and 0.14), so it would compile a second
//! arrow, parquet and object_store (17 min for it alone, cold, on these 2
//! cores) and take weir's batches only through the C data interface. The
//! part of the protocol an append-only streaming writer needs is this file.

use crate::storage;
use arrow::datatypes::{DataType, Schema, TimeUnit};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde_json::{Value, json};
use std::sync::Arc;

const LOG: &str = "_delta_log";

/// One data file of the epoch, to be added by the next commit.
struct Add {
    path: String,
    size: u64,
    partition_values: serde_json::Map<String, Value>,
}

pub struct DeltaLog {
    store: Arc<dyn ObjectStore>,
    /// The table's folder in the store.
    root: ObjectPath,
    shown: String,
    /// The newest version in the log; `None` for a table not yet made.
    version: Option<u64>,
    /// The sink's id, the `txn` application id.
    app_id: Option<String>,
    /// The newest epoch the log has a `txn` for under `app_id`.
    committed: Option<u64>,
    /// The sink's columns as a Spark schema (the log's `schemaString`).
    schema: Value,
    partition_columns: Vec<String>,
    pending: Vec<Add>,
}

impl DeltaLog {
    /// Reads the log of the table at `root`, if there is one, and checks its
    /// schema and partition columns against the sink's.
    pub fn open(
        root: &crate::storage::Place,
        schema: &Schema,
        partition_by: &[String],
        app_id: Option<String>,
    ) -> Result<DeltaLog, String> {
        let (store, prefix, shown): (Arc<dyn ObjectStore>, ObjectPath, String) = match root {
            crate::storage::Place::Local(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                let local = object_store::local::LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| e.to_string())?;
                (
                    Arc::new(local),
                    ObjectPath::default(),
                    dir.display().to_string(),
                )
            }
            crate::storage::Place::Object(place) => {
                (place.store.clone(), place.prefix.clone(), place.url.clone())
            }
        };
        let schema = spark_schema(schema)?;
        let mut log = DeltaLog {
            store,
            root: prefix,
            shown,
            version: None,
            app_id,
            committed: None,
            schema,
            partition_columns: partition_by.to_vec(),
            pending: Vec::new(),
        };
        log.read()?;
        Ok(log)
    }

    fn log_dir(&self) -> ObjectPath {
        self.root.clone().join(LOG)
    }

    /// Replays the JSON commits: the newest version, the table's metadata
    /// (checked against the sink's), and this sink's newest `txn`.
    fn read(&mut self) -> Result<(), String> {
        let fail =
            |e: &dyn std::fmt::Display| format!("cannot read the Delta log of {}: {e}", self.shown);
        let listed = storage::block_on(self.store.list_with_delimiter(Some(&self.log_dir())))
            .map_err(|e| fail(&e))?;
        let mut versions: Vec<(u64, ObjectPath)> = Vec::new();
        for object in listed.objects {
            let name = object.location.filename().unwrap_or_default();
            if name.ends_with(".checkpoint.parquet") || name == "_last_checkpoint" {
                return Err(format!(
                    "the Delta table {} has log checkpoints, which weir does not read: write to a table weir made, or to a new one",
                    self.shown
                ));
            }
            if let Some(v) = name.strip_suffix(".json").and_then(|v| v.parse().ok()) {
                versions.push((v, object.location));
            }
        }
        versions.sort();
        let mut metadata: Option<Value> = None;
        for (version, path) in &versions {
            let bytes = storage::block_on(async { self.store.get(path).await?.bytes().await })
                .map_err(|e| fail(&e))?;
            for line in String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|l| !l.trim().is_empty())
            {
                let action: Value = serde_json::from_str(line)
                    .map_err(|e| fail(&format!("version {version}: {e}")))?;
                if let Some(m) = action.get("metaData") {
                    metadata = Some(m.clone());
                }
                if let (Some(txn), Some(app)) = (action.get("txn"), &self.app_id)
                    && txn["appId"].as_str() == Some(app)
                {
                    self.committed = txn["version"].as_u64().max(self.committed);
                }
            }
            self.version = Some(*version);
        }
        if let Some(m) = metadata {
            let theirs: Value = m["schemaString"]
                .as_str()
                .and_then(|s| serde_json::from_str(s).ok())
                .ok_or_else(|| fail(&"its metaData has no schemaString"))?;
            if strip_metadata(&theirs) != strip_metadata(&self.schema) {
                return Err(format!(
                    "the Delta table {} has the columns {}, but the sink's rows have {}",
                    self.shown,
                    describe(&theirs),
                    describe(&self.schema)
                ));
            }
            let partitions: Vec<String> = m["partitionColumns"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            if partitions != self.partition_columns {
                return Err(format!(
                    "the Delta table {} is partitioned by {partitions:?}, but the sink's partition_by is {:?}",
                    self.shown, self.partition_columns
                ));
            }
        }
        Ok(())
    }

    /// A data file published at `relative` (a Hive-style path under the
    /// table's folder), to be added by the next commit.
    pub fn add(&mut self, relative: &str, size: u64) {
        let mut partition_values = serde_json::Map::new();
        let folders = relative.split('/').collect::<Vec<_>>();
        for folder in &folders[..folders.len().saturating_sub(1)] {
            if let Some((key, value)) = folder.split_once('=') {
                let value = match value {
                    "__HIVE_DEFAULT_PARTITION__" => Value::Null,
                    v => Value::String(unescape(v)),
                };
                partition_values.insert(unescape(key), value);
            }
        }
        self.pending.push(Add {
            path: relative.to_string(),
            size,
            partition_values,
        });
    }

    /// Forgets the files of an aborted epoch (the files themselves are
    /// deleted by the capability, or never referenced by the log).
    pub fn discard(&mut self) {
        self.pending.clear();
    }

    /// Commits the pending files as the next version, with the epoch's
    /// `txn`. An epoch the log already has is not committed again; an
    /// epoch with no file commits nothing. `Err((message, retryable))`.
    pub fn commit(&mut self, epoch: Option<u64>) -> Result<(), (String, bool)> {
        if let (Some(epoch), Some(done)) = (epoch, self.committed)
            && epoch <= done
        {
            tracing::info!(table = %self.shown, epoch, "The Delta log has this epoch already; its replay is not committed again.");
            self.pending.clear();
            return Ok(());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut actions = vec![json!({"commitInfo": {
            "timestamp": now,
            "operation": "STREAMING UPDATE",
            "operationParameters": {"outputMode": "Append", "queryId": self.app_id, "epochId": epoch},
            "engineInfo": concat!("weir/", env!("CARGO_PKG_VERSION")),
        }})];
        if self.version.is_none() {
            actions.push(json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}));
            actions.push(json!({"metaData": {
                "id": table_id(&self.shown, now),
                "format": {"provider": "parquet", "options": {}},
                "schemaString": self.schema.to_string(),
                "partitionColumns": self.partition_columns,
                "configuration": {},
                "createdTime": now,
            }}));
        }
        for add in &self.pending {
            actions.push(json!({"add": {
                "path": escape_path(&add.path),
                "partitionValues": add.partition_values,
                "size": add.size,
                "modificationTime": now,
                "dataChange": true,
            }}));
        }
        if let (Some(app), Some(epoch)) = (&self.app_id, epoch) {
            actions.push(json!({"txn": {"appId": app, "version": epoch, "lastUpdated": now}}));
        }
        let text: String = actions.iter().map(|a| format!("{a}\n")).collect();
        let version = self.version.map_or(0, |v| v + 1);
        let path = self.log_dir().join(format!("{version:020}.json"));
        let put = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        storage::block_on(self.store.put_opts(&path, PutPayload::from(text.into_bytes()), put))
            .map_err(|e| match e {
                object_store::Error::AlreadyExists { .. } => (
                    format!(
                        "version {version} of the Delta table {} was written by another writer meanwhile; one writer per table",
                        self.shown
                    ),
                    false,
                ),
                e => (
                    format!("cannot commit version {version} of the Delta table {}: {e}", self.shown),
                    storage::retryable(&e),
                ),
            })?;
        self.version = Some(version);
        if epoch.is_some() {
            self.committed = epoch.max(self.committed);
        }
        self.pending.clear();
        Ok(())
    }
}

/// The table's Spark schema (`schemaString`), from the sink's Arrow schema.
fn spark_schema(schema: &Schema) -> Result<Value, String> {
    let fields: Vec<Value> = schema
        .fields()
        .iter()
        .map(|f| {
            let data_type = match f.data_type() {
                DataType::Boolean => "boolean".to_string(),
                DataType::Int8 => "byte".to_string(),
                DataType::Int16 => "short".to_string(),
                DataType::Int32 => "integer".to_string(),
                DataType::Int64 => "long".to_string(),
                DataType::Float32 => "float".to_string(),
                DataType::Float64 => "double".to_string(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "string".to_string(),
                DataType::Binary | DataType::LargeBinary => "binary".to_string(),
                DataType::Date32 => "date".to_string(),
                DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => "timestamp".to_string(),
                DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
                other => {
                    return Err(format!(
                        "column `{}` is {other}, which this Delta sink does not write (it writes booleans, integers, floats, strings, binary, dates, decimals and TIMESTAMP in microseconds with a zone)",
                        f.name()
                    ));
                }
            };
            Ok(json!({"name": f.name(), "type": data_type, "nullable": f.is_nullable(), "metadata": {}}))
        })
        .collect::<Result<_, String>>()?;
    Ok(json!({"type": "struct", "fields": fields}))
}

/// A schema's fields without their metadata (which other writers fill).
fn strip_metadata(schema: &Value) -> Vec<(Value, Value, Value)> {
    schema["fields"]
        .as_array()
        .map(|fields| {
            fields
                .iter()
                .map(|f| (f["name"].clone(), f["type"].clone(), f["nullable"].clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn describe(schema: &Value) -> String {
    strip_metadata(schema)
        .iter()
        .map(|(n, t, _)| format!("{} {}", n.as_str().unwrap_or("?"), t))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table id that differs between tables and runs (Delta wants a UUID; any
/// unique string is read).
fn table_id(shown: &str, now: i64) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{shown}/{now}/{}", std::process::id()));
    let hex = format!("{digest:x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Undoes the Hive escaping of a folder name (`%2F` → `/`).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An `add` path is a URI relative to the table: bytes other than letters,
/// digits, `-._~/=` are percent-encoded (the `%` of the Hive escaping too).
fn escape_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b'=' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_come_from_the_hive_folders() {
        assert_eq!(unescape("a%2Fb%3D"), "a/b=");
        assert_eq!(
            escape_path("k=a%2Fb c/part.parquet"),
            "k=a%252Fb%20c/part.parquet"
        );
    }
}

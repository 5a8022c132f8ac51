//! The bundled SQL sinks (`builtin:postgres`, `builtin:mysql`,
//! `builtin:sqlite`): the table's DDL, append or upsert by key columns, one
//! transaction per epoch (with its marker, when the pipeline checkpoints).
//! The host's `sql` capability binds the rows.

mod ddl;
mod epochs;

use ddl::Flavor;
use epochs::Markers;
use std::collections::HashMap;
use weir_sink::sql::{self, BatchedStatement};
use weir_sink::{Batch, Config, Schema, Sink, SinkPlan, WriteReport, export_sink};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Append,
    Upsert,
}

struct SqlSink {
    connection: String,
    flavor: Flavor,
    table: String,
    mode: Mode,
    /// All input columns: (name, index).
    columns: Vec<(String, u32)>,
    /// All input columns: name, type, nullable.
    all: Vec<(String, weir_sink::DataType, bool)>,
    /// Key columns as indices into `columns`; the batch `write` receives
    /// holds only these, in this order.
    keys: Vec<u32>,
    upsert: Option<BatchedStatement>,
    /// The `DELETE … WHERE key IN` of an upsert without ON CONFLICT.
    delete: Option<BatchedStatement>,
    /// ELT: statements run in each epoch's transaction after its rows are
    /// loaded (a transform in SQL of what was just loaded).
    after_load: Vec<String>,
    in_transaction: bool,
    /// With checkpoints: the epoch being written and the markers table.
    epoch: Option<(u64, Markers)>,
}

fn open(config: &Config, input: &Schema) -> Result<(SqlSink, SinkPlan), String> {
    let connection = config.require("connection")?.to_string();
    let table = config.require("table")?.to_string();
    let expected = config.get("dialect").map(str::to_string);
    let mode = match config.get("mode").unwrap_or("append") {
        "append" => Mode::Append,
        "upsert" => Mode::Upsert,
        other => {
            return Err(format!(
                "config key `mode`: {other:?} is neither \"append\" nor \"upsert\""
            ));
        }
    };
    let key_names = config.list("key");
    let create = config.flag("create_table", false)?;
    let first_epoch = config
        .run("epoch")
        .map(|e| e.parse::<u64>().map_err(|_| format!("weir.epoch: {e:?}")))
        .transpose()?;
    // The marker names the table too: two pipelines of one name writing
    // to different tables do not share it.
    let sink_id = format!(
        "{}:{}",
        config.run("sink-id").unwrap_or("sink"),
        config.get("table").unwrap_or_default()
    );
    let redshift = match config.get("flavor") {
        None => false,
        Some("redshift") => true,
        Some(other) => {
            return Err(format!(
                "config key `flavor`: unknown flavor {other:?} (only \"redshift\")"
            ));
        }
    };
    let after_load = config.get("after_load").map(statements).unwrap_or_default();
    config.reject_unknown()?;

    let dialect = sql::dialect_of(&connection)?;
    let flavor = Flavor::new(dialect, redshift)?;
    if let Some(expected) = expected
        && expected != flavor.dialect_name()
    {
        return Err(format!(
            "connection `{connection}` is a {} database, but this is the {expected} sink",
            flavor.dialect_name()
        ));
    }
    if mode == Mode::Upsert && key_names.is_empty() {
        return Err("config key `key`: an upsert needs key columns, e.g. key = \"id\"".into());
    }
    let all = weir_sink::columns(input);
    let mut keys = Vec::new();
    for name in &key_names {
        keys.push(
            weir_sink::column_index(input, name).map_err(|e| format!("config key `key`: {e}"))?,
        );
    }
    for (name, data_type, _) in &all {
        flavor
            .column_type(data_type, false)
            .map_err(|e| format!("column `{name}`: {e}"))?;
    }
    if create {
        let statement = flavor.create_table(&table, &all, &keys)?;
        sql::execute(&connection, &statement)
            .map_err(|e| format!("cannot create table {table}: {e}"))?;
    } else {
        let probe = format!("SELECT * FROM {} WHERE 1 = 0", flavor.quote_table(&table));
        sql::query(&connection, &probe).map_err(|e| {
            format!("table {table} cannot be read ({e}); create it, or set create_table = true")
        })?;
    }
    let columns: Vec<(String, u32)> = all
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| (n.clone(), i as u32))
        .collect();
    let (upsert, delete) = match mode {
        Mode::Append => (None, None),
        Mode::Upsert if flavor.redshift => (
            Some(flavor.insert(&table, &all)),
            Some(flavor.delete_keys(&table, &all, &keys)),
        ),
        Mode::Upsert => (Some(flavor.upsert(&table, &all, &keys)), None),
    };
    let epoch = match first_epoch {
        Some(first) => {
            let markers = Markers::open(&connection, &sink_id)?;
            // A restart resumes at or before the epoch after the newest
            // committed one; further means the checkpoints were lost.
            if markers.committed > first {
                return Err(format!(
                    "{} says sink `{sink_id}` committed epoch {}, but the pipeline's checkpoints resume at epoch {first}: they were deleted or belong to another run. To start over, also delete the marker: DELETE FROM {} WHERE sink_id = '{sink_id}'",
                    epochs::TABLE,
                    markers.committed,
                    epochs::TABLE
                ));
            }
            Some((first, markers))
        }
        None => None,
    };
    let state = SqlSink {
        epoch,
        connection,
        flavor,
        table,
        mode,
        columns,
        all,
        keys: keys.clone(),
        upsert,
        delete,
        after_load,
        in_transaction: false,
    };
    // Only upserts read values (their keys, to keep the last row per key).
    Ok((state, SinkPlan { reads: Some(keys) }))
}

impl SqlSink {
    /// A replayed epoch this sink already committed: its rows are in.
    fn committed_before(&self) -> bool {
        self.epoch
            .as_ref()
            .is_some_and(|(epoch, markers)| *epoch <= markers.committed)
    }

    fn write_rows(&mut self, batch: &Batch) -> Result<WriteReport, String> {
        if batch.num_rows == 0 || self.committed_before() {
            return Ok(WriteReport {
                rejections: Vec::new(),
            });
        }
        if !self.in_transaction {
            sql::begin(&self.connection)?;
            self.in_transaction = true;
        }
        let all: Vec<u32> = self.columns.iter().map(|(_, i)| *i).collect();
        let rejections = match self.mode {
            // Redshift takes COPY only from S3: rows go as multi-row INSERTs.
            Mode::Append if self.flavor.redshift => {
                let insert = self.flavor.insert(&self.table, &self.all);
                sql::execute_batched(&self.connection, &insert, &all, None)?
            }
            Mode::Append => sql::bulk_insert(
                &self.connection,
                &self.flavor.quote_table(&self.table),
                &self.quoted_columns(),
                None,
            )?,
            Mode::Upsert => {
                let rows = last_row_per_key(batch);
                if let Some(delete) = &self.delete {
                    // Redshift has no ON CONFLICT: delete the keys, then insert,
                    // in the epoch's transaction.
                    sql::execute_batched(&self.connection, delete, &self.keys, rows.as_deref())?;
                }
                let upsert = self.upsert.as_ref().expect("an upsert has its statement");
                sql::execute_batched(&self.connection, upsert, &all, rows.as_deref())?
            }
        };
        Ok(WriteReport { rejections })
    }

    fn quoted_columns(&self) -> Vec<(String, u32)> {
        self.columns
            .iter()
            .map(|(n, i)| (self.flavor.quote(n), *i))
            .collect()
    }
}

/// The rows to upsert: the last one of each key (a later row of the same key
/// replaces an earlier one, as it would in separate batches). `None` is all.
fn last_row_per_key(batch: &Batch) -> Option<Vec<u32>> {
    let n = batch.num_rows as usize;
    let mut last: HashMap<Vec<Option<String>>, u32> = HashMap::with_capacity(n);
    for row in 0..n {
        let key: Vec<Option<String>> = batch
            .columns
            .iter()
            .map(|&a| {
                let array = &batch.arrays[a as usize];
                weir_sink::is_valid(&array.validity, row)
                    .then(|| weir_sink::key_text(&array.values, row))
                    .flatten()
            })
            .collect();
        last.insert(key, row as u32);
    }
    if last.len() == n {
        return None;
    }
    let mut rows: Vec<u32> = last.into_values().collect();
    rows.sort_unstable();
    Some(rows)
}

impl Sink for SqlSink {
    fn open(config: &Config, input: &Schema) -> Result<(Self, SinkPlan), String> {
        open(config, input)
    }

    fn write(&mut self, rows: Batch) -> Result<WriteReport, String> {
        self.write_rows(&rows)
    }

    fn pre_commit(&mut self, epoch: u64) -> Result<(), String> {
        // The epoch's rows wait in the open transaction; the ELT statements
        // and the epoch's marker join them, so the three commit at once.
        if self.in_transaction {
            for (i, statement) in self.after_load.iter().enumerate() {
                sql::execute(&self.connection, statement)
                    .map_err(|e| format!("config key `after_load`, statement {}: {e}", i + 1))?;
            }
        }
        if let (true, Some((_, markers))) = (self.in_transaction, &self.epoch) {
            markers.mark(&self.connection, &self.flavor, epoch)?;
        }
        Ok(())
    }

    fn commit(&mut self, epoch: u64) -> Result<(), String> {
        if self.in_transaction {
            self.in_transaction = false;
            sql::commit(&self.connection)?;
        }
        if let Some((next, markers)) = &mut self.epoch {
            markers.committed = markers.committed.max(epoch);
            *next = epoch + 1;
        }
        Ok(())
    }

    fn abort(&mut self, _epoch: u64) {
        if self.in_transaction {
            self.in_transaction = false;
            let _ = sql::rollback(&self.connection);
        }
    }
}

/// The statements of a `;`-separated SQL text (a `;` inside quotes, a
/// backquoted or double-quoted name, or a `--` comment does not end one).
fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut comment = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            _ if comment => comment = c != '\n',
            (None, '-') if chars.peek() == Some(&'-') => comment = true,
            (None, ';') => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            (None, '\'' | '"' | '`') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            _ => {}
        }
        current.push(c);
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

export_sink!(SqlSink);

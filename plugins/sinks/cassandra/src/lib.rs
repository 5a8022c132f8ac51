//! The bundled Cassandra / ScyllaDB sink (`builtin:cassandra`): the table's
//! DDL and its INSERT (an upsert by primary key, as every CQL write is).
//! The host's `cql` capability binds the rows and holds them until the
//! epoch commits, then writes them in batches of one partition each.

mod ddl;

use weir_sink::cql;
use weir_sink::{Batch, Config, Schema, Sink, SinkPlan, WriteReport, export_sink};

/// Rows per unlogged batch (all of one partition): small enough to stay
/// under Cassandra's batch size warning (5 KiB) for typical rows.
const DEFAULT_BATCH_ROWS: u64 = 20;

struct CassandraSink {
    connection: String,
    statement: u32,
    /// Input columns in the INSERT's order: the primary key first.
    params: Vec<u32>,
    keys: u32,
    batch_rows: u32,
}

fn open(config: &Config, input: &Schema) -> Result<CassandraSink, String> {
    let connection = config.require("connection")?.to_string();
    let table = config.require("table")?.to_string();
    // The preset of builtin:cassandra; nothing to choose.
    let _ = config.get("dialect");
    match config.get("mode").unwrap_or("append") {
        // Both are an INSERT: CQL writes by primary key, replacing a row.
        "append" | "upsert" => {}
        other => {
            return Err(format!(
                "config key `mode`: {other:?} is neither \"append\" nor \"upsert\""
            ));
        }
    }
    let key_names = config.list("key");
    let partition = config.number("partition_columns")?.unwrap_or(1) as usize;
    let create_table = config.flag("create_table", false)?;
    let create_keyspace = config.flag("create_keyspace", false)?;
    let replication = config
        .get("replication")
        .unwrap_or("{'class': 'SimpleStrategy', 'replication_factor': 1}")
        .to_string();
    let batch_rows = config.number("batch_rows")?.unwrap_or(DEFAULT_BATCH_ROWS);
    config.reject_unknown()?;

    if key_names.is_empty() {
        return Err(
            "config key `key`: name the table's primary key columns, e.g. key = \"id\" \
             (every CQL write is by primary key)"
                .into(),
        );
    }
    if partition == 0 || partition > key_names.len() {
        return Err(format!(
            "config key `partition_columns`: between 1 and the {} key columns",
            key_names.len()
        ));
    }
    if !(1..=65_535).contains(&batch_rows) {
        return Err("config key `batch_rows`: between 1 and 65535".into());
    }
    let (keyspace, name) = match table.split_once('.') {
        Some((k, t)) => (k.to_string(), t.to_string()),
        None => (
            cql::keyspace_of(&connection)?.ok_or_else(|| {
                format!(
                    "config key `table`: name the keyspace (\"keyspace.{table}\"), or put it in \
                     connection `{connection}`'s URL (cassandra://host/keyspace)"
                )
            })?,
            table.clone(),
        ),
    };
    let qualified = format!("{}.{}", ddl::quote(&keyspace), ddl::quote(&name));

    let all = weir_sink::columns(input);
    let mut keys = Vec::new();
    for name in &key_names {
        keys.push(
            weir_sink::column_index(input, name).map_err(|e| format!("config key `key`: {e}"))?,
        );
    }
    for (name, data_type, _) in &all {
        ddl::column_type(data_type).map_err(|e| format!("column `{name}`: {e}"))?;
    }
    if create_keyspace {
        cql::execute(&connection, &ddl::create_keyspace(&keyspace, &replication))
            .map_err(|e| format!("cannot create keyspace {keyspace}: {e}"))?;
    }
    if create_table {
        let statement = ddl::create_table(&qualified, &all, &keys, partition)?;
        cql::execute(&connection, &statement)
            .map_err(|e| format!("cannot create table {qualified}: {e}"))?;
    }
    let mut params = keys.clone();
    params.extend((0..all.len() as u32).filter(|i| !keys.contains(i)));
    let statement =
        cql::prepare(&connection, &ddl::insert(&qualified, &all, &params)).map_err(|e| {
            format!(
                "table {qualified} cannot be written ({e}); create it, or set create_table = true"
            )
        })?;
    Ok(CassandraSink {
        connection,
        statement,
        params,
        keys: keys.len() as u32,
        batch_rows: batch_rows as u32,
    })
}

impl Sink for CassandraSink {
    fn open(config: &Config, input: &Schema) -> Result<(Self, SinkPlan), String> {
        // The host binds every value; the sink reads none of them.
        let plan = SinkPlan {
            reads: Some(Vec::new()),
        };
        Ok((open(config, input)?, plan))
    }

    fn write(&mut self, rows: Batch) -> Result<WriteReport, String> {
        let rejections = if rows.num_rows == 0 {
            Vec::new()
        } else {
            cql::stage(self.statement, &self.params, self.keys, None)?
        };
        Ok(WriteReport { rejections })
    }

    // The epoch's rows are bound and wait in the host: `pre_commit` has
    // nothing to prepare, and `commit` writes them.

    fn commit(&mut self, _epoch: u64) -> Result<(), String> {
        cql::flush(&self.connection, self.batch_rows).map(|_| ())
    }

    fn abort(&mut self, _epoch: u64) {
        cql::discard(&self.connection);
    }
}

export_sink!(CassandraSink);

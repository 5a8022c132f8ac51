//! The bundled Cassandra / ScyllaDB sink (`builtin:cassandra`): the table's
//! DDL and its INSERT (an upsert by primary key, as every CQL write is).
//! The host's `cql` capability binds the rows and holds them until the
//! epoch commits, then writes them in batches of one partition each.

mod ddl;

use std::cell::RefCell;
use weir_sink::cql;
use weir_sink::{Batch, Config, Guest, Schema, SinkPlan, WriteReport, export_sink};

struct CassandraSink;

/// Rows per unlogged batch (all of one partition): small enough to stay
/// under Cassandra's batch size warning (5 KiB) for typical rows.
const DEFAULT_BATCH_ROWS: u64 = 20;

struct State {
    connection: String,
    statement: u32,
    /// Input columns in the INSERT's order: the primary key first.
    params: Vec<u32>,
    keys: u32,
    batch_rows: u32,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn with_state<R>(f: impl FnOnce(&mut State) -> Result<R, String>) -> Result<R, String> {
    STATE.with_borrow_mut(|s| match s.as_mut() {
        Some(state) => f(state),
        None => Err("the host called the sink before `open`".to_string()),
    })
}

fn open(config: &Config, input: &Schema) -> Result<State, String> {
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
    Ok(State {
        connection,
        statement,
        params,
        keys: keys.len() as u32,
        batch_rows: batch_rows as u32,
    })
}

impl Guest for CassandraSink {
    fn open(config: Vec<(String, String)>, input: Schema) -> Result<SinkPlan, String> {
        let state = open(&Config::new(config), &input)?;
        STATE.with_borrow_mut(|s| *s = Some(state));
        // The host binds every value; the sink reads none of them.
        Ok(SinkPlan {
            reads: Some(Vec::new()),
        })
    }

    fn write(rows: Batch) -> Result<WriteReport, String> {
        with_state(|s| {
            let rejections = if rows.num_rows == 0 {
                Vec::new()
            } else {
                cql::stage(s.statement, &s.params, s.keys, None)?
            };
            Ok(WriteReport { rejections })
        })
    }

    fn pre_commit(_epoch: u64) -> Result<(), String> {
        // The epoch's rows are bound and wait in the host; nothing to prepare.
        with_state(|_| Ok(()))
    }

    fn commit(_epoch: u64) -> Result<(), String> {
        with_state(|s| cql::flush(&s.connection, s.batch_rows).map(|_| ()))
    }

    fn abort(_epoch: u64) {
        let _ = with_state(|s| {
            cql::discard(&s.connection);
            Ok(())
        });
    }

    fn close() -> Result<(), String> {
        with_state(|_| Ok(()))
    }
}

export_sink!(CassandraSink);

//! The bundled sinks: components built from plugins/sinks by host/build.rs
//! and embedded in the binary, named `builtin:NAME` in a pipeline. Several
//! share one component and differ by a preset config key.

/// The file sinks' component (csv, jsonl, parquet, stdout).
static FILES: &[u8] = include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/weir_sink_files.wasm"));
/// The SQL sinks' component (postgres, mysql, sqlite).
static SQL: &[u8] = include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/weir_sink_sql.wasm"));
/// The Cassandra / ScyllaDB sink's component.
static CASSANDRA: &[u8] = include_bytes!(concat!(
    env!("WEIR_PLUGIN_DIR"),
    "/weir_sink_cassandra.wasm"
));
/// The Kafka sink's component.
static KAFKA: &[u8] = include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/weir_sink_kafka.wasm"));

pub struct Builtin {
    pub name: &'static str,
    pub component: &'static [u8],
    /// Config the sink always gets; the user may not set these keys.
    pub preset: (&'static str, &'static str),
    pub about: &'static str,
}

pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "csv",
        component: FILES,
        preset: ("format", "csv"),
        about: "CSV files in the sink's directory",
    },
    Builtin {
        name: "jsonl",
        component: FILES,
        preset: ("format", "jsonl"),
        about: "JSON Lines files in the sink's directory",
    },
    Builtin {
        name: "parquet",
        component: FILES,
        preset: ("format", "parquet"),
        about: "Parquet files, Hive-style partition folders, rolled by rows, bytes or time",
    },
    Builtin {
        name: "delta",
        component: FILES,
        preset: ("format", "delta"),
        about: "a Delta Lake table: each epoch's Parquet files committed to its log at once, exactly once",
    },
    Builtin {
        name: "stdout",
        component: FILES,
        preset: ("format", "stdout"),
        about: "JSON Lines on standard output",
    },
    Builtin {
        name: "postgres",
        component: SQL,
        preset: ("dialect", "postgres"),
        about: "a PostgreSQL table (flavor = \"redshift\" for Redshift's SQL)",
    },
    Builtin {
        name: "mysql",
        component: SQL,
        preset: ("dialect", "mysql"),
        about: "a MySQL or MariaDB table",
    },
    Builtin {
        name: "sqlite",
        component: SQL,
        preset: ("dialect", "sqlite"),
        about: "a SQLite table (the embedded default)",
    },
    Builtin {
        name: "cassandra",
        component: CASSANDRA,
        preset: ("dialect", "cql"),
        about: "a Cassandra or ScyllaDB table (CQL)",
    },
    Builtin {
        name: "kafka",
        component: KAFKA,
        preset: ("producer", "kafka"),
        about: "a Kafka topic: JSON, Confluent Avro through a registry, or text",
    },
];

/// The bundled sink `builtin:NAME`, or an error listing those there are.
pub fn find(reference: &str) -> Result<Option<&'static Builtin>, String> {
    let Some(name) = reference.strip_prefix("builtin:") else {
        return Ok(None);
    };
    BUILTINS
        .iter()
        .find(|b| b.name == name)
        .map(Some)
        .ok_or_else(|| {
            let names: Vec<String> = BUILTINS
                .iter()
                .map(|b| format!("builtin:{}", b.name))
                .collect();
            format!(
                "there is no bundled sink {reference:?} (there are: {})",
                names.join(", ")
            )
        })
}

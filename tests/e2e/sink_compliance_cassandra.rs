//! `builtin:cassandra` passes the sink compliance harness
//! (weir_tests::compliance) against kassandra (an in-memory CQL server in
//! the test process: no Cassandra or ScyllaDB can be installed here), rows
//! read back by key with the scylla driver; beyond it, a key written twice
//! keeps its last row, and the keyspace and table are created on demand.

use weir_tests::cassandra::Cassandra;
use weir_tests::compliance::{self, SinkUnderTest};
use weir_tests::{Scratch, services};

const KEYSPACE: &str = "weir";
/// Row 2's name is not ASCII (the table's `name` is `ascii`); row 4 has a
/// null score.
const FIRST: &str = "id,name,score,day\n1,ada,90.5,2026-11-01\n2,björk,1,2026-11-01\n3,cy,77,2026-11-02\n4,dee,,2026-11-02\n";
/// Row 1 again with a new name (twice: the last one wins), and a new row 5.
const SECOND: &str =
    "id,name,score,day\n1,ada lovelace,91,2026-11-03\n5,eve,60,2026-11-03\n1,ADA,92,2026-11-03\n";
/// Every id the tests write: rows are read back one by one, by key.
const IDS: [i64; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

struct Target {
    cassandra: Cassandra,
    scratch: Scratch,
    table: String,
}

impl Target {
    fn new() -> Self {
        let cassandra = Cassandra::start();
        cassandra.create_keyspace(KEYSPACE);
        Target {
            cassandra,
            scratch: Scratch::new(),
            table: services::unique_table("compliance"),
        }
    }

    fn qualified(&self) -> String {
        format!("{KEYSPACE}.{}", self.table)
    }

    fn create_table(&self) {
        self.cassandra.execute(&format!(
            "CREATE TABLE {} (id bigint PRIMARY KEY, name ascii, score double, day date)",
            self.qualified()
        ));
    }

    /// Runs a pipeline reading `input` into the test's table, with the
    /// sink's `config` entries (TOML inline-table items) and `extra`
    /// pipeline text.
    fn run(&self, input: &str, config: &str, extra: &str) -> weir_tests::Run {
        self.run_into(&self.table, input, config, extra)
    }

    fn run_into(&self, table: &str, input: &str, config: &str, extra: &str) -> weir_tests::Run {
        let config = if config.is_empty() {
            String::new()
        } else {
            format!(", {config}")
        };
        compliance::run(self, input, &self.entry_into(table, &config), extra)
    }

    /// The `[connections]` and `[[sinks]]` text writing into `table`.
    fn entry_into(&self, table: &str, config: &str) -> String {
        format!(
            "[connections.db]\nurl = \"{url}\"\n\n[[sinks]]\nname = \"db\"\n\
             plugin = \"builtin:cassandra\"\nconnections = [\"db\"]\n\
             config = {{ connection = \"db\", table = \"{table}\", key = \"id\"{config} }}\n",
            url = self.cassandra.url(KEYSPACE),
        )
    }

    fn table_rows(&self) -> String {
        self.cassandra
            .rows(&self.qualified(), "id, name, score, day", "id", &IDS)
    }
}

impl SinkUnderTest for Target {
    fn name(&self) -> &str {
        "db"
    }

    fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    fn entry(&self, config: &str) -> String {
        self.entry_into(&self.table, &format!(", mode = \"append\"{config}"))
    }

    fn rows(&self) -> String {
        FIRST.to_string()
    }

    fn refused(&self) -> Option<(i64, &str)> {
        Some((2, "ascii"))
    }

    fn target(&self) -> String {
        "connection db".to_string()
    }

    fn written(&self, _: usize) -> Vec<String> {
        let rows = self
            .cassandra
            .rows(&self.qualified(), "id, name", "id", &IDS);
        rows.lines().map(str::to_string).collect()
    }

    fn ungranted(&self) -> (String, String) {
        (
            self.entry("")
                .replace("connection = \"db\"", "connection = \"elsewhere\""),
            "connection `elsewhere` is not granted to sink `db` (granted: db)".to_string(),
        )
    }
}

#[test]
fn cassandra_sink_passes_the_compliance_test() {
    let target = Target::new();
    target.create_table();
    compliance::passes_compliance(&target);
    // Values are written as sent, a null as a null.
    assert_eq!(
        target.table_rows(),
        "1|ada|90.5|2026-11-01\n3|cy|77|2026-11-02\n4|dee|null|2026-11-02"
    );

    // A CQL INSERT is an upsert: row 1 replaced (by its last version), row 5 added.
    target.run(SECOND, "mode = \"upsert\"", "").ok();
    assert_eq!(
        target.table_rows(),
        "1|ADA|92|2026-11-03\n3|cy|77|2026-11-02\n4|dee|null|2026-11-02\n5|eve|60|2026-11-03"
    );
}

#[test]
fn cassandra_sink_creates_its_keyspace_and_table() {
    let target = Target::new();
    // No table, and create_table off: a load-time error naming the table.
    let err = target.run(FIRST, "", "").fails();
    assert!(
        err.contains(&target.qualified()) && err.contains("create_table = true"),
        "{err}"
    );

    // create_table: the table is made from the rows' schema, `id` the key
    // (`name` is text, so row 2 goes in too), in a keyspace of its own.
    let elsewhere = format!("other_{}.{}", target.table, target.table);
    target
        .run_into(
            &elsewhere,
            FIRST,
            "create_keyspace = true, create_table = true",
            "",
        )
        .ok();
    assert_eq!(
        target.cassandra.rows(&elsewhere, "id, name", "id", &IDS),
        "1|ada\n2|björk\n3|cy\n4|dee"
    );
}

//! The sink compliance test for `builtin:cassandra`, against kassandra (an
//! in-memory CQL server in the test process: no Cassandra or ScyllaDB can
//! be installed here). Rows written equal rows sent (read back by key with
//! the scylla driver), a value CQL cannot take reaches the dead-letter with
//! the row and the reason, the summary counts it, a key written twice keeps
//! its last row, a failed epoch writes nothing, and grants are enforced.

use crate::sink_compliance::failing_sink;
use weir_tests::cassandra::Cassandra;
use weir_tests::{Scratch, services};

const KEYSPACE: &str = "weir";
const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, score DOUBLE, day DATE";
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
        let _ = std::fs::remove_dir_all(self.scratch.path().join("in"));
        self.scratch.write("in/rows.csv", input);
        let _ = std::fs::remove_file(self.scratch.path().join("out/dead.jsonl"));
        self.scratch.write(
            "pipeline.toml",
            &format!(
                r#"
[source]
type = "files"
path = "in"
format = "csv"
header = true
schema = "{SCHEMA}"

[connections.db]
url = "{url}"

[[sinks]]
name = "db"
plugin = "builtin:cassandra"
connections = ["db"]
config = {{ connection = "db", table = "{table}", key = "id"{config} }}
{extra}
[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
                url = self.cassandra.url(KEYSPACE),
            ),
        );
        self.scratch
            .weir(&["run", "pipeline.toml", "--available-now"])
    }

    fn rows(&self) -> String {
        self.cassandra
            .rows(&self.qualified(), "id, name, score, day", "id", &IDS)
    }
}

#[test]
fn cassandra_sink_passes_the_compliance_test() {
    let target = Target::new();
    target.create_table();

    // Every row written but the one CQL cannot take.
    let run = target.run(FIRST, "mode = \"append\"", "").ok();
    let summary = run.stderr();
    assert_eq!(
        target.rows(),
        "1|ada|90.5|2026-11-01\n3|cy|77|2026-11-02\n4|dee|null|2026-11-02",
        "{summary}"
    );
    assert!(
        summary.contains("sink db: 3 rows written to connection db")
            && summary.contains("1 refused (dead-lettered)")
            && summary.contains("all accounted for"),
        "{summary}"
    );
    let letters = target.scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["stage"], "sink:db");
    assert_eq!(letters[0]["input"]["id"], 2);
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("column `name`") && reason.contains("ascii"),
        "{reason}"
    );

    // A CQL INSERT is an upsert: row 1 replaced (by its last version), row 5 added.
    target.run(SECOND, "mode = \"upsert\"", "").ok();
    assert_eq!(
        target.rows(),
        "1|ADA|92|2026-11-03\n3|cy|77|2026-11-02\n4|dee|null|2026-11-02\n5|eve|60|2026-11-03"
    );

    // A failed epoch: another sink cannot prepare, so nothing is written.
    let err = target
        .run(
            "id,name,score,day\n6,fay,1,2026-11-04\n",
            "",
            &failing_sink("pre-commit"),
        )
        .fails();
    assert!(err.contains("epoch 1 was aborted"), "{err}");
    assert!(!target.rows().contains("fay"), "{}", target.rows());

    // A sink that traps mid-epoch: likewise.
    let err = target
        .run(
            "id,name,score,day\n7,gus,1,2026-11-04\n",
            "",
            &failing_sink("write"),
        )
        .fails();
    assert!(err.contains("trapped in write"), "{err}");
    assert!(!target.rows().contains("gus"), "{}", target.rows());
}

#[test]
fn cassandra_sink_creates_its_keyspace_and_table_and_keeps_to_its_grants() {
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

    // A connection the sink was not granted: named, with what it may use.
    let toml = std::fs::read_to_string(target.scratch.path().join("pipeline.toml"))
        .unwrap()
        .replace("connection = \"db\"", "connection = \"elsewhere\"");
    target.scratch.write("pipeline.toml", &toml);
    let err = target
        .scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .fails();
    assert!(
        err.contains("connection `elsewhere` is not granted to sink `db` (granted: db)"),
        "{err}"
    );
}

//! The compliance test every bundled SQL sink passes, against the real
//! database: rows written equal rows sent (read back with the database's
//! own client), refused rows reach the dead-letter with the row and the
//! database's reason, the run summary counts them, upserts replace by key,
//! a failed epoch leaves nothing behind, and grants are enforced.

use std::path::PathBuf;
use weir_tests::services::{self, MYSQL_URL, POSTGRES_URL};
use weir_tests::{Scratch, plugin, toml_path};

const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, score DOUBLE, day DATE";
/// Row 2 breaks the table's check constraint; row 4 has a null score.
const FIRST: &str = "id,name,score,day\n1,ada,90.5,2026-11-01\n2,bob,-1,2026-11-01\n3,cy,77,2026-11-02\n4,dee,,2026-11-02\n";
/// Row 1 again with a new name (twice: the last one wins), and a new row 5.
const SECOND: &str =
    "id,name,score,day\n1,ada lovelace,91,2026-11-03\n5,eve,60,2026-11-03\n1,ADA,92,2026-11-03\n";

#[derive(Clone, Copy, PartialEq)]
enum Db {
    Postgres,
    Mysql,
    Sqlite,
}

struct Target {
    db: Db,
    scratch: Scratch,
    table: String,
    sqlite_file: PathBuf,
}

impl Target {
    fn new(db: Db) -> Self {
        let scratch = Scratch::new();
        std::fs::create_dir_all(scratch.path().join("out")).unwrap();
        let sqlite_file = scratch.path().join("out/warehouse.db");
        Target {
            db,
            scratch,
            table: services::unique_table("compliance"),
            sqlite_file,
        }
    }

    fn url(&self) -> String {
        match self.db {
            Db::Postgres => POSTGRES_URL.to_string(),
            Db::Mysql => MYSQL_URL.to_string(),
            // Relative: it follows the pipeline file.
            Db::Sqlite => "sqlite:out/warehouse.db".to_string(),
        }
    }

    fn builtin(&self) -> &'static str {
        match self.db {
            Db::Postgres => "builtin:postgres",
            Db::Mysql => "builtin:mysql",
            Db::Sqlite => "builtin:sqlite",
        }
    }

    fn sql(&self, sql: &str) -> String {
        match self.db {
            Db::Postgres => services::psql(sql),
            Db::Mysql => services::mariadb(sql),
            Db::Sqlite => services::sqlite(&self.sqlite_file, sql),
        }
    }

    fn create_table(&self) {
        let (int, text, double, date) = match self.db {
            Db::Postgres => ("BIGINT", "TEXT", "DOUBLE PRECISION", "DATE"),
            Db::Mysql => ("BIGINT", "TEXT", "DOUBLE", "DATE"),
            Db::Sqlite => ("INTEGER", "TEXT", "REAL", "TEXT"),
        };
        self.sql(&format!(
            "CREATE TABLE {} (id {int} PRIMARY KEY, name {text}, score {double}, day {date}, \
             CONSTRAINT score_positive CHECK (score >= 0))",
            self.table
        ));
    }

    /// Runs a pipeline reading `input`, with the sink's `config` entries
    /// (TOML inline-table items) and `extra` pipeline text.
    fn run(&self, input: &str, config: &str, extra: &str) -> weir_tests::Run {
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
plugin = "{builtin}"
connections = ["db"]
config = {{ connection = "db", table = "{table}", {config} }}
{extra}
[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
                url = self.url(),
                builtin = self.builtin(),
                table = self.table,
            ),
        );
        self.scratch
            .weir(&["run", "pipeline.toml", "--available-now"])
    }

    fn rows(&self) -> String {
        self.sql(&format!(
            "SELECT id, name, CASE WHEN score IS NULL THEN 'null' ELSE 'set' END FROM {} ORDER BY id",
            self.table
        ))
    }
}

/// A second sink that fails (or traps) in `fail_in`, failing the epoch.
pub(crate) fn failing_sink(fail_in: &str) -> String {
    format!(
        "\n[[sinks]]\nname = \"failing\"\nplugin = {}\nconfig = {{ fail_in = \"{fail_in}\" }}\n",
        toml_path(&plugin("failing_sink"))
    )
}

fn compliance(db: Db, flavor: &str) {
    let target = Target::new(db);
    target.create_table();

    // Append: every row written but the one the database refuses.
    let run = target
        .run(FIRST, &format!("mode = \"append\"{flavor}"), "")
        .ok();
    let summary = run.stderr();
    assert_eq!(
        target.rows(),
        "1|ada|set\n3|cy|set\n4|dee|null",
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
    assert!(letters[0]["offset"].is_i64(), "{letters:?}");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(reason.contains("score_positive"), "{reason}");

    // Upsert by key: row 1 replaced (by its last version), row 5 added.
    target
        .run(
            SECOND,
            &format!("mode = \"upsert\", key = \"id\"{flavor}"),
            "",
        )
        .ok();
    assert_eq!(target.rows(), "1|ADA|set\n3|cy|set\n4|dee|null\n5|eve|set");

    // A failed epoch: another sink cannot prepare, so nothing is committed.
    let err = target
        .run(
            "id,name,score,day\n6,fay,1,2026-11-04\n",
            &format!("mode = \"append\"{flavor}"),
            &failing_sink("pre-commit"),
        )
        .fails();
    assert!(err.contains("epoch 1 was aborted"), "{err}");
    assert!(!target.rows().contains("fay"), "{}", target.rows());

    // A sink that traps mid-epoch: likewise.
    let err = target
        .run(
            "id,name,score,day\n7,gus,1,2026-11-04\n",
            &format!("mode = \"append\"{flavor}"),
            &failing_sink("write"),
        )
        .fails();
    assert!(err.contains("trapped in write"), "{err}");
    assert!(!target.rows().contains("gus"), "{}", target.rows());
}

fn create_and_grants(db: Db) {
    let target = Target::new(db);
    // No table, and create_table off: a load-time error naming the table.
    let err = target.run(FIRST, "mode = \"append\"", "").fails();
    assert!(
        err.contains(&target.table) && err.contains("create_table = true"),
        "{err}"
    );

    // create_table: the table is made from the rows' schema, key included.
    target
        .run(
            FIRST,
            "mode = \"upsert\", key = \"id\", create_table = true",
            "",
        )
        .ok();
    assert_eq!(target.rows(), "1|ada|set\n2|bob|set\n3|cy|set\n4|dee|null");
    target
        .run(SECOND, "mode = \"upsert\", key = \"id\"", "")
        .ok();
    assert_eq!(
        target.rows(),
        "1|ADA|set\n2|bob|set\n3|cy|set\n4|dee|null\n5|eve|set"
    );

    // A connection the sink was not granted: named, with what it may use.
    let text = std::fs::read_to_string(target.scratch.path().join("pipeline.toml"))
        .unwrap()
        .replace("connection = \"db\"", "connection = \"elsewhere\"");
    target.scratch.write("pipeline.toml", &text);
    let err = target
        .scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .fails();
    assert!(
        err.contains("connection `elsewhere` is not granted to sink `db` (granted: db)"),
        "{err}"
    );
}

#[test]
fn postgres_sink_passes_the_compliance_test() {
    compliance(Db::Postgres, "");
}

#[test]
fn postgres_sink_in_redshift_flavor_passes_the_compliance_test() {
    compliance(Db::Postgres, ", flavor = \"redshift\"");
}

#[test]
fn mysql_sink_passes_the_compliance_test() {
    compliance(Db::Mysql, "");
}

#[test]
fn sqlite_sink_passes_the_compliance_test() {
    compliance(Db::Sqlite, "");
}

#[test]
fn postgres_sink_creates_its_table_and_keeps_to_its_grants() {
    create_and_grants(Db::Postgres);
}

#[test]
fn mysql_sink_creates_its_table_and_keeps_to_its_grants() {
    create_and_grants(Db::Mysql);
}

#[test]
fn sqlite_sink_creates_its_table_and_keeps_to_its_grants() {
    create_and_grants(Db::Sqlite);
}

#[test]
fn a_connection_not_declared_is_refused_naming_it() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"generator\"\ncount = 1\n\n[connections.warehouse]\nurl = \"sqlite:w.db\"\n\n[[sinks]]\nname = \"db\"\nplugin = \"builtin:sqlite\"\nconnections = [\"wharehouse\"]\nconfig = { connection = \"wharehouse\", table = \"t\" }\n",
    );
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("sinks[0].connections[0]")
            && err.contains("\"wharehouse\"")
            && err.contains("declared: warehouse"),
        "{err}"
    );
}

/// A value too long for its column: refused by the database (PostgreSQL,
/// and MariaDB in its default strict mode), dead-lettered with its reason,
/// and the other rows kept.
fn too_long(db: Db) {
    let target = Target::new(db);
    target.sql(&format!(
        "CREATE TABLE {} (id BIGINT PRIMARY KEY, name VARCHAR(3), score DOUBLE PRECISION, day DATE)",
        target.table
    ).replace("DOUBLE PRECISION", if db == Db::Mysql { "DOUBLE" } else { "DOUBLE PRECISION" }));
    let run = target.run(FIRST, "mode = \"append\"", "").ok();
    assert_eq!(
        target.rows(),
        "1|ada|set\n2|bob|set\n3|cy|set\n4|dee|null",
        "{}",
        run.stderr()
    );
    let input = "id,name,score,day\n8,hannah,1,2026-11-04\n9,ivy,2,2026-11-04\n";
    let run = target.run(input, "mode = \"append\"", "").ok();
    assert!(
        run.stderr().contains("1 refused (dead-lettered)"),
        "{}",
        run.stderr()
    );
    assert!(
        target.rows().ends_with("4|dee|null\n9|ivy|set"),
        "{}",
        target.rows()
    );
    let letters = target.scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["input"]["name"], "hannah");
    let reason = letters[0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("too long"), "{reason}");
}

#[test]
fn postgres_sink_refuses_a_value_too_long_for_its_column() {
    too_long(Db::Postgres);
}

#[test]
fn mysql_sink_refuses_a_value_too_long_for_its_column() {
    too_long(Db::Mysql);
}

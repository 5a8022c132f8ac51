//! The bundled SQL sinks (postgres, its redshift flavor, mysql, sqlite)
//! and file sinks (csv, jsonl) pass the one sink compliance harness
//! (weir_tests::compliance) against the real database or folder; then what
//! SQL sinks do beyond it: upserts replace by key, tables are created from
//! the rows' schema, and values too long for a column are refused.

use std::path::PathBuf;
use weir_tests::Scratch;
use weir_tests::compliance::{self, SinkUnderTest};
use weir_tests::services::{self, MYSQL_URL, POSTGRES_URL};

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
    /// Config items every run adds (`, flavor = "redshift"`).
    flavor: &'static str,
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
            flavor: "",
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
        let config = if config.is_empty() {
            String::new()
        } else {
            format!(", {config}")
        };
        let entry = self.plugin_entry(&config);
        compliance::run(self, input, &entry, extra)
    }

    /// The `[connections]` and `[[sinks]]` text with `config` items.
    fn plugin_entry(&self, config: &str) -> String {
        format!(
            "[connections.db]\nurl = \"{url}\"\n\n[[sinks]]\nname = \"db\"\nplugin = \"{builtin}\"\n\
             connections = [\"db\"]\nconfig = {{ connection = \"db\", table = \"{table}\"{config}{flavor} }}\n",
            url = self.url(),
            builtin = self.builtin(),
            table = self.table,
            flavor = self.flavor,
        )
    }

    fn table_rows(&self) -> String {
        self.sql(&format!(
            "SELECT id, name, CASE WHEN score IS NULL THEN 'null' ELSE 'set' END FROM {} ORDER BY id",
            self.table
        ))
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
        self.plugin_entry(&format!(", mode = \"append\"{config}"))
    }

    fn rows(&self) -> String {
        FIRST.to_string()
    }

    fn refused(&self) -> Option<(i64, &str)> {
        Some((2, "score_positive"))
    }

    fn target(&self) -> String {
        "connection db".to_string()
    }

    fn written(&self, _: usize) -> Vec<String> {
        let rows = self.sql(&format!("SELECT id, name FROM {} ORDER BY id", self.table));
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

fn sql_compliance(db: Db, flavor: &'static str) {
    let target = Target {
        flavor,
        ..Target::new(db)
    };
    target.create_table();
    compliance::passes_compliance(&target);

    // Upsert by key: row 1 replaced (by its last version), row 5 added.
    target
        .run(SECOND, "mode = \"upsert\", key = \"id\"", "")
        .ok();
    assert_eq!(
        target.table_rows(),
        "1|ADA|set\n3|cy|set\n4|dee|null\n5|eve|set"
    );
}

fn creates_its_table(db: Db) {
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
    assert_eq!(
        target.table_rows(),
        "1|ada|set\n2|bob|set\n3|cy|set\n4|dee|null"
    );
    target
        .run(SECOND, "mode = \"upsert\", key = \"id\"", "")
        .ok();
    assert_eq!(
        target.table_rows(),
        "1|ADA|set\n2|bob|set\n3|cy|set\n4|dee|null\n5|eve|set"
    );
}

#[test]
fn postgres_sink_passes_the_compliance_test() {
    sql_compliance(Db::Postgres, "");
}

#[test]
fn postgres_sink_in_redshift_flavor_passes_the_compliance_test() {
    sql_compliance(Db::Postgres, ", flavor = \"redshift\"");
}

#[test]
fn mysql_sink_passes_the_compliance_test() {
    sql_compliance(Db::Mysql, "");
}

#[test]
fn sqlite_sink_passes_the_compliance_test() {
    sql_compliance(Db::Sqlite, "");
}

#[test]
fn postgres_sink_creates_its_table() {
    creates_its_table(Db::Postgres);
}

#[test]
fn mysql_sink_creates_its_table() {
    creates_its_table(Db::Mysql);
}

#[test]
fn sqlite_sink_creates_its_table() {
    creates_its_table(Db::Sqlite);
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
        target.table_rows(),
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
        target.table_rows().ends_with("4|dee|null\n9|ivy|set"),
        "{}",
        target.table_rows()
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

/// A bundled file sink writing part files into `out/files`.
struct Files {
    scratch: Scratch,
    /// `csv` or `jsonl`.
    format: &'static str,
}

impl Files {
    fn folder(&self) -> PathBuf {
        self.scratch.path().join("out/files")
    }
}

impl SinkUnderTest for Files {
    fn name(&self) -> &str {
        "files"
    }

    fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    fn entry(&self, config: &str) -> String {
        format!(
            "[[sinks]]\nname = \"files\"\nplugin = \"builtin:{}\"\ndirectory = \"out/files\"\n\
             config = {{ staged = true{config} }}\n",
            self.format
        )
    }

    fn rows(&self) -> String {
        FIRST.to_string()
    }

    fn refused(&self) -> Option<(i64, &str)> {
        None
    }

    fn target(&self) -> String {
        // The directory as the pipeline file gives it, beside that file.
        format!("./out/files (builtin:{})", self.format)
    }

    /// Every row of every published file (staging files are hidden).
    fn written(&self, _: usize) -> Vec<String> {
        let mut rows: Vec<(i64, String)> = Vec::new();
        let Ok(entries) = std::fs::read_dir(self.folder()) else {
            return Vec::new();
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            if self.format == "csv" {
                for line in text.lines().skip(1) {
                    let mut cells = line.split(',');
                    let id: i64 = cells.next().unwrap().parse().unwrap();
                    rows.push((id, cells.next().unwrap().to_string()));
                }
            } else {
                for line in text.lines() {
                    let row: serde_json::Value = serde_json::from_str(line).unwrap();
                    rows.push((
                        row["id"].as_i64().unwrap(),
                        row["name"].as_str().unwrap().into(),
                    ));
                }
            }
        }
        rows.sort();
        rows.into_iter()
            .map(|(id, name)| format!("{id}|{name}"))
            .collect()
    }

    fn ungranted(&self) -> (String, String) {
        (
            self.entry(", path = \"../escape.csv\""),
            "must stay inside the granted directory".to_string(),
        )
    }
}

#[test]
fn csv_sink_passes_the_compliance_test() {
    compliance::passes_compliance(&Files {
        scratch: Scratch::new(),
        format: "csv",
    });
}

#[test]
fn jsonl_sink_passes_the_compliance_test() {
    compliance::passes_compliance(&Files {
        scratch: Scratch::new(),
        format: "jsonl",
    });
}

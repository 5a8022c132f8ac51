//! ELT in the SQL sinks (`after_load`): statements run in each epoch's
//! transaction after its rows are loaded, so the load and the SQL commit
//! together, or neither does. Checked on SQLite, read back with sqlite3.

use weir_tests::Scratch;
use weir_tests::services::sqlite;

fn pipeline(scratch: &Scratch, after_load: &str) {
    scratch.write("in/a.txt", "one\ntwo\nthree\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "lines"

[connections.db]
url = "sqlite:out/db.sqlite"

[[sinks]]
name = "raw"
plugin = "builtin:sqlite"
connections = ["db"]

[sinks.config]
connection = "db"
table = "raw"
create_table = true
after_load = """{after_load}"""

[checkpoint]
interval = "1h"
"#
        ),
    );
}

#[test]
fn after_load_statements_run_in_the_epochs_transaction() {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("out")).unwrap();
    let db = scratch.path().join("out/db.sqlite");
    sqlite(&db, "CREATE TABLE totals (n INTEGER, note TEXT)");
    // A `;` in a string and in a comment does not split a statement.
    pipeline(
        &scratch,
        "INSERT INTO totals SELECT count(*), 'a;b' FROM raw -- loaded; counted\n;\nDELETE FROM raw",
    );
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(sqlite(&db, "SELECT n, note FROM totals"), "3|a;b");
    assert_eq!(sqlite(&db, "SELECT count(*) FROM raw"), "0");
}

#[test]
fn a_failing_after_load_statement_takes_the_epochs_rows_back_and_says_which() {
    let scratch = Scratch::new();
    pipeline(&scratch, "SELECT 1; INSERT INTO no_such_table VALUES (1)");
    let error = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(
        error.contains("after_load")
            && error.contains("statement 2")
            && error.contains("no_such_table"),
        "{error}"
    );
    let db = scratch.path().join("out/db.sqlite");
    assert_eq!(
        sqlite(&db, "SELECT count(*) FROM raw"),
        "0",
        "the load was rolled back"
    );
}

//! The real services the sink tests read back from, through their own
//! command-line clients (independent of weir's drivers): PostgreSQL,
//! MariaDB, SQLite, and pyarrow for Parquet. scripts/setup-databases
//! installs and starts them.

use std::path::Path;
use std::process::Command;

pub const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (scripts/setup-databases installs it): {e}")
        });
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_string()
}

/// Runs SQL in PostgreSQL's `test` database; rows as `a|b` lines.
pub fn psql(sql: &str) -> String {
    run(
        "psql",
        &[
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-v",
            "ON_ERROR_STOP=1",
            "-qAt",
            "-c",
            sql,
        ],
    )
}

/// Runs SQL in MariaDB's `test` database; rows as `a|b` lines.
pub fn mariadb(sql: &str) -> String {
    run(
        "mariadb",
        &[
            "-h",
            "127.0.0.1",
            "-u",
            "root",
            "-N",
            "-B",
            "test",
            "-e",
            sql,
        ],
    )
    .replace('\t', "|")
}

/// Runs SQL on a SQLite file; rows as `a|b` lines.
pub fn sqlite(file: &Path, sql: &str) -> String {
    run("sqlite3", &[&file.display().to_string(), sql])
}

/// Runs a Python script with pyarrow (the venv scripts/setup-databases makes).
pub fn pyarrow(script: &str) -> String {
    let python = crate::root().join("target/pyarrow-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/setup-databases",
        python.display()
    );
    run(&python.display().to_string(), &["-c", script])
}

/// A table name no other test uses.
pub fn unique_table(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

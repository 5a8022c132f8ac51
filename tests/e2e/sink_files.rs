//! The compliance test for the bundled file sinks: rows written equal rows
//! sent (Parquet read back by pyarrow, with Hive partitioning), files
//! appear only when their epoch commits, rolling splits files, and a failed
//! epoch leaves no file and no staging file behind.

use weir_tests::services;
use weir_tests::{Scratch, plugin, toml_path};

const INPUT: &str = "symbol,price,day\n005930,71000.5,2026-11-20\n000660,182000,2026-11-20\n005930,71200,2026-11-21\n035420,,2026-11-21\n005930,71300,2026-11-21\n";

fn pipeline(scratch: &Scratch, sinks: &str) {
    scratch.write("in/quotes.csv", INPUT);
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "csv"
header = true
schema = "symbol STRING NOT NULL, price DOUBLE, day DATE"
{sinks}"#
        ),
    );
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &std::path::Path) -> Vec<String> {
    fn walk(base: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                out.push(path.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn parquet_sink_writes_hive_partitions_that_pyarrow_reads_back() {
    let scratch = Scratch::new();
    pipeline(
        &scratch,
        r#"
[[sinks]]
name = "bars"
plugin = "builtin:parquet"
directory = "out/quotes"
config = { partition_by = "day, symbol" }
"#,
    );
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert!(
        run.stderr().contains("sink bars: 5 rows written to"),
        "{}",
        run.stderr()
    );
    let written = files(&scratch.path().join("out/quotes"));
    let folders: Vec<&str> = written
        .iter()
        .map(|f| f.rsplit_once('/').unwrap().0)
        .collect();
    assert_eq!(
        folders,
        [
            "day=2026-11-20/symbol=000660",
            "day=2026-11-20/symbol=005930",
            "day=2026-11-21/symbol=005930",
            "day=2026-11-21/symbol=035420"
        ],
        "{written:?}"
    );
    assert!(
        written.iter().all(|f| f.ends_with(".parquet")),
        "{written:?}"
    );

    let read = services::pyarrow(&format!(
        r#"
import pyarrow as pa, pyarrow.dataset as ds
# Hive folders carry no types: name them, or "005930" is read as a number.
parts = ds.partitioning(pa.schema([("day", pa.date32()), ("symbol", pa.string())]), flavor="hive")
t = ds.dataset({dir}, format="parquet", partitioning=parts).to_table()
rows = sorted(zip(t["symbol"].to_pylist(), t["price"].to_pylist(), [str(d) for d in t["day"].to_pylist()]), key=lambda r: (r[2], r[0], r[1] or 0))
print(t.num_rows)
for r in rows: print(*r)
"#,
        dir = toml_path(&scratch.path().join("out/quotes"))
    ));
    assert_eq!(
        read,
        "5\n000660 182000.0 2026-11-20\n005930 71000.5 2026-11-20\n005930 71200.0 2026-11-21\n005930 71300.0 2026-11-21\n035420 None 2026-11-21"
    );
}

#[test]
fn parquet_files_roll_by_rows_and_runs_add_files_beside_earlier_ones() {
    let scratch = Scratch::new();
    pipeline(
        &scratch,
        r#"
[[sinks]]
name = "bars"
plugin = "builtin:parquet"
directory = "out/quotes"
config = { max_rows_per_file = 2 }
"#,
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        files(&scratch.path().join("out/quotes")).len(),
        3,
        "5 rows, 2 per file"
    );
    // Millisecond run ids name the files: let the clock move.
    std::thread::sleep(std::time::Duration::from_millis(5));
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let read = services::pyarrow(&format!(
        "import pyarrow.dataset as ds\nprint(ds.dataset({}, format='parquet').count_rows())",
        toml_path(&scratch.path().join("out/quotes"))
    ));
    assert_eq!(read, "10", "a second run appends its own files");
}

#[test]
fn csv_and_jsonl_sinks_write_every_row_and_stdout_prints_them() {
    let scratch = Scratch::new();
    pipeline(
        &scratch,
        r#"
[[sinks]]
name = "csv"
plugin = "builtin:csv"
directory = "out"
config = { path = "quotes.csv", delimiter = ";" }

[[sinks]]
name = "jsonl"
plugin = "builtin:jsonl"
directory = "out/json"
config = { partition_by = "day" }

[[sinks]]
name = "screen"
plugin = "builtin:stdout"
"#,
    );
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        scratch.read("out/quotes.csv"),
        "symbol;price;day\n005930;71000.5;2026-11-20\n000660;182000.0;2026-11-20\n005930;71200.0;2026-11-21\n035420;;2026-11-21\n005930;71300.0;2026-11-21\n"
    );
    let json = files(&scratch.path().join("out/json"));
    assert_eq!(json.len(), 2, "{json:?}");
    let day21 = json
        .iter()
        .find(|f| f.starts_with("day=2026-11-21/"))
        .unwrap();
    let lines = scratch.read(&format!("out/json/{day21}"));
    assert_eq!(
        lines,
        "{\"symbol\":\"005930\",\"price\":71200.0}\n{\"symbol\":\"035420\"}\n{\"symbol\":\"005930\",\"price\":71300.0}\n",
        "partition columns live in the folder name"
    );
    assert_eq!(run.stdout().lines().count(), 5, "{}", run.stdout());
}

#[test]
fn a_failed_epoch_publishes_no_file_and_leaves_no_staging_file() {
    let scratch = Scratch::new();
    pipeline(
        &scratch,
        &format!(
            r#"
[[sinks]]
name = "bars"
plugin = "builtin:parquet"
directory = "out/quotes"
config = {{ partition_by = "day", max_rows_per_file = 1 }}

[[sinks]]
name = "failing"
plugin = {}
config = {{ fail_in = "pre-commit" }}
"#,
            toml_path(&plugin("failing_sink"))
        ),
    );
    let err = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .fails();
    assert!(err.contains("epoch 1 was aborted"), "{err}");
    assert_eq!(
        files(&scratch.path().join("out/quotes")),
        Vec::<String>::new()
    );
}

#[test]
fn bundled_sinks_are_inspected_by_name() {
    let scratch = Scratch::new();
    let out = scratch
        .weir(&["plugin", "inspect", "builtin:postgres"])
        .ok()
        .stdout();
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["world"], "sink");
    assert_eq!(info["bundled"]["preset_config"]["dialect"], "postgres");
    let imports = info["imports"].to_string();
    assert!(imports.contains("weir:plugin/sql"), "{imports}");
    assert!(
        !imports.contains("wasi:sockets"),
        "a sink opens no sockets: {imports}"
    );

    let err = scratch
        .weir(&["plugin", "inspect", "builtin:oracle"])
        .fails();
    assert!(err.contains("builtin:postgres"), "{err}");
}

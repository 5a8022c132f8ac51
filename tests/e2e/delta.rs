//! `builtin:delta`: each epoch's Parquet files committed to a Delta Lake
//! table's log at once, exactly once across crashes (the log's `txn`),
//! partitioned, on a local folder and in an S3 bucket, read back by delta-rs'
//! Python package (`deltalake`), and a table whose columns differ refused.

use std::collections::BTreeMap;
use weir_tests::Scratch;
use weir_tests::s3::S3;
use weir_tests::services::pyarrow;

/// `n` CSV rows `id,country,amount` from `first`.
fn rows(first: usize, n: usize) -> String {
    let countries = ["KR", "FR", "a/b c"];
    (first..first + n)
        .map(|i| format!("{i},{},{}.5\n", countries[i % 3], i % 10))
        .collect()
}

fn pipeline(scratch: &Scratch, directory: &str, storage: &str) {
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "csv"
schema = "id BIGINT NOT NULL, country STRING, amount DOUBLE"
batch_size = 40

[checkpoint]
interval = "1ms"

[[sinks]]
name = "table"
plugin = "builtin:delta"
directory = "{directory}"
config = {{ partition_by = "country" }}

{storage}"#
        ),
    );
}

/// How often each id is in the table, as deltalake reads it; the epochs
/// its log's commits name, oldest first; and the rows per country.
fn read_table(
    uri: &str,
    options: &str,
) -> (BTreeMap<i64, usize>, Vec<i64>, BTreeMap<String, usize>) {
    let out = pyarrow(&format!(
        r#"
import json
from deltalake import DeltaTable
t = DeltaTable({uri:?}, storage_options={options})
table = t.to_pyarrow_table()
epochs = [int(h["operationParameters"]["epochId"]) for h in reversed(t.history())]
print(json.dumps(epochs))
for i, c in zip(table.column("id").to_pylist(), table.column("country").to_pylist()): print(i, c)
# Leave before the interpreter's teardown, which aborts in pyarrow's S3
# code ("terminate called without an active exception") after a read.
import os, sys; sys.stdout.flush(); os._exit(0)
"#
    ));
    let mut lines = out.lines();
    let versions: Vec<i64> = serde_json::from_str(lines.next().unwrap()).unwrap();
    let (mut ids, mut countries) = (BTreeMap::new(), BTreeMap::new());
    for line in lines {
        let (id, country) = line.split_once(' ').unwrap();
        *ids.entry(id.parse().unwrap()).or_insert(0) += 1;
        *countries.entry(country.to_string()).or_insert(0) += 1;
    }
    (ids, versions, countries)
}

fn assert_each_once(ids: &BTreeMap<i64, usize>, n: usize) {
    let twice: Vec<_> = ids.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "ids in the table twice: {twice:?}");
    assert_eq!(
        ids.len(),
        n,
        "ids missing: {:?}",
        (0..n as i64).find(|i| !ids.contains_key(i))
    );
}

#[test]
fn crashes_at_each_commit_step_leave_every_row_in_the_table_once() {
    let scratch = Scratch::new();
    for f in 0..6 {
        scratch.write(&format!("in/{f}.csv"), &rows(f * 100, 100));
    }
    pipeline(&scratch, "out/table", "");
    // Each run dies at the first epoch's step (epochs end by time, so their
    // number is not known): staged but no checkpoint, a checkpoint but no
    // commit, a commit to the log but not recorded in the checkpoints.
    for point in [
        "after-pre-commit",
        "after-write",
        "after-commit",
        "after-commit",
    ] {
        scratch.run_until_crash(point);
    }
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    // The epoch the last crash left committed to the log but not to the
    // checkpoints was replayed, and the log's txn kept it from a second commit.
    assert!(
        run.stderr()
            .contains("The Delta log has this epoch already"),
        "{}",
        run.stderr()
    );
    let uri = scratch.path().join("out/table").display().to_string();
    let (ids, epochs, countries) = read_table(&uri, "None");
    assert_each_once(&ids, 600);
    assert_eq!(
        countries["a/b c"], 200,
        "an escaped partition value reads back: {countries:?}"
    );
    // One version per epoch, none twice, in order.
    assert!(
        epochs.windows(2).all(|w| w[0] < w[1]),
        "epochs of the log's versions: {epochs:?}"
    );

    // More input later: the next run appends new versions.
    scratch.write("in/6.csv", &rows(600, 10));
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    assert_each_once(&read_table(&uri, "None").0, 610);
}

#[test]
fn a_table_in_a_bucket_is_committed_and_read_back() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    let scratch = Scratch::new();
    scratch.write("in/a.csv", &rows(0, 100));
    pipeline(&scratch, "s3://lake/tables/sales", &s3.storage_toml());
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    let options = format!(
        "{{'AWS_ENDPOINT_URL': '{}', 'AWS_ALLOW_HTTP': 'true', 'AWS_ACCESS_KEY_ID': 'test', \
         'AWS_SECRET_ACCESS_KEY': 'test', 'AWS_REGION': 'us-east-1', 'AWS_S3_ALLOW_UNSAFE_RENAME': 'true'}}",
        s3.endpoint()
    );
    let (ids, _, _) = read_table("s3://lake/tables/sales", &options);
    assert_each_once(&ids, 100);
    assert!(
        s3.list("lake", "tables/sales/_delta_log/")
            .iter()
            .any(|k| k.ends_with("00000000000000000000.json")),
        "{:?}",
        s3.list("lake", "tables/sales/")
    );
}

#[test]
fn a_table_with_other_columns_is_refused_naming_both() {
    let scratch = Scratch::new();
    scratch.write("in/a.csv", &rows(0, 10));
    pipeline(&scratch, "out/table", "");
    assert!(
        scratch
            .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
            .success()
    );
    let text = scratch
        .read("pipeline.toml")
        .replace("amount DOUBLE", "amount STRING")
        .replace(
            "interval = \"1ms\"",
            "interval = \"1ms\"\nlocation = \"other-checkpoints\"",
        );
    scratch.write("pipeline.toml", &text);
    let error = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(
        error.contains("amount \"double\"") && error.contains("amount \"string\""),
        "{error}"
    );
}

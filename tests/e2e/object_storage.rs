//! Object storage end to end against a real S3 API (moto's server): the
//! files source reading a bucket's prefix (CSV, gzip, Parquet), the file
//! sinks writing to it, checkpoints kept in it, and what a crash, an outage
//! or a bad object does. Objects are put and read back with boto3.

use std::collections::BTreeMap;
use std::time::Duration;
use weir_tests::s3::S3;
use weir_tests::services::pyarrow;
use weir_tests::{Scratch, wait_for};

/// `n` CSV rows `id,name,score` with ids from `first`.
fn csv_rows(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("{i},name-{i},{}\n", i % 7))
        .collect()
}

fn gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut out = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip runs");
    out.stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = out.wait_with_output().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// A pipeline: CSV objects under s3://BUCKET/raw/ → Parquet under
/// s3://BUCKET/out/, checkpoints in the bucket too, an epoch per batch.
fn pipeline(scratch: &Scratch, s3: &S3, bucket: &str, extra_source: &str) {
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "s3://{bucket}/raw/"
format = "csv"
schema = "id BIGINT, name STRING, score INT"
batch_size = 50
poll_interval_ms = 200
{extra_source}

[checkpoint]
interval = "1ms"
location = "s3://{bucket}/checkpoints"

[[sinks]]
name = "lake"
plugin = "builtin:parquet"
directory = "s3://{bucket}/out"

[dead_letter]
type = "jsonl"
path = "dead.jsonl"

{storage}"#,
            storage = s3.storage_toml()
        ),
    );
}

/// The ids in every Parquet object under s3://BUCKET/out/, as pyarrow
/// reads the objects boto3 fetched; with how often each occurs.
fn ids_in_bucket(scratch: &Scratch, s3: &S3, bucket: &str) -> BTreeMap<i64, usize> {
    let local = scratch.path().join(format!("fetched-{}", rand_suffix()));
    std::fs::create_dir_all(&local).unwrap();
    s3.download(bucket, "out/", &local);
    let script = format!(
        r#"
import pyarrow.parquet as pq, os
d = {dir:?}
for f in sorted(os.listdir(d)):
    for i in pq.read_table(os.path.join(d, f)).column("id").to_pylist(): print(i)
"#,
        dir = local.display().to_string()
    );
    let mut ids = BTreeMap::new();
    for line in pyarrow(&script).lines() {
        *ids.entry(line.parse::<i64>().unwrap()).or_insert(0) += 1;
    }
    ids
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Every id in `0..n` exactly once.
fn assert_exactly_once(ids: &BTreeMap<i64, usize>, n: usize) {
    let twice: Vec<_> = ids.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "ids written twice: {twice:?}");
    let missing: Vec<i64> = (0..n as i64)
        .filter(|i| !ids.contains_key(i))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "ids missing (first few): {missing:?}");
    assert_eq!(ids.len(), n, "ids beyond 0..{n}");
}

#[test]
fn new_objects_are_read_as_they_arrive_and_land_in_the_bucket_as_parquet() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    s3.put("lake", "raw/2026/a.csv", csv_rows(0, 120).as_bytes());
    // Spark's hidden and underscore names are not data.
    s3.put("lake", "raw/_SUCCESS", b"");
    s3.put("lake", "raw/.a.csv.crc", b"not csv");
    let scratch = Scratch::new();
    pipeline(&scratch, &s3, "lake", "");
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    wait_for("the first object's rows in the bucket", 60, || {
        ids_in_bucket(&scratch, &s3, "lake").len() == 120
    });
    // A gzip object arriving later is picked up by the next listing.
    s3.put("lake", "raw/2026/b.csv.gz", &gzip(&csv_rows(120, 80)));
    wait_for("the second object's rows in the bucket", 60, || {
        ids_in_bucket(&scratch, &s3, "lake").len() == 200
    });
    let run = running.stop();
    assert!(run.success(), "{}", run.stderr());
    assert_exactly_once(&ids_in_bucket(&scratch, &s3, "lake"), 200);
    assert!(
        s3.list("lake", "checkpoints/")
            .iter()
            .any(|k| k.ends_with("committed")),
        "checkpoints are kept in the bucket: {:?}",
        s3.list("lake", "checkpoints/")
    );
    assert_eq!(
        s3.unfinished_uploads("lake"),
        0,
        "every upload was completed or aborted"
    );
    let dead = std::fs::read_to_string(scratch.path().join("dead.jsonl")).unwrap_or_default();
    assert!(dead.is_empty(), "no dead letters: {dead}");
}

#[test]
fn kills_and_restarts_with_checkpoints_in_the_bucket_read_no_object_twice() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    let (files, per_file) = (12, 100);
    for f in 0..files {
        let key = format!("raw/part-{f:03}.csv");
        s3.put("lake", &key, csv_rows(f * per_file, per_file).as_bytes());
    }
    let scratch = Scratch::new();
    pipeline(&scratch, &s3, "lake", "");
    // Each run dies at a step of the first epoch's commit (epochs end by
    // time, so their number is not known): after the sinks staged their
    // uploads, after the checkpoint, after the commit.
    for point in ["after-pre-commit", "after-write", "after-commit"] {
        scratch.run_until_crash(point);
    }
    let last = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(last.success(), "{}", last.stderr());
    assert_exactly_once(&ids_in_bucket(&scratch, &s3, "lake"), files * per_file);
}

#[test]
fn a_store_that_stops_answering_is_waited_out_and_nothing_is_lost_or_doubled() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    for f in 0..4 {
        let key = format!("raw/a-{f}.csv");
        s3.put("lake", &key, csv_rows(f * 100, 100).as_bytes());
    }
    let scratch = Scratch::new();
    pipeline(&scratch, &s3, "lake", "");
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    wait_for("the first rows in the bucket", 60, || {
        !ids_in_bucket(&scratch, &s3, "lake").is_empty()
    });
    // The server freezes (as on a lost network) for longer than the
    // client's timeout, then comes back.
    s3.pause();
    std::thread::sleep(Duration::from_secs(8));
    s3.resume();
    for f in 4..6 {
        let key = format!("raw/b-{f}.csv");
        s3.put("lake", &key, csv_rows(f * 100, 100).as_bytes());
    }
    wait_for("every row in the bucket", 120, || {
        ids_in_bucket(&scratch, &s3, "lake").len() >= 600
    });
    let run = running.stop();
    assert!(run.success(), "{}", run.stderr());
    // The client retried through the outage (object_store's retries).
    assert!(run.stderr().contains("retry"), "{}", run.stderr());
    assert_exactly_once(&ids_in_bucket(&scratch, &s3, "lake"), 600);
}

#[test]
fn bad_objects_go_to_the_dead_letter_with_their_key() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    s3.put("lake", "raw/a.csv", csv_rows(0, 10).as_bytes());
    s3.put("lake", "raw/b.csv.gz", b"this is not gzip at all");
    s3.put("lake", "raw/c.csv", b"11,eleven,1\nnot-a-number,x,2\n");
    let scratch = Scratch::new();
    pipeline(&scratch, &s3, "lake", "");
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    let ids = ids_in_bucket(&scratch, &s3, "lake");
    let expected: Vec<i64> = (0..10).chain([11]).collect();
    assert_eq!(ids.keys().copied().collect::<Vec<_>>(), expected);
    let letters = scratch.dead_letters("dead.jsonl");
    let sources: Vec<&str> = letters
        .iter()
        .map(|l| l["source"].as_str().unwrap())
        .collect();
    assert_eq!(
        sources,
        ["s3://lake/raw/b.csv.gz", "s3://lake/raw/c.csv"],
        "{letters:?}"
    );
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("decompress"),
        "{letters:?}"
    );
    assert_eq!(letters[1]["offset"], 2, "{letters:?}");
}

#[test]
fn a_missing_bucket_or_an_unknown_storage_option_is_refused_by_name() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    let scratch = Scratch::new();
    pipeline(&scratch, &s3, "no-such-bucket", "");
    let error = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(error.contains("s3://no-such-bucket/"), "{error}");

    // The sink's bucket is checked when it opens, before any row is read.
    s3.put("lake", "raw/a.csv", csv_rows(0, 10).as_bytes());
    pipeline(&scratch, &s3, "lake", "");
    let text = scratch
        .read("pipeline.toml")
        .replace(
            "directory = \"s3://lake/out\"",
            "directory = \"s3://missing-bucket/out\"",
        )
        .replace(
            "location = \"s3://lake/checkpoints\"",
            "location = \"checkpoints\"",
        );
    scratch.write("pipeline.toml", &text);
    let error = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(error.contains("s3://missing-bucket/out"), "{error}");

    let text = scratch
        .read("pipeline.toml")
        .replace("[storage]\n", "[storage]\nendpiont = \"x\"\n");
    scratch.write("pipeline.toml", &text);
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(error.contains("storage.endpiont"), "{error}");
}

#[test]
fn parquet_objects_are_read_by_column_and_cast_to_the_declared_schema() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    let scratch = Scratch::new();
    let local = scratch.path().join("p.parquet");
    pyarrow(&format!(
        r#"
import pyarrow as pa, pyarrow.parquet as pq
t = pa.table({{"id": pa.array(range(1000), pa.int32()), "name": [f"n{{i}}" for i in range(1000)],
               "unused": [1.5] * 1000, "score": pa.array([i % 7 for i in range(1000)], pa.int64())}})
pq.write_table(t, {path:?}, row_group_size=300)
"#,
        path = local.display().to_string()
    ));
    s3.put("lake", "raw/p.parquet", &std::fs::read(&local).unwrap());
    s3.put("lake", "raw/q.parquet", b"PAR1 but not really");
    pipeline(&scratch, &s3, "lake", "");
    let text = scratch
        .read("pipeline.toml")
        .replace("format = \"csv\"", "format = \"parquet\"");
    scratch.write("pipeline.toml", &text);
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    assert_exactly_once(&ids_in_bucket(&scratch, &s3, "lake"), 1000);
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["source"], "s3://lake/raw/q.parquet");
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("Parquet"),
        "{letters:?}"
    );
}

#[test]
fn a_join_table_is_read_from_the_bucket() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    s3.put(
        "lake",
        "tables/customers.csv",
        b"customer_id,segment\n1,gold\n2,silver\n",
    );
    let scratch = Scratch::new();
    scratch.write("in/events.csv", "e1,1\ne2,3\ne3,2\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "csv"
schema = "event STRING NOT NULL, customer_id BIGINT"

[[joins]]
name = "customers"
on = ["customer_id"]
table = {{ path = "s3://lake/tables/customers.csv", format = "csv", header = true, schema = "customer_id BIGINT NOT NULL, segment STRING" }}

[[sinks]]
name = "out"
type = "csv"
path = "out.csv"

{}"#,
            s3.storage_toml()
        ),
    );
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"]);
    assert!(run.success(), "{}", run.stderr());
    assert_eq!(
        scratch.read("out.csv"),
        "event,customer_id,segment\ne1,1,gold\ne3,2,silver\n"
    );
}

#[test]
fn refused_credentials_stop_the_run_at_once_naming_the_bucket() {
    let (s3, key, _) = S3::start_checking_credentials();
    let scratch = Scratch::new();
    scratch.write("in/a.csv", &csv_rows(0, 10));
    let storage = s3
        .storage_toml()
        .replace(
            "access_key_id = \"test\"",
            &format!("access_key_id = \"{key}\""),
        )
        .replace(
            "secret_access_key = \"test\"",
            "secret_access_key = \"not-the-secret\"",
        );
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"s3://lake/raw/\"\nformat = \"lines\"\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"stdout\"\n\n{storage}"
        ),
    );
    let started = std::time::Instant::now();
    let error = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(
        error.contains("s3://lake/raw/") && error.contains("signature"),
        "{error}"
    );
    // Refused, not retried as an outage would be.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}: {error}",
        started.elapsed()
    );
}

/// The CSV and JSON Lines sinks on the bucket: Hive folders by `score`,
/// files rolled every 40 rows, each row once across kills at the steps of
/// an epoch's commit; a clean run leaves no upload unfinished.
#[test]
fn csv_and_jsonl_sinks_write_hive_folders_to_the_bucket_once_across_kills() {
    let s3 = S3::start();
    s3.create_bucket("lake");
    let scratch = Scratch::new();
    for f in 0..6 {
        scratch.write(&format!("in/part-{f}.csv"), &csv_rows(f * 100, 100));
    }
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "csv"
schema = "id BIGINT, name STRING, score INT"
batch_size = 50

[checkpoint]
interval = "1ms"

[[sinks]]
name = "csv"
plugin = "builtin:csv"
directory = "s3://lake/csv"
config = {{ partition_by = "score", max_rows_per_file = 40 }}

[[sinks]]
name = "jsonl"
plugin = "builtin:jsonl"
directory = "s3://lake/jsonl"

{storage}"#,
            storage = s3.storage_toml()
        ),
    );
    for point in ["after-pre-commit", "after-write", "after-commit"] {
        scratch.run_until_crash(point);
    }
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .ok();
    let fetched = |prefix: &str| {
        let local = scratch.path().join(format!("fetched-{prefix}"));
        std::fs::create_dir_all(&local).unwrap();
        s3.download("lake", &format!("{prefix}/"), &local);
        local
    };
    // CSV: id,name per line under score=N/ (the partition column is the folder).
    let mut csv_ids = BTreeMap::new();
    let keys = s3.list("lake", "csv/");
    assert!(
        keys.iter().any(|k| k.starts_with("csv/score=3/")),
        "Hive folders by score: {keys:?}"
    );
    for key in &keys {
        let text = String::from_utf8(s3.get("lake", key)).unwrap();
        let score: i64 = key
            .split("score=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for line in text.lines().filter(|l| !l.starts_with("id")) {
            let id: i64 = line.split(',').next().unwrap().parse().unwrap();
            assert_eq!(id % 7, score, "row {id} is in the folder of its score");
            *csv_ids.entry(id).or_insert(0) += 1;
        }
    }
    assert_exactly_once(&csv_ids, 600);
    let mut jsonl_ids = BTreeMap::new();
    let dir = fetched("jsonl");
    for entry in std::fs::read_dir(&dir).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            *jsonl_ids.entry(row["id"].as_i64().unwrap()).or_insert(0) += 1;
        }
    }
    assert_exactly_once(&jsonl_ids, 600);
    let before = s3.unfinished_uploads("lake");
    scratch.write("in/part-6.csv", &csv_rows(600, 100));
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .ok();
    assert_eq!(
        s3.unfinished_uploads("lake"),
        before,
        "a clean run completes or aborts every upload it starts"
    );
}

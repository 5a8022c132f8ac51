//! Pressure: a sink that writes at a trickle holds the source back, so a
//! million rows waiting cost bounded memory; and a disk that fills under a
//! file sink or under the checkpoint store fails the epoch, which is retried
//! and loses nothing once space returns (docs/backpressure.md).

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use weir_tests::proxy::Proxy;
use weir_tests::services::{psql, unique_table};
use weir_tests::tmpfs::Tmpfs;
use weir_tests::{Scratch, wait_for};

/// The weir process's peak resident memory so far (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

/// A weir process, killed if the test fails before it ends.
struct Weir(Child);

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts weir with its log in `weir.err`.
fn spawn(scratch: &Scratch, args: &[&str]) -> Weir {
    let log = std::fs::File::create(scratch.path().join("weir.err")).unwrap();
    Weir(
        scratch
            .command(scratch.path(), args, &[])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("weir starts"),
    )
}

/// The PostgreSQL sink's bytes per second through the proxy: a trickle
/// (about 4 000 generated rows a second as COPY text), so that almost all
/// of the million rows are still waiting when memory is read.
const TRICKLE: u64 = 256 * 1024;

/// The peak RSS allowed while the rows wait. Measured (BENCHMARKS.md): with
/// the sink's component already compiled, a run peaks at about 50 MiB
/// whether 20 000 or 1 000 000 rows are generated, since the source makes a
/// batch only when the sinks took the last one. A million of these rows
/// held in memory would add at least 40 MiB as Arrow arrays (about 42 bytes
/// a row), and as much again as COPY text: a source that did not wait would
/// pass this bound.
const PEAK_RSS_MIB: u64 = 80;

/// A pipeline of `count` generated rows into `table` through `port`.
fn generator_to_postgres(count: u64, port: u16, table: &str, checkpoints: &str) -> String {
    format!(
        r#"
name = "pressure"

[source]
type = "generator"
count = {count}
seed = 16

[checkpoint]
interval = "1s"
location = "{checkpoints}"

[connections.pg]
url = "postgres://postgres@127.0.0.1:{port}/test"

[[sinks]]
name = "table"
plugin = "builtin:postgres"
connections = ["pg"]
config = {{ connection = "pg", table = "{table}", create_table = true }}
"#
    )
}

#[test]
fn a_sink_at_a_trickle_holds_a_million_rows_back_in_bounded_memory() {
    let proxy = Proxy::start("127.0.0.1:5432");
    proxy.throttle(TRICKLE);
    let scratch = Scratch::new();
    // Compiling the sink's component peaks higher than the run itself
    // (cranelift); a first run leaves it compiled in the cache.
    let warm = unique_table("pressure_warm");
    scratch.write(
        "warm.toml",
        &generator_to_postgres(10, 5432, &warm, "ckpt-warm"),
    );
    scratch.weir(&["run", "warm.toml", "--admin", "off"]).ok();
    psql(&format!("DROP TABLE {warm}"));
    let table = unique_table("pressure");
    scratch.write(
        "pipeline.toml",
        &generator_to_postgres(1_000_000, proxy.port(), &table, "ckpt"),
    );
    let mut weir = spawn(&scratch, &["run", "pipeline.toml", "--admin", "off"]);
    let child = &mut weir.0;
    let count = || -> u64 {
        if psql(&format!("SELECT to_regclass('{table}') IS NOT NULL")) != "t" {
            return 0;
        }
        psql(&format!("SELECT count(*) FROM {table}"))
            .parse()
            .unwrap()
    };
    wait_for("the first rows in PostgreSQL", 40, || count() > 0);
    // The rest wait behind the trickle; the source must wait with them.
    let started = Instant::now();
    let mut peak = 0;
    while started.elapsed() < Duration::from_secs(15) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "weir ended early: {}",
            scratch.read("weir.err")
        );
        peak = peak.max(peak_rss_kib(child.id()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let written = count();
    drop(weir);
    psql(&format!("DROP TABLE {table}"));
    eprintln!(
        "peak RSS {:.1} MiB with {written} of 1000000 rows written at {} KiB/s",
        peak as f64 / 1024.0,
        TRICKLE / 1024
    );
    assert!(
        written < 500_000,
        "{written} rows written: the sink was not slow enough to hold rows back"
    );
    assert!(
        peak < PEAK_RSS_MIB << 10,
        "peak RSS {} KiB while rows waited, over {PEAK_RSS_MIB} MiB",
        peak
    );
}

/// CSV lines `key,ts,v` for rows `from..to`.
fn csv_rows(from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("k{},2026-12-02 10:00:{:02}.000,{i}\n", i % 4, i % 60))
        .collect()
}

const FILES_SOURCE: &str = r#"
[source]
type = "files"
path = "incoming"
format = "csv"
schema = "key STRING NOT NULL, ts TIMESTAMP NOT NULL, v BIGINT NOT NULL"
batch_size = 300
poll_interval_ms = 50
"#;

/// Moves file `n` (rows n*2000 .. n*2000+2000) into `incoming/` whole.
fn drop_file(scratch: &Scratch, n: usize) {
    let staged = scratch.write(
        &format!("staging/f{n:03}.csv"),
        &csv_rows(n * 2000, n * 2000 + 2000),
    );
    std::fs::create_dir_all(scratch.path().join("incoming")).unwrap();
    std::fs::rename(staged, scratch.path().join(format!("incoming/f{n:03}.csv"))).unwrap();
}

/// The `v` of every row of the CSV sink's file, sorted, and the lines that
/// are not a row (while an epoch is being written or was cut short by the
/// full disk, the file may end in part of a line).
fn values_in(file: &Path) -> (Vec<u64>, Vec<String>) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    let (mut values, mut broken) = (Vec::new(), Vec::new());
    for line in text.lines().filter(|l| !l.starts_with("key,")) {
        match line.split(',').nth(2).map(str::parse::<u64>) {
            Some(Ok(v)) if line.split(',').count() == 3 => values.push(v),
            _ => broken.push(line.to_string()),
        }
    }
    values.sort_unstable();
    (values, broken)
}

/// A files → CSV pipeline with checkpoints in `ckpt/`, writing `out/rows.csv`.
fn files_to_csv(scratch: &Scratch) {
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
name = "disk"
{FILES_SOURCE}
[checkpoint]
interval = "200ms"
location = "ckpt"

[[sinks]]
name = "rows"
type = "csv"
path = "out/rows.csv"
"#
        ),
    );
}

/// Runs files → CSV; `fill` makes the disk full once the first file is in,
/// `free` gives the space back once the log shows the epoch failing with
/// `expected` (the path in the error). Then every row must be in the sink's
/// file once.
fn survives_a_full_disk(
    scratch: &Scratch,
    expected: &str,
    fill: impl FnOnce(),
    free: impl FnOnce(),
) {
    files_to_csv(scratch);
    drop_file(scratch, 0);
    let mut weir = spawn(scratch, &["run", "pipeline.toml", "--admin", "off"]);
    let child = &mut weir.0;
    let log = || std::fs::read_to_string(scratch.path().join("weir.err")).unwrap_or_default();
    wait_for("the first checkpoint", 60, || {
        std::fs::read_dir(scratch.path().join("ckpt"))
            .is_ok_and(|d| d.flatten().any(|e| e.file_name() == "committed"))
    });
    fill();
    for n in 1..5 {
        drop_file(scratch, n);
    }
    wait_for("the epoch to fail on the full disk", 60, || {
        log().lines().any(|l| {
            l.contains("retrying from the last checkpoint")
                && l.contains(expected)
                && l.to_lowercase().contains("no space left")
        })
    });
    free();
    let out = scratch.path().join("out/rows.csv");
    wait_for("all 10 000 rows in the CSV file", 90, || {
        values_in(&out).0.len() >= 10_000
    });
    // A clean stop commits the last epoch; rows of an aborted one are cut
    // away when the retry reopens the file.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let ended = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            ended.elapsed() < Duration::from_secs(30),
            "weir did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (values, broken) = values_in(&out);
    assert!(broken.is_empty(), "lines that are not rows: {broken:?}");
    let expected_values: Vec<u64> = (0..10_000).collect();
    assert!(
        values == expected_values,
        "{} rows, {} distinct, not each of the 10 000 once; log:\n{}",
        values.len(),
        {
            let mut d = values.clone();
            d.dedup();
            d.len()
        },
        log()
    );
}

#[test]
fn a_full_disk_under_a_csv_sink_fails_the_epoch_and_loses_nothing_once_space_returns() {
    let scratch = Scratch::new();
    // 128 KiB holds the first file's 2 000 rows (about 60 KiB), not all five.
    let disk = Tmpfs::mount(&scratch.path().join("out"), 128);
    survives_a_full_disk(&scratch, "out/rows.csv", || {}, || disk.resize(16 * 1024));
}

#[test]
fn a_full_checkpoint_store_fails_the_epoch_and_loses_nothing_once_space_returns() {
    let scratch = Scratch::new();
    let ckpt = scratch.path().join("ckpt");
    let _disk = Tmpfs::mount(&ckpt, 256);
    let filler = ckpt.join("filler");
    survives_a_full_disk(
        &scratch,
        "ckpt/",
        || {
            // Write until the device refuses.
            use std::io::Write;
            let mut f = std::fs::File::create(&filler).unwrap();
            while f.write_all(&[0u8; 4096]).is_ok() {}
        },
        || std::fs::remove_file(&filler).unwrap(),
    );
}

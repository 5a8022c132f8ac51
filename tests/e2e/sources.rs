//! Sources: a directory picks up files that arrive while the pipeline runs;
//! the generator is the same for the same seed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use weir_tests::{Scratch, weir_bin};

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_directory_source_reads_files_that_arrive_later_until_stopped() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "files"
path = "incoming"
format = "csv"
schema = "symbol STRING NOT NULL, price DOUBLE"
header = true
poll_interval_ms = 50

[[sinks]]
name = "quotes"
type = "csv"
path = "out/quotes.csv"
"#,
    );
    scratch.write(
        "incoming/001.csv",
        "symbol,price\n005930,71000.5\n000660,182000\n",
    );
    let mut child = Command::new(weir_bin())
        .args(["run", "pipeline.toml"])
        .current_dir(scratch.path())
        .env("WEIR_CACHE_DIR", scratch.path().join(".cache"))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rows = || {
        std::fs::read_to_string(scratch.path().join("out/quotes.csv"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    wait_for("the first file", || rows() == 3);

    // A file is written elsewhere and moved in whole, as Spark expects too.
    scratch.write("staging/002.csv", "symbol,price\n035420,210500\n");
    std::fs::rename(
        scratch.path().join("staging/002.csv"),
        scratch.path().join("incoming/002.csv"),
    )
    .unwrap();
    // Files starting with `.` or `_` are not data.
    scratch.write("incoming/_SUCCESS", "");
    scratch.write("incoming/.002.csv.crc", "garbage");
    wait_for("the file that arrived later", || rows() == 4);

    // SIGTERM stops the run cleanly: flushed, summarised, exit 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(exit.success(), "{stderr}");
    assert!(
        stderr.contains("3 read = 3 out + 0 filtered + 0 dead-lettered"),
        "{stderr}"
    );
    assert_eq!(
        scratch.read("out/quotes.csv"),
        "symbol,price\n005930,71000.5\n000660,182000.0\n035420,210500.0\n"
    );
}

fn generate(scratch: &Scratch, seed: u64) -> String {
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "generator"
count = 2500
seed = {seed}
batch_size = 1000

[[sinks]]
name = "events"
type = "jsonl"
path = "out/events.jsonl"
"#
        ),
    );
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert!(
        run.stderr()
            .contains("2500 records read from generator user-events in 3 batches"),
        "{}",
        run.stderr()
    );
    scratch.read("out/events.jsonl")
}

#[test]
fn the_generator_repeats_itself_for_a_seed_and_only_then() {
    let scratch = Scratch::new();
    let first = generate(&scratch, 7);
    let again = generate(&scratch, 7);
    let other = generate(&scratch, 8);
    assert_eq!(first, again);
    assert_ne!(first, other);
    let events: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2500);
    assert_eq!(events[0]["event_time"], "2026-01-01T00:00:00Z");
    assert_eq!(
        events[10]["event_time"], "2026-01-01T00:00:01Z",
        "100 ms apart by default"
    );
    let kinds: std::collections::BTreeSet<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["login", "logout", "registration"].into());
}

#[test]
fn an_unbounded_generator_is_refused_for_available_now() {
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", "[source]\ntype = \"generator\"\n");
    let stderr = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .fails();
    assert!(
        stderr.contains("source.count") && stderr.contains("--available-now"),
        "{stderr}"
    );
}

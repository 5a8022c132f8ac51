//! The window's watermark over a Kafka topic of several partitions, against
//! the real Tansu: a partition that is assigned but has not delivered yet
//! holds the watermark back, so its records are not late because another
//! partition was read first; after a rebalance, each member waits for the
//! partitions it now holds and stops counting those it gave away. Windowed
//! counts are compared with an oracle computed from every record produced.

use std::collections::BTreeMap;
use std::time::Duration;
use weir_tests::Scratch;
use weir_tests::kafka::Broker;

/// 2026-01-01T00:00:00Z, in milliseconds.
const START_MS: i64 = 1_767_225_600_000;
/// Each partition carries 20 minutes of events, 630 of them (1,890 in all,
/// as in the measurement of issue 17).
const PER_PARTITION: i64 = 630;
const SPAN_MS: i64 = 20 * 60 * 1000;

/// Event `i` of a partition: in time order, but up to 9 s out of order,
/// well inside the 30 s watermark delay.
fn event_ms(i: i64) -> i64 {
    START_MS + i * SPAN_MS / PER_PARTITION - (i * 7919 % 10) * 1000
}

fn line(partition: i32, i: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_millis(event_ms(i))
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ");
    format!(r#"{{"user":"u{partition}-{i}","ts":"{ts}"}}"#)
}

/// Events `from..to` of `partition`, to the topic.
fn produce(broker: &Broker, topic: &str, partition: i32, from: i64, to: i64) {
    let lines: Vec<String> = (from..to).map(|i| line(partition, i)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    broker.produce_lines(topic, Some(partition), &refs);
}

/// The oracle: events per one-minute window (by its start, as weir writes
/// it), over every record of every partition.
fn oracle(partitions: i32) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for _ in 0..partitions {
        for i in 0..PER_PARTITION {
            let start = event_ms(i).div_euclid(60_000) * 60_000;
            *counts.entry(minute(start)).or_default() += 1;
        }
    }
    counts
}

fn minute(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn pipeline(topic: &str, out: &str) -> String {
    format!(
        r#"
[source]
type = "kafka"
brokers = "${{KAFKA_BROKERS}}"
topics = ["{topic}"]
group = "windows"
start = "earliest"
format = "json"
schema = "user STRING NOT NULL, ts TIMESTAMP NOT NULL"
batch_size = 100
max_wait_ms = 100

[window]
type = "tumbling"
size = "1 minute"
time = "ts"
watermark = "30 seconds"
aggregates = ["count(*) AS events"]
late = "dead-letter"

[[sinks]]
name = "counts"
type = "csv"
path = "out/{out}.csv"

[dead_letter]
type = "jsonl"
path = "out/{out}-late.jsonl"
"#
    )
}

/// The windows a run emitted: events by window start.
fn counts(scratch: &Scratch, out: &str) -> BTreeMap<String, u64> {
    let csv =
        std::fs::read_to_string(scratch.path().join(format!("out/{out}.csv"))).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for row in csv.lines().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let previous = counts.insert(fields[0].to_string(), fields[2].parse::<u64>().unwrap());
        assert!(previous.is_none(), "window {} emitted twice", fields[0]);
    }
    counts
}

/// The watermark the run summary reports, as a window start can be compared
/// with it (the same RFC 3339 text, to the second).
fn watermark(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with("window ") && l.contains("watermark "))
        .unwrap_or_else(|| panic!("no window line in the summary:\n{stderr}"));
    let shown = line.rsplit("watermark ").next().unwrap().trim();
    match shown.get(..19) {
        Some(s) if shown.ends_with('Z') => format!("{s}Z"),
        _ => panic!("the watermark did not move ({shown}):\n{stderr}"),
    }
}

/// The oracle's windows that end at or before `watermark`: those a run
/// must have closed and emitted.
fn closed_by(oracle: &BTreeMap<String, u64>, watermark: &str) -> BTreeMap<String, u64> {
    oracle
        .iter()
        .filter(|(start, _)| {
            let start = chrono::DateTime::parse_from_rfc3339(start).unwrap();
            let end = (start + chrono::Duration::minutes(1)).to_utc();
            let watermark = chrono::DateTime::parse_from_rfc3339(watermark).unwrap();
            end <= watermark
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn late_rows(scratch: &Scratch, out: &str) -> usize {
    std::fs::read_to_string(scratch.path().join(format!("out/{out}-late.jsonl")))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_partition_produced_seconds_later_is_waited_for_and_no_record_is_late() {
    let broker = Broker::start();
    broker.create_topic("clicks", 3);
    produce(&broker, "clicks", 0, 0, PER_PARTITION);
    produce(&broker, "clicks", 1, 0, PER_PARTITION);
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", &pipeline("clicks", "counts"));
    let brokers = broker.address();
    let env = [("KAFKA_BROKERS", brokers.as_str())];
    let run = scratch
        .command(scratch.path(), &["run", "pipeline.toml"], &env)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // By now weir has joined the group and read partitions 0 and 1.
    std::thread::sleep(Duration::from_secs(8));
    produce(&broker, "clicks", 2, 0, PER_PARTITION);
    std::thread::sleep(Duration::from_secs(5));
    interrupt(run.id());
    let out = run.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1890 read"), "{stderr}");

    assert_eq!(
        late_rows(&scratch, "counts"),
        0,
        "rows counted late\n{stderr}"
    );
    // Without --flush, the windows the watermark passed are emitted, and
    // each holds every record of the three partitions.
    let watermark = watermark(&stderr);
    let expected = closed_by(&oracle(3), &watermark);
    assert!(
        expected.len() >= 18,
        "the watermark {watermark} closed only {} windows",
        expected.len()
    );
    assert_eq!(counts(&scratch, "counts"), expected, "{stderr}");
}

#[test]
fn after_a_rebalance_each_member_waits_for_its_partitions_and_no_record_is_late() {
    let broker = Broker::start();
    broker.create_topic("taps", 3);
    // The first ten minutes of partitions 0 and 1; partition 2 is silent.
    let half = PER_PARTITION / 2;
    produce(&broker, "taps", 0, 0, half);
    produce(&broker, "taps", 1, 0, half);
    let scratch = Scratch::new();
    scratch.write("a.toml", &pipeline("taps", "a"));
    scratch.write("b.toml", &pipeline("taps", "b"));
    let brokers = broker.address();
    let env = [("KAFKA_BROKERS", brokers.as_str())];
    let spawn = |file: &str| {
        scratch
            .command(scratch.path(), &["run", file], &env)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn("a.toml");
    std::thread::sleep(Duration::from_secs(6));
    // A second member joins: the group rebalances; then the rest arrives.
    let b = spawn("b.toml");
    std::thread::sleep(Duration::from_secs(8));
    produce(&broker, "taps", 0, half, PER_PARTITION);
    produce(&broker, "taps", 1, half, PER_PARTITION);
    std::thread::sleep(Duration::from_secs(2));
    produce(&broker, "taps", 2, 0, PER_PARTITION);
    std::thread::sleep(Duration::from_secs(6));
    interrupt(a.id());
    interrupt(b.id());
    let mut stderrs = Vec::new();
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{stderr}");
        stderrs.push(stderr);
    }
    let all = stderrs.join("\n----\n");

    for out in ["a", "b"] {
        assert_eq!(
            late_rows(&scratch, out),
            0,
            "rows of {out} counted late\n{all}"
        );
    }
    // Each member's watermark moved on with the partitions it holds (one
    // that kept waiting for a partition it gave away would be stuck), and
    // every window both closed holds every record, counted once.
    let watermarks: Vec<String> = stderrs.iter().map(|s| watermark(s)).collect();
    let lowest = watermarks.iter().min().unwrap().clone();
    let expected = closed_by(&oracle(3), &lowest);
    assert!(
        expected.len() >= 18,
        "the watermarks {watermarks:?} closed only {} windows\n{all}",
        expected.len()
    );
    let mut summed: BTreeMap<String, u64> = BTreeMap::new();
    for out in ["a", "b"] {
        for (start, n) in counts(&scratch, out) {
            *summed.entry(start).or_default() += n;
        }
    }
    summed.retain(|start, _| expected.contains_key(start));
    assert_eq!(summed, expected, "{all}");
    assert!(
        !counts(&scratch, "b").is_empty() && !counts(&scratch, "a").is_empty(),
        "a member closed no window\n{all}"
    );
}

/// Asks a weir process to stop as Ctrl-C does.
fn interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

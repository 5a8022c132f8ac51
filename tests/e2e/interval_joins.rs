//! Stream–stream interval joins (issue 20): two `[[sources]]`, ad
//! impressions and clicks, matched when a click on the same ad comes within
//! ten minutes of the impression. Every result is checked against an
//! oracle that joins the generated rows by brute force.

use serde_json::Value;
use std::collections::BTreeMap;
use weir_tests::Scratch;

/// How far after an impression a click counts, in seconds.
const WITHIN: i64 = 600;

/// An impression or a click: its id, its ad and its time in seconds.
struct Event {
    id: i64,
    ad: i64,
    at: i64,
}

/// A small linear congruential generator: the same rows on every run.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// 3000 impressions a second apart (shuffled by up to 30 s) over 1000 ads;
/// about half get a click within 15 minutes, and there are clicks on no
/// impression; clicks likewise arrive up to 30 s out of order.
fn generate() -> (Vec<Event>, Vec<Event>) {
    let mut rng = Lcg(7);
    let mut impressions: Vec<Event> = (0..3000)
        .map(|i| Event {
            id: i,
            ad: rng.below(1000) as i64,
            at: i,
        })
        .collect();
    let mut clicks = Vec::new();
    for imp in &impressions {
        if rng.below(2) == 0 {
            clicks.push(Event {
                id: clicks.len() as i64,
                ad: imp.ad,
                at: imp.at + rng.below(900) as i64,
            });
        }
    }
    for _ in 0..300 {
        clicks.push(Event {
            id: clicks.len() as i64,
            ad: rng.below(1000) as i64,
            at: rng.below(3600) as i64,
        });
    }
    // Arrival order: by time, each row shifted up to 30 s.
    impressions.sort_by_cached_key(|i| i.at + rng.below(30) as i64);
    clicks.sort_by_cached_key(|c| c.at + rng.below(30) as i64);
    (impressions, clicks)
}

/// RFC 3339 of `seconds` after midnight on 2026-01-01 (within the day).
fn time(seconds: i64) -> String {
    format!(
        "2026-01-01T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

/// The impressions and clicks as CSV files of 1000 rows each, in `in/`.
fn write_inputs(scratch: &Scratch, impressions: &[Event], clicks: &[Event]) {
    for (name, id, events) in [
        ("impressions", "imp", impressions),
        ("clicks", "click", clicks),
    ] {
        for (n, chunk) in events.chunks(1000).enumerate() {
            let mut text = format!("{id},ad_id,ts\n");
            for e in chunk {
                text.push_str(&format!("{},{},{}\n", e.id, e.ad, time(e.at)));
            }
            scratch.write(&format!("in/{name}/{n}.csv"), &text);
        }
    }
}

/// The two sources and the join of `kind`, then `rest` (sinks and more).
fn pipeline(kind: &str, rest: &str) -> String {
    format!(
        r#"
[[sources]]
name = "impressions"
type = "files"
path = "in/impressions"
format = "csv"
header = true
schema = "imp BIGINT NOT NULL, ad_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL"
batch_size = 200
bounded = true

[[sources]]
name = "clicks"
type = "files"
path = "in/clicks"
format = "csv"
header = true
schema = "click BIGINT NOT NULL, ad_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL"
batch_size = 200
bounded = true

[interval_join]
name = "attributed"
left = "impressions"
right = "clicks"
on = ["ad_id"]
left_time = "ts"
between = ["0s", "10 minutes"]
kind = "{kind}"
watermark = "2 minutes"

{rest}
"#
    )
}

const JSONL_SINK: &str = r#"
[[sinks]]
name = "out"
type = "jsonl"
path = "out/joined.jsonl"
"#;

/// Every (impression, click) pair the join must emit; with `left`, each
/// impression without a click once with `None`.
fn oracle(
    impressions: &[Event],
    clicks: &[Event],
    left: bool,
) -> BTreeMap<(i64, Option<i64>), usize> {
    let mut pairs = BTreeMap::new();
    for i in impressions {
        let mut matched = false;
        for c in clicks {
            if c.ad == i.ad && (0..=WITHIN).contains(&(c.at - i.at)) {
                *pairs.entry((i.id, Some(c.id))).or_insert(0) += 1;
                matched = true;
            }
        }
        if left && !matched {
            *pairs.entry((i.id, None)).or_insert(0) += 1;
        }
    }
    pairs
}

/// The joined rows in the order they were written: (imp, click, ts).
fn joined(scratch: &Scratch) -> Vec<(i64, Option<i64>, String)> {
    scratch
        .read("out/joined.jsonl")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["imp"].as_i64().unwrap(),
                v["click"].as_i64(),
                v["ts"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn counted(rows: &[(i64, Option<i64>, String)]) -> BTreeMap<(i64, Option<i64>), usize> {
    let mut pairs = BTreeMap::new();
    for (imp, click, _) in rows {
        *pairs.entry((*imp, *click)).or_insert(0) += 1;
    }
    pairs
}

fn scratch_with(text: &str) -> (Scratch, Vec<Event>, Vec<Event>) {
    let scratch = Scratch::new();
    let (impressions, clicks) = generate();
    write_inputs(&scratch, &impressions, &clicks);
    scratch.write("pipeline.toml", text);
    (scratch, impressions, clicks)
}

#[test]
fn an_inner_interval_join_emits_every_pair_within_the_bound_once_in_event_time_order() {
    let (scratch, impressions, clicks) = scratch_with(&pipeline("inner", JSONL_SINK));
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let rows = joined(&scratch);
    let expected = oracle(&impressions, &clicks, false);
    assert!(expected.len() > 500, "the data has pairs to find");
    assert!(
        counted(&rows) == expected,
        "{} pairs, {} expected",
        rows.len(),
        expected.len()
    );
    let times: Vec<&String> = rows.iter().map(|r| &r.2).collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "joined rows leave in the impressions' event-time order"
    );
    let log = run.stderr();
    assert!(
        log.contains(&format!(
            "interval join attributed: 3000 in from impressions, {} from clicks; 0 late",
            clicks.len()
        )),
        "{log}"
    );
    assert!(log.contains("all accounted for"), "{log}");
}

#[test]
fn a_left_interval_join_emits_each_impression_without_a_click_once_with_nulls() {
    let (scratch, impressions, clicks) = scratch_with(&pipeline("left", JSONL_SINK));
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let rows = joined(&scratch);
    let expected = oracle(&impressions, &clicks, true);
    assert!(
        expected.keys().any(|k| k.1.is_none()),
        "some impressions have no click"
    );
    assert!(
        counted(&rows) == expected,
        "{} rows, {} expected",
        rows.len(),
        expected.len()
    );
    let text = scratch.read("out/joined.jsonl");
    let unmatched: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["click"].is_null())
        .collect();
    assert!(!unmatched.is_empty());
    assert!(
        unmatched
            .iter()
            .all(|v| v["clicks_ts"].is_null() && v["ts"].is_string()),
        "an unmatched impression keeps its columns, the click's are null: {:?}",
        unmatched[0]
    );
}

#[test]
fn a_window_after_the_join_counts_every_joined_row_and_finds_none_late() {
    let window = r#"
[window]
type = "tumbling"
size = "10 minutes"
time = "ts"
aggregates = ["count(*) AS clicks"]

[[sinks]]
name = "out"
type = "jsonl"
path = "out/windows.jsonl"
"#;
    let (scratch, impressions, clicks) = scratch_with(&pipeline("inner", window));
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let mut expected: BTreeMap<i64, u64> = BTreeMap::new();
    let by_id: BTreeMap<i64, i64> = impressions.iter().map(|i| (i.id, i.at)).collect();
    for ((imp, _), n) in oracle(&impressions, &clicks, false) {
        *expected.entry(by_id[&imp] / 600).or_insert(0) += n as u64;
    }
    let mut got: BTreeMap<i64, u64> = BTreeMap::new();
    for line in scratch.read("out/windows.jsonl").lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let start = v["window_start"].as_str().unwrap();
        let minutes: i64 = start[14..16].parse().unwrap();
        let hours: i64 = start[11..13].parse().unwrap();
        *got.entry((hours * 60 + minutes) / 10).or_insert(0) += v["clicks"].as_u64().unwrap();
    }
    assert_eq!(got, expected, "clicks per ten minutes of impressions");
    let log = run.stderr();
    assert!(log.contains("aggregated, 0 late"), "{log}");
    assert!(log.contains("all accounted for"), "{log}");
}

#[test]
fn after_crashes_at_each_epoch_step_the_joined_rows_are_written_once() {
    let text = pipeline(
        "left",
        &format!("[checkpoint]\ninterval = \"1ms\"\n{JSONL_SINK}"),
    )
    .replace("batch_size = 200", "batch_size = 100");
    let (scratch, impressions, clicks) = scratch_with(&text);
    for point in [
        "after-pre-commit:2",
        "mid-write:3",
        "after-write:4",
        "after-commit:5",
    ] {
        scratch.run_until_crash(point);
    }
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .ok();
    let got = counted(&joined(&scratch));
    let expected = oracle(&impressions, &clicks, true);
    let twice = got.values().filter(|&&n| n > 1).count();
    let lost = expected.keys().filter(|k| !got.contains_key(k)).count();
    assert!(
        got == expected,
        "{lost} pairs lost and {twice} written twice, of {}",
        expected.len()
    );
}

#[test]
fn late_rows_follow_the_late_policy_and_go_to_the_dead_letter_with_the_watermark() {
    let scratch = Scratch::new();
    scratch.write(
        "in/impressions/a.csv",
        "imp,ad_id,ts\n1,7,2026-01-01T01:00:00Z\n2,7,2026-01-01T01:05:00Z\n",
    );
    // The second click is an hour behind the first: late for the
    // 2-minute watermark, whatever it could have matched.
    scratch.write(
        "in/clicks/a.csv",
        "click,ad_id,ts\n1,7,2026-01-01T01:06:00Z\n2,7,2026-01-01T00:01:00Z\n",
    );
    let text = pipeline(
        "inner",
        &format!("{JSONL_SINK}\n[dead_letter]\ntype = \"jsonl\"\npath = \"out/dead.jsonl\"\n"),
    )
    .replace(
        "watermark = \"2 minutes\"",
        "watermark = \"2 minutes\"\nlate = \"dead-letter\"",
    )
    .replace("batch_size = 200", "batch_size = 1");
    scratch.write("pipeline.toml", &text);
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let rows = joined(&scratch);
    assert_eq!(
        counted(&rows).into_keys().collect::<Vec<_>>(),
        vec![(1, Some(1)), (2, Some(1))]
    );
    let letters = scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["stage"], "join:attributed");
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("late") && reason.contains("right side's watermark"),
        "{reason}"
    );
    assert_eq!(letters[0]["input"]["click"], 2);
    assert!(
        run.stderr().contains("1 late (dead-lettered)"),
        "{}",
        run.stderr()
    );
}

#[test]
fn weir_check_names_both_key_columns_and_their_types_when_they_differ() {
    let scratch = Scratch::new();
    scratch.write("in/impressions/a.csv", "imp,ad_id,ts\n");
    scratch.write("in/clicks/a.csv", "click,ad_id,ts\n");
    let text = pipeline("inner", JSONL_SINK).replace(
        "schema = \"click BIGINT NOT NULL, ad_id BIGINT NOT NULL",
        "schema = \"click BIGINT NOT NULL, ad_id STRING NOT NULL",
    );
    scratch.write("pipeline.toml", &text);
    scratch.write("pipeline.toml", &pipeline("inner", JSONL_SINK));
    let shown = scratch.weir(&["check", "pipeline.toml"]).ok().stdout();
    for line in [
        "source impressions → imp Int64 NOT NULL, ad_id Int64 NOT NULL, ts Timestamp",
        "source clicks → click Int64 NOT NULL",
        "interval join attributed → imp Int64 NOT NULL, ad_id Int64 NOT NULL, ts Timestamp(µs, \"UTC\") NOT NULL, click Int64 NOT NULL, clicks_ts",
    ] {
        assert!(shown.contains(line), "{line}\n{shown}");
    }
    scratch.write("pipeline.toml", &text);
    let error = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        error.contains("key `interval_join.on`")
            && error.contains("`impressions.ad_id` is Int64")
            && error.contains("`clicks.ad_id` is Utf8"),
        "{error}"
    );
    for (from, to, wanted) in [
        (
            "right = \"clicks\"",
            "right = \"click\"",
            "key `interval_join.right`: no [[sources]] is named \"click\"",
        ),
        (
            "left_time = \"ts\"",
            "left_time = \"when\"",
            "key `interval_join.left_time`: source `impressions`: no column `when`",
        ),
        (
            "between = [\"0s\", \"10 minutes\"]",
            "between = [\"10 minutes\", \"0s\"]",
            "key `interval_join.between`: the lower bound",
        ),
    ] {
        scratch.write(
            "pipeline.toml",
            &pipeline("inner", JSONL_SINK).replace(from, to),
        );
        let error = scratch.weir(&["check", "pipeline.toml"]).fails();
        assert!(error.contains(wanted), "{to}: {error}");
    }
}

/// Impressions and clicks from two Kafka topics of two partitions each
/// (rows split by id): each side's watermark waits for both of its
/// partitions, so no row is late however the four are read.
#[test]
fn impressions_and_clicks_from_two_kafka_topics_join_as_the_oracle_says() {
    let broker = weir_tests::kafka::Broker::start();
    let (impressions, clicks) = generate();
    broker.create_topic("impressions", 2);
    broker.create_topic("clicks", 2);
    for partition in 0..2 {
        for (topic, id, events) in [
            ("impressions", "imp", &impressions),
            ("clicks", "click", &clicks),
        ] {
            let lines: Vec<String> = events
                .iter()
                .filter(|e| e.id % 2 == partition as i64)
                .map(|e| {
                    format!(
                        r#"{{"{id}":{},"ad_id":{},"ts":"{}"}}"#,
                        e.id,
                        e.ad,
                        time(e.at)
                    )
                })
                .collect();
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            broker.produce_lines(topic, Some(partition), &refs);
        }
    }
    let kafka = |name: &str, columns: &str| {
        format!(
            r#"
[[sources]]
name = "{name}"
type = "kafka"
brokers = "${{KAFKA_BROKERS}}"
topics = ["{name}"]
group = "ads-{name}"
start = "earliest"
format = "json"
schema = "{columns}, ad_id BIGINT NOT NULL, ts TIMESTAMP NOT NULL"
batch_size = 150
max_wait_ms = 100
"#
        )
    };
    let files_sources = pipeline("inner", JSONL_SINK);
    let join = &files_sources[files_sources.find("[interval_join]").unwrap()..];
    let text = format!(
        "{}{}{join}",
        kafka("impressions", "imp BIGINT NOT NULL"),
        kafka("clicks", "click BIGINT NOT NULL")
    );
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", &text);
    let brokers = broker.address();
    // A continuous run, stopped once every record was read; `--flush`
    // then matches and emits what the join holds.
    let running = scratch
        .command(
            scratch.path(),
            &["run", "pipeline.toml", "--flush"],
            &[("KAFKA_BROKERS", brokers.as_str())],
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let all = (impressions.len() + clicks.len()) as u64;
    let addr = scratch.path().join(".weir/pipeline/admin.addr");
    weir_tests::wait_for("every record read", 90, || {
        let Ok(url) = std::fs::read_to_string(&addr) else {
            return false;
        };
        let status: Value =
            serde_json::from_str(&weir_tests::http_get(url.trim(), "/status")).unwrap_or_default();
        status["pipelines"][0]["records_read"].as_u64() == Some(all)
    });
    let url = std::fs::read_to_string(&addr).unwrap();
    let metrics = weir_tests::http_get(url.trim(), "/metrics");
    let held = metrics
        .lines()
        .any(|l| l.starts_with("weir_interval_join_held_rows{pipeline=\"pipeline\",join=\"attributed\",source=\"clicks\"}"));
    assert!(
        metrics.contains(
            "weir_interval_join_rows_in_total{pipeline=\"pipeline\",join=\"attributed\",source=\"impressions\"} 3000"
        ) && held,
        "{metrics}"
    );
    let status = std::process::Command::new("kill")
        .args(["-INT", &running.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = running.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let expected = oracle(&impressions, &clicks, false);
    let got = counted(&joined(&scratch));
    assert!(
        got == expected,
        "{} pairs expected, {} joined: {log}",
        expected.len(),
        got.len()
    );
    assert!(
        log.contains(&format!(
            "interval join attributed: 3000 in from impressions, {} from clicks; 0 late",
            clicks.len()
        )),
        "{log}"
    );
}

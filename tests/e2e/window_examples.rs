//! The windowed examples run by the binary: students' per-field statistics,
//! stocks' minute bars (checked against bars recomputed from the input
//! files), user-events' sliding counts (against a brute-force count over the
//! same generated events); late rows, --flush, and window config errors.

use std::collections::BTreeMap;
use weir_tests::{Scratch, plugin, toml_path};

#[test]
fn students_statistics_per_field() {
    let scratch = Scratch::example("students");
    let summary = scratch
        .weir(&["run", "stats.toml", "--available-now"])
        .ok()
        .stderr();
    assert_eq!(
        scratch.read("out/field-stats.csv"),
        "field,count,avg_age,min_age,max_age,median_age\n\
         COMPUTER SCIENCE,2,23.5,22,25,23.5\n\
         DATA ENGINEERING,1,34.0,34,34,34.0\n\
         ECONOMICS,2,26.0,21,31,26.0\n\
         LINGUISTIQUE,1,27.0,27,27,27.0\n\
         PHYSICS,1,22.0,22,22,22.0\n\
         STATISTICS,1,26.0,26,26,26.0\n"
    );
    assert!(summary.contains("18 read = 8 aggregated + 2 filtered + 8 dead-lettered + 0 late dropped; 6 aggregate rows, 6 out: all accounted for"), "{summary}");
}

type Bar = (f64, f64, f64, f64, i64, i64);

/// A tick: its timestamp text, arrival order, prices (open, high, low, close) and volume.
type Tick = (String, usize, Vec<f64>, i64);

/// Minute bars recomputed from the example's input files: (minute, symbol) → bar.
fn expected_bars(scratch: &Scratch) -> BTreeMap<(String, String), Bar> {
    let mut files: Vec<_> = std::fs::read_dir(scratch.path().join("incoming"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut ticks: BTreeMap<(String, String), Vec<Tick>> = BTreeMap::new();
    let mut arrival = 0;
    for file in files {
        for line in std::fs::read_to_string(file).unwrap().lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            // 2026-11-20T09:MM:SS+09:00 → the UTC minute 2026-11-20T00:MM:00Z
            let minute = format!("2026-11-20T00:{}:00Z", &f[1][14..16]);
            let prices = f[2..6].iter().map(|p| p.parse().unwrap()).collect();
            arrival += 1;
            ticks.entry((minute, f[0].to_string())).or_default().push((
                f[1].to_string(),
                arrival,
                prices,
                f[6].parse().unwrap(),
            ));
        }
    }
    ticks
        .into_iter()
        .map(|(k, t)| {
            let first = t.iter().min_by_key(|x| (x.0.clone(), x.1)).unwrap().2[0];
            let last = t.iter().max_by_key(|x| (x.0.clone(), x.1)).unwrap().2[3];
            let high = t.iter().map(|x| x.2[1]).fold(f64::MIN, f64::max);
            let low = t.iter().map(|x| x.2[2]).fold(f64::MAX, f64::min);
            (
                k,
                (
                    first,
                    high,
                    low,
                    last,
                    t.iter().map(|x| x.3).sum(),
                    t.len() as i64,
                ),
            )
        })
        .collect()
}

fn bars(csv: &str) -> BTreeMap<(String, String), Bar> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let n = |i: usize| f[i].parse::<f64>().unwrap();
            (
                (f[0].to_string(), f[2].to_string()),
                (
                    n(3),
                    n(4),
                    n(5),
                    n(6),
                    f[7].parse().unwrap(),
                    f[8].parse().unwrap(),
                ),
            )
        })
        .collect()
}

#[test]
fn stocks_minute_bars_match_the_input_and_open_minutes_wait_for_more() {
    let scratch = Scratch::example("stocks");
    let summary = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stderr();
    let expected = expected_bars(&scratch);
    let got = bars(&scratch.read("out/minute-bars.csv"));
    assert_eq!(expected.len(), 60, "15 minutes x 4 symbols");
    // The last minute is inside the watermark: it stays open, as with Spark's AvailableNow.
    let closed: BTreeMap<_, _> = expected
        .iter()
        .filter(|((m, _), _)| !m.contains("00:14:"))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    assert_eq!(got, closed);
    assert!(summary.contains("4 groups open"), "{summary}");

    // The next run resumes from the example's checkpoint, with the open
    // minutes in it; --flush closes them, after the ones already written.
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--flush"])
        .ok();
    assert_eq!(bars(&scratch.read("out/minute-bars.csv")), expected);
}

#[test]
fn user_events_sliding_counts_match_a_brute_force_count() {
    let scratch = Scratch::example("user-events");
    // In order: with disorder an event can miss its earliest window (closed
    // already), which the property tests check batch by batch.
    let pipeline = scratch
        .read("pipeline.toml")
        .replace("count = 200000", "count = 30000")
        .replace("disorder = \"15 minutes\"", "");
    scratch.write("pipeline.toml", &pipeline);
    let summary = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stderr();
    assert!(summary.contains("all accounted for"), "{summary}");
    // The same events, from the same seed, through the library.
    scratch.write(
        "events.toml",
        "[source]\ntype = \"generator\"\ncount = 30000\nseed = 42\n\n[[sinks]]\nname = \"e\"\ntype = \"jsonl\"\npath = \"out/events.jsonl\"\n",
    );
    scratch
        .weir(&["run", "events.toml", "--available-now"])
        .ok();
    let quarter = 15 * 60;
    let mut want: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for line in scratch.read("out/events.jsonl").lines() {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = e["event_time"].as_str().unwrap();
        // Seconds since 2025-12-31T00:00 are enough to place 15-minute slides.
        let (day, clock) = (&t[8..10], &t[11..19]);
        let secs = (if day == "31" { 0 } else { 86_400 })
            + clock[0..2].parse::<i64>().unwrap() * 3600
            + clock[3..5].parse::<i64>().unwrap() * 60
            + clock[6..8].parse::<i64>().unwrap();
        let last = secs.div_euclid(quarter) * quarter;
        for k in 0..4 {
            *want
                .entry((
                    last - k * quarter,
                    e["event_type"].as_str().unwrap().to_string(),
                ))
                .or_default() += 1;
        }
    }
    let got: i64 = scratch
        .read("out/hourly-events.csv")
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(
        got,
        want.values().sum::<i64>(),
        "every event counted in each of its four windows"
    );
    assert_eq!(
        scratch.read("out/hourly-events.csv").lines().count() - 1,
        want.len()
    );
}

#[test]
fn late_rows_can_go_to_the_dead_letter_with_the_watermark_they_missed() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "files"
path = "in"
format = "csv"
schema = "t TIMESTAMP, v INT"
batch_size = 2

[window]
type = "tumbling"
size = "1 minute"
time = "t"
watermark = "10 seconds"
aggregates = ["sum(v) AS total"]
late = "dead-letter"

[[sinks]]
name = "out"
type = "csv"
path = "out.csv"

[dead_letter]
type = "jsonl"
path = "dead.jsonl"
"#,
    );
    scratch.write(
        "in/a.csv",
        "2026-01-01T00:00:05Z,1\n2026-01-01T00:02:30Z,2\n2026-01-01T00:00:50Z,3\n,4\n",
    );
    let summary = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--flush"])
        .ok()
        .stderr();
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0]["stage"], "window");
    assert_eq!(letters[0]["offset"], 3);
    assert_eq!(
        letters[0]["reason"],
        "late: event time 2026-01-01T00:00:50Z is behind the watermark 2026-01-01T00:02:20Z; its windows have closed"
    );
    assert_eq!(
        letters[1]["reason"],
        "the row has no event time (its time column is null)"
    );
    assert_eq!(
        scratch.read("out.csv"),
        "window_start,window_end,total\n2026-01-01T00:00:00Z,2026-01-01T00:01:00Z,1\n2026-01-01T00:02:00Z,2026-01-01T00:03:00Z,2\n"
    );
    assert!(
        summary.contains("4 read = 2 aggregated + 0 filtered + 2 dead-lettered + 0 late dropped"),
        "{summary}"
    );
}

#[test]
fn window_config_errors_name_the_key() {
    let scratch = Scratch::new();
    let base = "[source]\ntype = \"generator\"\ncount = 1\n\n[window]\n";
    let cases = [
        (
            "type = \"tumbling\"\ntime = \"event_time\"\naggregates = [\"count(*)\"]\n",
            "window.size",
        ),
        (
            "type = \"tumbling\"\nsize = \"1 fortnight\"\ntime = \"event_time\"\naggregates = [\"count(*)\"]\n",
            "unknown unit",
        ),
        (
            "type = \"tumbling\"\nsize = \"1m\"\ntime = \"nope\"\naggregates = [\"count(*)\"]\n",
            "key `window`: time: no column `nope`",
        ),
        (
            "type = \"tumbling\"\nsize = \"1m\"\ntime = \"country\"\naggregates = [\"count(*)\"]\n",
            "`country` is Utf8, not a TIMESTAMP",
        ),
        (
            "type = \"global\"\naggregates = [\"count(*)\", \"stddev(user_id)\"]\n",
            "window.aggregates[1]",
        ),
        (
            "type = \"global\"\naggregates = [\"sum(country)\"]\n",
            "needs a numeric column",
        ),
        (
            "type = \"sliding\"\nsize = \"1h\"\nslide = \"15m\"\ntime = \"event_time\"\noutput = \"complete\"\naggregates = [\"count(*)\"]\n",
            "for global windows",
        ),
    ];
    for (window, expected) in cases {
        scratch.write("pipeline.toml", &format!("{base}{window}"));
        let err = scratch.weir(&["check", "pipeline.toml"]).fails();
        assert!(err.contains(expected), "{window}\n=> {err}");
    }
}

#[test]
fn a_plugin_can_post_process_aggregate_rows() {
    let scratch = Scratch::new();
    scratch.write("people.jsonl", "{\"name\":\"ann\",\"age\":30}\n{\"name\":\"bob\",\"age\":40}\n{\"name\":\"ann\",\"age\":50}\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "people.jsonl"
format = "jsonl"
schema = "name STRING, age INT"
bounded = true

[window]
type = "global"
group_by = ["name"]
aggregates = ["avg(age) AS avg_age", "count(*) AS visits"]

[[after_window]]
name = "shout"
plugin = {}

[[sinks]]
name = "out"
type = "csv"
path = "out.csv"
"#,
            toml_path(&plugin("shout"))
        ),
    );
    let check = scratch.weir(&["check", "pipeline.toml"]).ok().stdout();
    assert!(
        check.contains("window → name Utf8, avg_age Float64, visits Int64"),
        "{check}"
    );
    assert!(
        check.contains("after-window transform shout → name Utf8, avg_age Float64, visits Int64"),
        "{check}"
    );
    let summary = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stderr();
    assert_eq!(
        scratch.read("out.csv"),
        "name,avg_age,visits\nANN,40.0,2\nBOB,40.0,1\n"
    );
    assert!(
        summary.contains("after-window transform shout: 2 in, 2 out"),
        "{summary}"
    );
    assert!(summary.contains("3 read = 3 aggregated + 0 filtered + 0 dead-lettered + 0 late dropped; 2 aggregate rows, 2 out: all accounted for"), "{summary}");
}

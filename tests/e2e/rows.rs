//! Bad rows at run time: refused by a decoder or a plugin, each lands in the
//! dead-letter with its stage, reason and origin, and the counts add up.

use weir_tests::{Scratch, plugin, toml_path};

#[test]
fn malformed_csv_and_wrong_types_go_to_the_dead_letter_with_their_line() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "files"
path = "quotes.csv"
format = "csv"
schema = "symbol STRING NOT NULL, day DATE, close DECIMAL(10,2), volume BIGINT"
header = true

[[sinks]]
name = "quotes"
type = "jsonl"
path = "out/quotes.jsonl"

[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
    );
    scratch.write(
        "quotes.csv",
        "symbol,day,close,volume\n\
         005930,2026-11-20,71000.50,1200\n\
         000660,2026-11-20,abc,300\n\
         035420,2026-13-01,210500,10\n\
         051910,2026-11-20,99.999,7\n\
         ,2026-11-20,1,1\n\
         \"068270\",\"2026-11-20\",\"180000\",\n\
         too,many,fields,here,5\n",
    );
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let kept: Vec<serde_json::Value> = scratch
        .read("out/quotes.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(kept.len(), 2);
    assert!(
        scratch
            .read("out/quotes.jsonl")
            .contains("\"close\":71000.50"),
        "decimals keep their scale"
    );
    assert_eq!(kept[1]["symbol"], "068270");
    assert!(kept[1].get("volume").is_none(), "an empty field is null");

    let letters = scratch.dead_letters("out/dead.jsonl");
    let by_line: Vec<(i64, &str)> = letters
        .iter()
        .map(|l| (l["offset"].as_i64().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(by_line.len(), 5, "{by_line:?}");
    assert_eq!(by_line[0].0, 3);
    assert!(
        by_line[0].1.contains("column `close`") && by_line[0].1.contains("\"abc\""),
        "{by_line:?}"
    );
    assert_eq!(by_line[1].0, 4);
    assert!(by_line[1].1.contains("column `day`"), "{by_line:?}");
    assert_eq!(by_line[2].0, 5);
    assert_eq!(
        by_line[2].1,
        "column `close`: \"99.999\" has more decimal places than Decimal128(10, 2) keeps"
    );
    assert_eq!(
        by_line[3],
        (6, "column `symbol` is missing or empty, and it is NOT NULL")
    );
    assert_eq!(by_line[4], (8, "expected 4 fields, found 5"));
    assert!(letters.iter().all(|l| l["stage"] == "decode:csv"));
    assert_eq!(letters[0]["input"], "000660,2026-11-20,abc,300");
    assert!(
        run.stderr()
            .contains("7 read = 2 out + 0 filtered + 5 dead-lettered"),
        "{}",
        run.stderr()
    );
}

/// Runs `lines` in batches of `batch_size` through the named test plugins,
/// in order, into out.jsonl, with the dead-letter in dead.jsonl.
fn run_lines(lines: &str, batch_size: usize, plugins: &[&str]) -> (Scratch, String) {
    let scratch = Scratch::new();
    scratch.write("in.txt", lines);
    let mut pipeline = format!(
        "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\nbatch_size = {batch_size}\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n"
    );
    for name in plugins {
        pipeline += &format!(
            "\n[[transforms]]\nname = \"{name}\"\nplugin = {}\n",
            toml_path(&plugin(name))
        );
    }
    scratch.write("pipeline.toml", &pipeline);
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    (scratch, run.stderr())
}

/// Through the `faulty` test plugin (which rejects, fails or traps on
/// request), then `counter` (which numbers the rows that got through).
fn faulty_run(lines: &str, batch_size: usize) -> (Scratch, String) {
    run_lines(lines, batch_size, &["faulty", "counter"])
}

fn values(scratch: &Scratch) -> Vec<(String, i64)> {
    scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn rows_a_plugin_rejects_go_to_the_dead_letter_and_the_rest_flow_on() {
    let (scratch, summary) = faulty_run("a\nreject\nb\n", 10);
    assert_eq!(values(&scratch), vec![("a".into(), 1), ("b".into(), 2)]);
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["stage"], "transform:faulty");
    assert_eq!(letters[0]["reason"], "rejected on request");
    assert_eq!(letters[0]["offset"], 2);
    assert_eq!(letters[0]["input"], serde_json::json!({"value": "reject"}));
    assert!(
        summary.contains("3 read = 2 out + 0 filtered + 1 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn a_batch_the_plugin_fails_is_dead_lettered_whole_and_the_next_batch_runs() {
    let (scratch, summary) = faulty_run("a\nfail\nb\nc\n", 2);
    assert_eq!(values(&scratch), vec![("b".into(), 1), ("c".into(), 2)]);
    let letters = scratch.dead_letters("dead.jsonl");
    let inputs: Vec<&str> = letters
        .iter()
        .map(|l| l["input"]["value"].as_str().unwrap())
        .collect();
    assert_eq!(inputs, ["a", "fail"]);
    assert!(letters.iter().all(|l| l["reason"] == "plugin `faulty` failed the batch: failed the batch on request"), "{letters:?}");
    assert!(summary.contains("(1 failed batches)"), "{summary}");
    assert!(
        summary.contains("4 read = 2 out + 0 filtered + 2 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn a_trapping_plugin_loses_its_batch_to_the_dead_letter_and_a_fresh_instance_keeps_its_state() {
    // Batches: [a, b] [trap, c] [d, e]. `counter` runs after `faulty`; its
    // state must survive `faulty`'s trap, and `faulty` must recover.
    let (scratch, summary) = faulty_run("a\nb\ntrap\nc\nd\ne\n", 2);
    assert_eq!(
        values(&scratch),
        vec![
            ("a".into(), 1),
            ("b".into(), 2),
            ("d".into(), 3),
            ("e".into(), 4)
        ]
    );
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 2);
    let reason = letters[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("plugin `faulty` trapped"), "{reason}");
    assert_eq!(letters[1]["input"]["value"], "c");
    assert!(
        summary.contains("6 read = 4 out + 0 filtered + 2 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn state_changes_of_a_trapped_batch_are_rolled_back() {
    // `counter` advances its counter for [trap, c] and then traps: the next
    // batch must continue from where the last good batch left off.
    let (scratch, _) = run_lines("a\nb\ntrap\nc\nd\ne\n", 2, &["counter"]);
    assert_eq!(
        values(&scratch),
        vec![
            ("a".into(), 1),
            ("b".into(), 2),
            ("d".into(), 3),
            ("e".into(), 4)
        ]
    );
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 2);
    assert!(
        letters[0]["reason"].as_str().unwrap().contains("trapped"),
        "{letters:?}"
    );
}

/// `faulty` alone, with limits set in the pipeline file.
fn limited_run(lines: &str, limits: &str) -> (Scratch, String) {
    let scratch = Scratch::new();
    scratch.write("in.txt", lines);
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\nbatch_size = 1\n\n\
             [[transforms]]\nname = \"faulty\"\nplugin = {}\n{limits}\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
             [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
            toml_path(&plugin("faulty"))
        ),
    );
    let run = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    (scratch, run.stderr())
}

#[test]
fn a_plugin_that_never_returns_loses_its_batch_when_its_time_is_up() {
    let (scratch, summary) = limited_run("a\nloop\nb\n", "timeout_ms = 200");
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["input"]["value"], "loop");
    assert_eq!(
        letters[0]["reason"],
        "plugin `faulty` trapped: it exceeded its time limit of 200 ms per call (`timeout_ms`)"
    );
    assert_eq!(
        scratch.read("out.jsonl").lines().count(),
        2,
        "the batches before and after flow on"
    );
    assert!(
        summary.contains("3 read = 2 out + 0 filtered + 1 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn a_plugin_that_hoards_memory_is_stopped_at_its_limit() {
    let (scratch, _) = limited_run("a\nhog\nb\n", "memory_limit_mb = 64");
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0]["reason"],
        "plugin `faulty` trapped: it exceeded its memory limit of 64 MiB (`memory_limit_mb`)"
    );
    assert_eq!(scratch.read("out.jsonl").lines().count(), 2);
}

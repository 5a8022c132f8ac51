//! The hostile-plugin suite (issue 16), grown with every hole found: the
//! `rogue` test plugin breaks the contract on rows whose `value` is `go`,
//! in the way its `mode` says. Each attempt must be contained with a clear
//! reason, the rows around it must flow on, the counts must add up, and a
//! stop must end the run without waiting for the plugin.

use std::time::Duration;
use weir_tests::{Scratch, plugin, toml_path, wait_for};

/// A pipeline over `lines` (one row per line, `batch` rows per batch)
/// through `rogue` in `mode`, with extra keys for its entry.
fn rogue_pipeline(lines: &str, batch: usize, mode: &str, keys: &str) -> Scratch {
    let scratch = Scratch::new();
    scratch.write("in.txt", lines);
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\nbatch_size = {batch}\n\n\
             [[transforms]]\nname = \"rogue\"\nplugin = {}\nconfig = {{ mode = \"{mode}\" }}\n{keys}\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
             [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
            toml_path(&plugin("rogue"))
        ),
    );
    scratch
}

/// The output rows as (value, note).
fn rows(scratch: &Scratch) -> Vec<(String, String)> {
    std::fs::read_to_string(scratch.path().join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["note"].as_str().unwrap_or("(null)").to_string(),
            )
        })
        .collect()
}

fn run(scratch: &Scratch) -> weir_tests::Run {
    scratch.weir(&["run", "pipeline.toml", "--available-now"])
}

#[test]
fn a_plugin_looping_in_init_or_describe_fails_to_load_at_its_deadline() {
    for (mode, call) in [("loop-init", "init"), ("loop-describe", "describe")] {
        let scratch = rogue_pipeline("a\n", 1, mode, "timeout_ms = 300");
        let err = run(&scratch).fails();
        assert!(
            err.contains(&format!(
                "plugin `rogue` trapped in {call}: it exceeded its time limit of 300 ms per call (`timeout_ms`)"
            )),
            "{mode}: {err}"
        );
    }
}

#[test]
fn a_sleeping_plugin_does_not_hold_the_pipeline() {
    // A 30 s sleep against a 1 s limit: the sleep returns at once, as the
    // plugin's own (granted, real) clock shows.
    let scratch = rogue_pipeline(
        "a\ngo\n",
        1,
        "sleep",
        "timeout_ms = 1000\ngrants = [\"clock\"]",
    );
    run(&scratch).ok();
    let rows = rows(&scratch);
    let (_, note) = rows
        .iter()
        .find(|(v, _)| v == "go")
        .expect("the row passed");
    let slept: u64 = note
        .strip_prefix("slept ")
        .and_then(|n| n.strip_suffix(" ms"))
        .unwrap_or_else(|| panic!("{note}"))
        .parse()
        .unwrap();
    assert!(slept < 1000, "the plugin slept {slept} ms");
}

#[test]
fn a_plugin_waiting_for_the_clock_is_stopped_at_its_deadline() {
    let scratch = rogue_pipeline(
        "a\ngo\nb\n",
        1,
        "wait-for-clock",
        "timeout_ms = 300\ngrants = [\"clock\"]",
    );
    let summary = run(&scratch).ok().stderr();
    assert_eq!(rows(&scratch).len(), 2, "the rows around it flow on");
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0]["reason"],
        "plugin `rogue` trapped: it exceeded its time limit of 300 ms per call (`timeout_ms`)"
    );
    assert!(summary.contains("all accounted for"), "{summary}");
}

#[test]
fn state_past_its_limit_fails_the_batch_and_is_rolled_back() {
    // Each `go` batch sets 32 keys of 64 KiB (2 MiB): past a 1 MiB limit.
    let scratch = rogue_pipeline("a\ngo\nb\ngo\nc\n", 1, "state-bomb", "state_limit_mb = 1");
    let summary = run(&scratch).ok().stderr();
    assert_eq!(rows(&scratch).len(), 3);
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 2, "{letters:?}");
    for letter in &letters {
        let reason = letter["reason"].as_str().unwrap();
        // Both batches fail at the same key: the first one's writes were
        // rolled back with it, so the state did not grow between them.
        assert_eq!(
            reason,
            "plugin `rogue` trapped: setting state key `key-16` (65542 bytes) would take its \
             state to 1048663 bytes, over its limit of 1048576 bytes (`state_limit_mb`)",
            "{reason}"
        );
    }
    assert!(summary.contains("all accounted for"), "{summary}");
}

#[test]
fn rejecting_a_row_twice_breaks_the_contract_and_the_counts_still_add_up() {
    let scratch = rogue_pipeline("a\ngo\nx\ny\nb\n", 3, "reject-twice", "");
    let run = run(&scratch).ok();
    let summary = run.stderr();
    let letters = scratch.dead_letters("dead.jsonl");
    // One letter per row of the failed batch (go, x, y), not two for row 0.
    assert_eq!(letters.len(), 3, "{letters:?}");
    assert!(letters.iter().all(|l| l["reason"]
        == "plugin `rogue` returned an output that breaks the contract: it rejects row 0 more than once"));
    assert!(
        summary.contains("5 read = 2 out + 0 filtered + 3 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn malformed_buffers_fail_their_batch_with_the_reason() {
    for (mode, reason) in [
        (
            "take-out-of-range",
            "it selects row 6, but the batch has 1 rows",
        ),
        (
            "offsets-past-end",
            "column `note`: offsets end at 102, past the 2 bytes of data",
        ),
        (
            "short-validity",
            "column `note`: validity bitmap has 0 bits for 1 rows",
        ),
        (
            "bad-utf8",
            "column `note`: Invalid argument error: Encountered non UTF-8",
        ),
    ] {
        let scratch = rogue_pipeline("a\ngo\nb\n", 1, mode, "");
        let summary = run(&scratch).ok().stderr();
        assert_eq!(
            rows(&scratch).len(),
            2,
            "{mode}: the rows around it flow on"
        );
        let letters = scratch.dead_letters("dead.jsonl");
        assert_eq!(letters.len(), 1, "{mode}: {letters:?}");
        let shown = letters[0]["reason"].as_str().unwrap();
        assert!(
            shown.starts_with("plugin `rogue` returned an output that breaks the contract: ")
                && shown.contains(reason),
            "{mode}: {shown}"
        );
        assert!(summary.contains("all accounted for"), "{mode}: {summary}");
    }
}

#[test]
fn a_plugin_flooding_the_log_is_cut_to_its_budget() {
    // A million messages of ~50 bytes would be ~50 MB of log.
    let scratch = rogue_pipeline("go\n", 1, "log-flood", "");
    let run = run(&scratch).ok();
    let err = run.stderr();
    assert!(err.len() < 1 << 20, "{} bytes of log", err.len());
    assert_eq!(err.matches("of a flood that has no end").count(), 1000);
    assert!(
        err.contains(
            "The plugin logged more than 1000 messages in one call; the rest were dropped."
        ) && err.contains("999000"),
        "{}",
        &err[err.len().saturating_sub(2000)..]
    );
    assert_eq!(rows(&scratch).len(), 1, "the batch itself passed");
}

#[test]
fn a_plugin_trapping_on_every_call_cannot_exhaust_the_instance_pool() {
    // More failed batches than the pool has instances (256): each trap's
    // instance must go back to the pool.
    let lines: String = (0..400).map(|_| "go\n").collect();
    let scratch = rogue_pipeline(&lines, 1, "trap", "");
    let summary = run(&scratch).ok().stderr();
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 400);
    assert!(
        letters[399]["reason"].as_str().unwrap().starts_with(
            "plugin `rogue` trapped: wasm trap: wasm `unreachable` instruction executed"
        ),
        "{}",
        letters[399]["reason"]
    );
    assert!(
        summary.contains("400 read = 0 out + 0 filtered + 400 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn a_stop_interrupts_a_plugin_that_never_returns() {
    // A ten-minute deadline: only the stop can end this call.
    let scratch = rogue_pipeline(
        "a\ngo\nb\n",
        1,
        "spin",
        "timeout_ms = 600000\n\n[checkpoint]\ninterval = \"10ms\"",
    );
    let mut child = scratch
        .command(
            scratch.path(),
            &["run", "pipeline.toml", "--admin", "off"],
            &[],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(scratch.path().join("run.err")).unwrap())
        .spawn()
        .unwrap();
    wait_for("the row before the spin", 60, || rows(&scratch).len() == 1);
    // Inside the spinning call by now (the row before it is written).
    std::thread::sleep(Duration::from_millis(300));
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let mut status = None;
    wait_for("weir to stop after SIGTERM", 30, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    let err = scratch.read("run.err");
    assert!(!status.unwrap().success(), "{err}");
    assert!(
        err.contains(
            "stopped by a signal during transform `rogue`'s call (plugin `rogue` was interrupted: \
             the run is stopping); the epoch in progress was abandoned"
        ),
        "{err}"
    );
    // Abandoned, not dead-lettered: a restart reads it again.
    assert!(scratch.dead_letters("dead.jsonl").is_empty());
    assert_eq!(rows(&scratch), [("a".to_string(), "ok".to_string())]);
}

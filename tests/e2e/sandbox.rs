//! The sandbox has teeth: the `hostile` test plugin tries to overflow its
//! stack, flood the output, read files, open sockets, read the environment
//! and the clock. Each attempt is contained with a clear reason, the rows
//! around it flow on, and every row is accounted for.

use weir_tests::{Scratch, plugin, toml_path};

/// Runs `hostile` over `lines` (one row per batch) with extra keys for its
/// pipeline entry; returns the output rows as (value, seen) and the run.
fn hostile_run(lines: &str, keys: &str) -> (Scratch, Vec<(String, String)>, weir_tests::Run) {
    let scratch = Scratch::new();
    scratch.write("in.txt", lines);
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\nbatch_size = 1\n\n\
             [[transforms]]\nname = \"hostile\"\nplugin = {}\n{keys}\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
             [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
            toml_path(&plugin("hostile"))
        ),
    );
    let run = scratch.weir(&["run", "pipeline.toml", "--available-now"]);
    let rows = std::fs::read_to_string(scratch.path().join("out.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["seen"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (scratch, rows, run)
}

fn seen<'a>(rows: &'a [(String, String)], value: &str) -> &'a str {
    &rows
        .iter()
        .find(|(v, _)| v == value)
        .unwrap_or_else(|| panic!("no output row for `{value}` in {rows:?}"))
        .1
}

#[test]
fn files_sockets_and_environment_are_denied() {
    let (_scratch, rows, run) = hostile_run("read-file\nconnect\nenv\n", "");
    run.ok();
    assert!(seen(&rows, "read-file").starts_with("denied:"), "{rows:?}");
    assert!(seen(&rows, "connect").starts_with("denied:"), "{rows:?}");
    assert!(seen(&rows, "env").starts_with("denied:"), "{rows:?}");
}

#[test]
fn the_clock_stands_still_unless_granted() {
    let (_scratch, rows, _) = hostile_run("clock\n", "");
    assert_eq!(seen(&rows, "clock"), "unix seconds: 0");

    let (_scratch, rows, _) = hostile_run("clock\n", "grants = [\"clock\"]");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seconds: u64 = seen(&rows, "clock")
        .strip_prefix("unix seconds: ")
        .unwrap()
        .parse()
        .unwrap();
    assert!(now.abs_diff(seconds) < 600, "{seconds} vs now {now}");
}

#[test]
fn a_stack_overflow_loses_only_its_batch() {
    let (scratch, rows, run) = hostile_run("a\nrecurse\nb\n", "");
    let summary = run.ok().stderr();
    assert_eq!(rows, [("a".into(), "a".into()), ("b".into(), "b".into())]);
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["input"]["value"], "recurse");
    let reason = letters[0]["reason"].as_str().unwrap();
    // Rust keeps big frames on a stack in linear memory: overflowing it
    // reads out of bounds, which traps as surely as the engine's own
    // stack guard does.
    assert!(
        reason.starts_with("plugin `hostile` trapped: wasm trap: out of bounds memory access"),
        "{reason}"
    );
    assert!(
        summary.contains("3 read = 2 out + 0 filtered + 1 dead-lettered: all accounted for"),
        "{summary}"
    );
}

#[test]
fn an_enormous_output_fails_its_batch_at_the_cap() {
    let (scratch, rows, run) = hostile_run("a\nflood\nb\n", "max_output_rows = 1000000");
    run.ok();
    assert_eq!(rows.len(), 2, "the batches around the flood flow on");
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0]["reason"],
        "plugin `hostile` returned an output that breaks the contract: \
         it returned 5000000 rows, over its cap of 1000000 (`max_output_rows`)"
    );
}

#[test]
fn with_on_error_stop_a_failure_stops_the_pipeline_after_flushing() {
    let (scratch, rows, run) = hostile_run("a\nrecurse\nb\n", "on_error = \"stop\"");
    let err = run.fails();
    assert!(
        err.contains("stopped: transform `hostile` failed a batch and its `on_error` is `stop`"),
        "{err}"
    );
    // The row before the failure was written and flushed; none after it ran.
    assert_eq!(rows, [("a".into(), "a".into())]);
    assert_eq!(scratch.dead_letters("dead.jsonl").len(), 1);
}

#[test]
fn a_plugin_rejecting_past_its_cap_fails_the_batch() {
    let scratch = Scratch::new();
    scratch.write("in.txt", "reject\nreject\nreject\nok\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\n\n\
             [[transforms]]\nname = \"faulty\"\nplugin = {}\nmax_rejected_per_batch = 2\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
             [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
            toml_path(&plugin("faulty"))
        ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 4, "the whole batch is dead-lettered");
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .ends_with("it rejected 3 of 4 rows, over its cap of 2 (`max_rejected_per_batch`)"),
        "{letters:?}"
    );
}

//! Files written in place across restarts (issue 16): the dead-letter file
//! and single-file CSV / JSON Lines sinks keep the rows of committed epochs
//! when a run resumes from a checkpoint, and after a crash each row is in
//! them exactly once (they are cut back to their lengths at the checkpoint).

use std::collections::BTreeMap;
use weir_tests::{Scratch, plugin, toml_path};

/// Files source over `in/` (10 lines a batch, an epoch per batch), the
/// `faulty` transform (rejects lines that are `reject`), a single-file CSV
/// and JSON Lines sink and a JSON Lines dead-letter.
fn pipeline(scratch: &Scratch) {
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "lines"
batch_size = 10

[[transforms]]
name = "faulty"
plugin = {}

[checkpoint]
interval = "1ms"

[[sinks]]
name = "csv"
type = "csv"
path = "out/rows.csv"

[[sinks]]
name = "jsonl"
type = "jsonl"
path = "out/rows.jsonl"

[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
            toml_path(&plugin("faulty"))
        ),
    );
}

/// `n` lines named after `file`; every tenth is `reject`.
fn lines(file: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            if i % 10 == 9 {
                "reject\n".to_string()
            } else {
                format!("{file}-{i}\n")
            }
        })
        .collect()
}

/// How many times each kept value is in the CSV and the JSON Lines file,
/// and each rejected (file, line) in the dead-letter.
fn counts(
    scratch: &Scratch,
) -> (
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
    BTreeMap<String, usize>,
) {
    let mut csv = BTreeMap::new();
    let text = scratch.read("out/rows.csv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("value"), "one header, first: {text}");
    for line in lines {
        *csv.entry(line.to_string()).or_insert(0) += 1;
    }
    let mut jsonl = BTreeMap::new();
    for line in scratch.read("out/rows.jsonl").lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        *jsonl
            .entry(row["value"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    let mut letters = BTreeMap::new();
    for letter in scratch.dead_letters("out/dead.jsonl") {
        let key = format!("{}:{}", letter["source"], letter["offset"]);
        *letters.entry(key).or_insert(0) += 1;
    }
    (csv, jsonl, letters)
}

fn assert_once(scratch: &Scratch, kept: usize, rejected: usize) {
    let (csv, jsonl, letters) = counts(scratch);
    assert_eq!(csv.len(), kept, "{csv:?}");
    assert!(
        csv.values().all(|&n| n == 1),
        "rows repeated in the CSV: {csv:?}"
    );
    assert_eq!(jsonl, csv, "the JSON Lines file holds the same rows");
    assert_eq!(letters.len(), rejected, "{letters:?}");
    assert!(
        letters.values().all(|&n| n == 1),
        "letters repeated: {letters:?}"
    );
}

#[test]
fn a_restart_keeps_the_rows_and_letters_of_committed_epochs() {
    let scratch = Scratch::new();
    pipeline(&scratch);
    scratch.write("in/a.txt", &lines("a", 30));
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_once(&scratch, 27, 3);
    // New input; the restart resumes after a.txt and must not erase it.
    scratch.write("in/b.txt", &lines("b", 30));
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_once(&scratch, 54, 6);
}

#[test]
fn after_a_crash_each_row_and_letter_is_in_the_files_once() {
    // A first run commits a.txt. The second, over b.txt, is killed with its
    // first epoch's rows in the files but no checkpoint of it
    // (before-pre-commit), or with its checkpoint written but the epoch not
    // recorded as committed (after-write: the third run replays it).
    for point in ["before-pre-commit", "after-write"] {
        let scratch = Scratch::new();
        pipeline(&scratch);
        scratch.write("in/a.txt", &lines("a", 30));
        scratch
            .weir(&["run", "pipeline.toml", "--available-now"])
            .ok();
        scratch.write("in/b.txt", &lines("b", 30));
        let crashed = scratch.weir_env(
            scratch.path(),
            &["run", "pipeline.toml", "--available-now"],
            &[("WEIR_CRASH_AT", point)],
        );
        assert!(
            crashed.stderr().contains("WEIR_CRASH_AT: killing"),
            "{point}: {}",
            crashed.stderr()
        );
        scratch
            .weir(&["run", "pipeline.toml", "--available-now"])
            .ok();
        assert_once(&scratch, 54, 6);
    }
}

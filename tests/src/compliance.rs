//! The compliance test every bundled sink passes, as Vector's
//! `test_util/components.rs` is for its sinks: a sink under test says how
//! to reach it and how to read back what it holds, and the harness runs the
//! same pipelines against each. It checks that rows written equal rows
//! sent, that a refused row reaches the dead-letter with the row and its
//! reason, that the run summary counts both (the metrics a user reads),
//! that an epoch another sink fails is aborted and, for exactly-once sinks,
//! leaves nothing behind, likewise when a sink traps, and that a sink uses
//! only what it was granted.

use crate::{Run, Scratch, plugin, toml_path};

/// The schema of every row the harness sends.
pub const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, score DOUBLE, day DATE";

/// A bundled sink, set up to be tested.
pub trait SinkUnderTest {
    /// The sink entry's name, as the summary and the dead letters give it.
    fn name(&self) -> &str;

    /// The folder the pipelines run in.
    fn scratch(&self) -> &Scratch;

    /// Pipeline text: the `[connections]` the sink needs and its `[[sinks]]`
    /// entry, appending rows; its `config` table ends with `config` (TOML
    /// inline-table items, each after a comma, or empty).
    fn entry(&self, config: &str) -> String;

    /// Environment variables the pipeline file reads.
    fn env(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The first run's input (CSV with a header, in [`SCHEMA`], ids 1 to 4),
    /// with the row [`SinkUnderTest::refused`] names among them.
    fn rows(&self) -> String;

    /// The row of `rows` the sink refuses, by id, and a word its reason
    /// holds; `None` if the sink refuses no row.
    fn refused(&self) -> Option<(i64, &str)>;

    /// What the summary says the rows were written to (`connection db`).
    fn target(&self) -> String;

    /// What the sink holds, as `id|name` lines ordered by id; `at_least`:
    /// how many rows the reader waits for, where it must wait.
    fn written(&self, at_least: usize) -> Vec<String>;

    /// An entry (as [`SinkUnderTest::entry`]) whose sink uses what it was
    /// not granted, and the words of the error that must say so.
    fn ungranted(&self) -> (String, String);

    /// Whether an aborted epoch leaves nothing behind (not for Kafka: the
    /// records it produced stay, at-least-once).
    fn exactly_once(&self) -> bool {
        true
    }
}

/// A second sink that fails (or traps) in `fail_in`, failing the epoch.
pub fn failing_sink(fail_in: &str) -> String {
    format!(
        "\n[[sinks]]\nname = \"failing\"\nplugin = {}\nconfig = {{ fail_in = \"{fail_in}\" }}\n",
        toml_path(&plugin("failing_sink"))
    )
}

/// Runs a pipeline reading `input` into the sink, with its `entry` (from
/// [`SinkUnderTest::entry`]) and `extra` pipeline text; dead letters go to
/// `out/dead.jsonl`.
pub fn run(sink: &impl SinkUnderTest, input: &str, entry: &str, extra: &str) -> Run {
    let scratch = sink.scratch();
    let _ = std::fs::remove_dir_all(scratch.path().join("in"));
    scratch.write("in/rows.csv", input);
    let _ = std::fs::remove_file(scratch.path().join("out/dead.jsonl"));
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
             schema = \"{SCHEMA}\"\n\n{entry}\n{extra}\n[dead_letter]\ntype = \"jsonl\"\n\
             path = \"out/dead.jsonl\"\n",
        ),
    );
    let env = sink.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    scratch.weir_env(
        scratch.path(),
        &["run", "pipeline.toml", "--available-now"],
        &env,
    )
}

/// The `id|name` lines of CSV rows in [`SCHEMA`].
fn sent(rows: &str) -> Vec<(i64, String)> {
    rows.lines()
        .skip(1)
        .map(|line| {
            let mut cells = line.split(',');
            let id = cells.next().unwrap().parse().unwrap();
            (id, cells.next().unwrap().to_string())
        })
        .collect()
}

/// Every check, in order; each failure shows what the sink did.
pub fn passes_compliance(sink: &impl SinkUnderTest) {
    let name = sink.name();
    std::fs::create_dir_all(sink.scratch().path().join("out")).unwrap();

    // Appends: every row written but the one refused, read back as sent.
    let input = sink.rows();
    let refused = sink.refused();
    let expected: Vec<String> = sent(&input)
        .into_iter()
        .filter(|(id, _)| Some(*id) != refused.map(|(r, _)| r))
        .map(|(id, name)| format!("{id}|{name}"))
        .collect();
    let entry = sink.entry("");
    let summary = run(sink, &input, &entry, "").ok().stderr();
    assert_eq!(sink.written(expected.len()), expected, "{summary}");
    let counted = format!(
        "sink {name}: {} rows written to {}",
        expected.len(),
        sink.target()
    );
    assert!(
        summary.contains(&counted) && summary.contains("all accounted for"),
        "the summary should say {counted:?}:\n{summary}"
    );

    // Refused rows: in the dead-letter with the row and the reason, counted.
    let letters = sink.scratch().dead_letters("out/dead.jsonl");
    match refused {
        Some((id, word)) => {
            assert!(summary.contains("1 refused (dead-lettered)"), "{summary}");
            assert_eq!(letters.len(), 1, "{letters:?}");
            assert_eq!(letters[0]["stage"], format!("sink:{name}"));
            assert_eq!(letters[0]["input"]["id"], id);
            assert!(letters[0]["offset"].is_i64(), "{letters:?}");
            let reason = letters[0]["reason"].as_str().unwrap().to_lowercase();
            assert!(
                reason.contains(word),
                "the reason should say {word:?}: {reason}"
            );
        }
        None => assert!(letters.is_empty(), "{letters:?}"),
    }

    // Abort: another sink cannot prepare, so the epoch is aborted.
    let before = sink.written(expected.len());
    let err = run(
        sink,
        "id,name,score,day\n6,fay,1,2026-11-04\n",
        &entry,
        &failing_sink("pre-commit"),
    )
    .fails();
    assert!(err.contains("epoch 1 was aborted"), "{err}");
    if sink.exactly_once() {
        assert_eq!(
            sink.written(before.len()),
            before,
            "the aborted row stays out"
        );
    }

    // Trap: another sink traps mid-epoch, likewise.
    let err = run(
        sink,
        "id,name,score,day\n7,gus,1,2026-11-04\n",
        &entry,
        &failing_sink("write"),
    )
    .fails();
    assert!(err.contains("trapped in write"), "{err}");
    if sink.exactly_once() {
        assert_eq!(
            sink.written(before.len()),
            before,
            "the trapped row stays out"
        );
    }

    // Grants: what the sink was not granted is refused, and named.
    let (entry, message) = sink.ungranted();
    let err = run(sink, "id,name,score,day\n8,hal,1,2026-11-04\n", &entry, "").fails();
    assert!(
        err.contains(&message),
        "the error should say {message:?}: {err}"
    );
}

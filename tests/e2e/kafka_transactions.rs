//! The exactly-once Kafka sink (`delivery = "exactly-once"`) beyond the
//! crash test in checkpoints.rs: it needs checkpoints, and a second
//! process with the same sink fences the first, which stops for good
//! instead of retrying, while the second refuses to start from checkpoints
//! older than what Kafka committed. And the exactly-once Kafka dead-letter:
//! a replayed epoch whose letters Kafka has does not write them again.

use std::collections::BTreeMap;
use weir_tests::kafka::Broker;
use weir_tests::{Scratch, plugin, toml_path};

fn pipeline(broker: &Broker, group: &str, checkpoint: bool) -> String {
    let checkpoint = if checkpoint {
        "[checkpoint]\ninterval = \"200ms\"\n"
    } else {
        ""
    };
    format!(
        r#"
name = "fenced"

[source]
type = "kafka"
brokers = "{brokers}"
topics = ["in"]
group = "{group}"
start = "earliest"
format = "json"
schema = "id BIGINT NOT NULL"
max_wait_ms = 50

{checkpoint}
[connections.bus]
url = "kafka://{brokers}"

[[sinks]]
name = "bus"
plugin = "builtin:kafka"
connections = ["bus"]
config = {{ connection = "bus", topic = "out", format = "json", delivery = "exactly-once" }}
"#,
        brokers = broker.address()
    )
}

fn produce(broker: &Broker, ids: std::ops::Range<u32>) {
    let lines: Vec<String> = ids.map(|i| format!(r#"{{"id":{i}}}"#)).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    broker.produce_lines("in", Some(0), &refs);
}

#[test]
fn exactly_once_refuses_to_run_without_checkpoints() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", &pipeline(&broker, "g", false));
    let err = scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(
        err.contains("`delivery`") && err.contains("exactly-once needs checkpoints"),
        "{err}"
    );
}

#[test]
fn a_second_process_of_the_same_sink_fences_the_first_which_stops() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("out", 1);
    // Two epochs committed at least, so Kafka's marker is past the epoch a
    // run without checkpoints starts at.
    let first = Scratch::new();
    first.write("pipeline.toml", &pipeline(&broker, "first", true));
    let running = first.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    produce(&broker, 0..25);
    weir_tests::wait_for("the first run's records to commit", 60, || {
        broker.consume_committed("out").len() >= 25
    });
    produce(&broker, 25..50);
    weir_tests::wait_for("the first run's records to commit", 60, || {
        broker.consume_committed("out").len() >= 50
    });

    // The same pipeline and sink from another folder: it has no
    // checkpoints, so Kafka's newer marker stops it, but only after its
    // producer took the transactional id over.
    let second = Scratch::new();
    second.write("pipeline.toml", &pipeline(&broker, "second", true));
    let err = second
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(
        err.contains("committed epoch") && err.contains("belong to another run"),
        "{err}"
    );

    // The first run's next transaction finds itself fenced: it stops with
    // an error that says so, and does not retry.
    produce(&broker, 50..60);
    let run = running.wait(60);
    assert!(
        !run.success(),
        "the fenced run ended well:\n{}",
        run.stderr()
    );
    let err = run.stderr();
    assert!(err.contains("fenced"), "{err}");
    assert!(
        !err.contains("retrying from the last checkpoint"),
        "the fenced run retried:\n{err}"
    );
    // What it committed before stays, once.
    let ids: Vec<u64> = broker
        .consume_committed("out")
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.value).unwrap()["id"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "records committed twice: {ids:?}");
    assert!((0..50).all(|i| sorted.contains(&i)), "{sorted:?}");
}

/// Files (10 lines a batch, every tenth `reject`) through the `faulty`
/// transform, with the letters on a Kafka topic delivered `delivery`.
fn dead_letter_pipeline(broker: &Broker, topic: &str, delivery: &str) -> String {
    format!(
        r#"
name = "letters"

[source]
type = "files"
path = "in"
format = "lines"
batch_size = 10

[[transforms]]
name = "faulty"
plugin = {plugin}

[checkpoint]
interval = "1ms"

[[sinks]]
name = "rows"
type = "jsonl"
path = "out/rows.jsonl"

[connections.bus]
url = "kafka://{brokers}"

[dead_letter]
type = "kafka"
connection = "bus"
topic = "{topic}"
delivery = "{delivery}"
"#,
        plugin = toml_path(&plugin("faulty")),
        brokers = broker.address()
    )
}

/// How many times each rejected line's letter is on `topic`.
fn letters(broker: &Broker, topic: &str) -> BTreeMap<i64, usize> {
    let mut counts = BTreeMap::new();
    for record in broker.consume_committed(topic) {
        let letter: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        *counts
            .entry(letter["offset"].as_i64().unwrap())
            .or_insert(0) += 1;
    }
    counts
}

/// Runs `delivery`'s pipeline over 200 lines, killed after the commit of
/// epoch 2 (which the next start replays), then to the end.
fn letters_after_kills(delivery: &str) -> BTreeMap<i64, usize> {
    let broker = Broker::start();
    let topic = format!("letters-{delivery}");
    broker.create_topic(&topic, 1);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &dead_letter_pipeline(&broker, &topic, delivery),
    );
    let lines: String = (0..200)
        .map(|i| {
            if i % 10 == 9 {
                "reject\n".to_string()
            } else {
                format!("line-{i}\n")
            }
        })
        .collect();
    scratch.write("in/a.txt", &lines);
    scratch.run_until_crash("after-commit:2");
    scratch
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .ok();
    letters(&broker, &topic)
}

#[test]
fn an_exactly_once_dead_letter_skips_the_letters_of_a_replayed_epoch_kafka_has() {
    let counts = letters_after_kills("exactly-once");
    let expected: BTreeMap<i64, usize> = (1..=20).map(|k| (k * 10, 1)).collect();
    assert_eq!(counts, expected, "each rejected line's letter once");
    // At least once, the same kills write the replayed epochs' letters
    // twice: what exactly-once is for.
    let counts = letters_after_kills("at-least-once");
    assert!(
        counts.values().any(|&n| n > 1) && counts.len() == 20,
        "{counts:?}"
    );
}

#[test]
fn an_exactly_once_dead_letter_needs_checkpoints() {
    let broker = Broker::start();
    let scratch = Scratch::new();
    let text = dead_letter_pipeline(&broker, "letters", "exactly-once")
        .replace("[checkpoint]\ninterval = \"1ms\"\n", "");
    scratch.write("pipeline.toml", &text);
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("key `dead_letter.delivery`") && err.contains("[checkpoint]"),
        "{err}"
    );
}

#[test]
fn a_second_process_with_the_same_dead_letter_fences_the_first_which_stops() {
    let broker = Broker::start();
    broker.create_topic("fenced-letters", 1);
    let lines = |from: usize| -> String {
        (from..from + 50)
            .map(|i| {
                if i % 10 == 9 {
                    "reject\n".to_string()
                } else {
                    format!("line-{i}\n")
                }
            })
            .collect()
    };
    let text = dead_letter_pipeline(&broker, "fenced-letters", "exactly-once")
        .replace("interval = \"1ms\"", "interval = \"100ms\"");
    let first = Scratch::new();
    first.write("pipeline.toml", &text);
    first.write("in/a.txt", &lines(0));
    let running = first.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    weir_tests::wait_for("the first run's letters to commit", 60, || {
        broker.consume_committed("fenced-letters").len() >= 5
    });
    first.write("in/b.txt", &lines(50));
    weir_tests::wait_for("its next letters to commit", 60, || {
        broker.consume_committed("fenced-letters").len() >= 10
    });
    // The same pipeline from another folder takes the transactional id
    // over; without checkpoints, Kafka's newer marker then stops it.
    let second = Scratch::new();
    second.write("pipeline.toml", &text);
    second.write("in/a.txt", &lines(0));
    let err = second
        .weir(&["run", "pipeline.toml", "--available-now", "--admin", "off"])
        .fails();
    assert!(err.contains("another run's or were deleted"), "{err}");
    // The first run's next letters find it fenced: it stops, saying so.
    first.write("in/c.txt", &lines(100));
    let run = running.wait(60);
    let err = run.stderr();
    assert!(!run.success(), "the fenced run ended well:\n{err}");
    assert!(err.contains("taken over by another producer"), "{err}");
    assert!(
        !err.contains("retrying from the last checkpoint"),
        "the fenced run retried:\n{err}"
    );
}

//! The exactly-once Kafka sink (`delivery = "exactly-once"`) beyond the
//! crash test in checkpoints.rs: it needs checkpoints, and a second
//! process with the same sink fences the first, which stops for good
//! instead of retrying, while the second refuses to start from checkpoints
//! older than what Kafka committed.

use weir_tests::Scratch;
use weir_tests::kafka::Broker;

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

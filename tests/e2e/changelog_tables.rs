//! A stream–table join against a compacted Kafka topic read as a changelog
//! (the real Tansu): the latest value of each key is joined, a tombstone
//! deletes it, a record that cannot be decoded goes to the dead-letter,
//! and with [checkpoint] the table moves only between epochs, so a restart
//! joins the rows it reads again against the table the first run had.

use serde_json::Value;
use weir_tests::kafka::Broker;
use weir_tests::{Scratch, wait_for};

fn pipeline(broker: &Broker, topic: &str, checkpoint: bool) -> String {
    format!(
        "name = \"profiles\"\n\n[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
         schema = \"event STRING NOT NULL, customer_id BIGINT\"\npoll_interval_ms = 100\n\n\
         [connections.kafka]\nurl = \"kafka://{}\"\n\n\
         [[joins]]\nname = \"profiles\"\non = [\"customer_id\"]\ntable_on = [\"id\"]\nkind = \"left\"\n\
         table = {{ connection = \"kafka\", topic = \"{topic}\", format = \"json\", schema = \"id BIGINT, segment STRING\" }}\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n{}",
        broker.address(),
        if checkpoint {
            "\n[checkpoint]\nlocation = \"checkpoints\"\ninterval = \"300ms\"\n"
        } else {
            ""
        }
    )
}

/// (event, segment) of each row written, in order.
fn segments(scratch: &Scratch) -> Vec<(String, Option<String>)> {
    scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["event"].as_str().unwrap().to_string(),
                v["segment"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn seg(event: &str, segment: Option<&str>) -> (String, Option<String>) {
    (event.to_string(), segment.map(str::to_string))
}

fn profile(broker: &Broker, topic: &str, id: i64, segment: &str) {
    let value = format!(r#"{{"id": {id}, "segment": "{segment}"}}"#);
    broker.produce(
        topic,
        Some((id % 2) as i32),
        &[(Some(id.to_string().as_bytes()), value.as_bytes())],
    );
}

#[test]
fn the_latest_value_of_each_key_is_joined_and_a_tombstone_deletes_it() {
    let broker = Broker::start();
    let topic = "profiles";
    broker.create_topic(topic, 2);
    profile(&broker, topic, 1, "bronze");
    profile(&broker, topic, 2, "silver");
    profile(&broker, topic, 1, "gold");
    profile(&broker, topic, 3, "gold");
    broker.produce_tombstone(topic, 1, b"3");
    // A value that is not JSON, and one without the key column.
    broker.produce(topic, Some(0), &[(Some(b"9"), b"{not json")]);
    broker.produce(topic, Some(0), &[(Some(b"8"), br#"{"segment": "x"}"#)]);
    let scratch = Scratch::new();
    scratch.write("in/a.csv", "event,customer_id\ne1,1\ne2,2\ne3,3\ne4,4\n");
    scratch.write("pipeline.toml", &pipeline(&broker, topic, false));
    let out = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        segments(&scratch),
        vec![
            seg("e1", Some("gold")),
            seg("e2", Some("silver")),
            seg("e3", None),
            seg("e4", None),
        ]
    );
    let letters = scratch.dead_letters("dead.jsonl");
    let reasons: Vec<(&str, &str)> = letters
        .iter()
        .map(|l| (l["stage"].as_str().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 2, "{letters:?}");
    assert!(reasons.iter().all(|(stage, _)| *stage == "join:profiles"));
    assert!(
        reasons[0].1.starts_with("changelog record: "),
        "{reasons:?}"
    );
    assert_eq!(reasons[1].1, "changelog record: its value has no id");
    assert_eq!(letters[0]["source"], "profiles/0");
    let summary = out.stderr();
    assert!(
        summary.contains("(2 table records dead-lettered)")
            && summary.contains("all accounted for"),
        "{summary}"
    );
}

#[test]
fn a_running_join_sees_the_topic_change() {
    let broker = Broker::start();
    let topic = "profiles";
    broker.create_topic(topic, 2);
    profile(&broker, topic, 1, "bronze");
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    scratch.write("pipeline.toml", &pipeline(&broker, topic, false));
    let running = scratch.spawn(&["run", "pipeline.toml", "--admin", "off"]);
    let written = || {
        std::fs::read_to_string(scratch.path().join("out.jsonl")).map_or(0, |t| t.lines().count())
    };
    scratch.write("in/a.csv", "event,customer_id\ne1,1\n");
    wait_for("the first row", 30, || written() >= 1);
    profile(&broker, topic, 1, "gold");
    std::thread::sleep(std::time::Duration::from_millis(2500));
    scratch.write("in/b.csv", "event,customer_id\ne2,1\n");
    wait_for("the second row", 30, || written() >= 2);
    running.stop();
    assert_eq!(
        segments(&scratch),
        vec![seg("e1", Some("bronze")), seg("e2", Some("gold"))]
    );
}

#[test]
fn a_restart_joins_against_the_table_at_the_checkpoint() {
    let broker = Broker::start();
    let topic = "profiles";
    broker.create_topic(topic, 2);
    profile(&broker, topic, 1, "bronze");
    profile(&broker, topic, 2, "silver");
    let scratch = Scratch::new();
    scratch.write("in/a.csv", "event,customer_id\ne1,1\ne2,2\n");
    scratch.write("pipeline.toml", &pipeline(&broker, topic, true));
    // The first run commits its checkpoint, then dies before the sink of
    // the next epoch commits.
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    profile(&broker, topic, 1, "gold");
    broker.produce_tombstone(topic, 0, b"2");
    scratch.write("in/b.csv", "event,customer_id\ne3,1\ne4,2\n");
    let log = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stderr();
    assert!(
        log.contains("The changelog table is back at the checkpoint's offsets."),
        "{log}"
    );
    // e3 and e4 are read in the restarted run's first epoch: they join the
    // table as the checkpoint left it (the first run's last epoch moved it
    // to the end of the topic it then saw).
    assert_eq!(
        segments(&scratch),
        vec![
            seg("e1", Some("bronze")),
            seg("e2", Some("silver")),
            seg("e3", Some("bronze")),
            seg("e4", Some("silver")),
        ]
    );
}

const PROFILE: &str = r#"{"type":"record","name":"Profile","fields":[{"name":"id","type":"long"},{"name":"segment","type":"string"}]}"#;

#[test]
fn avro_values_are_read_through_the_connection_s_registry() {
    use crate::kafka::avro::{framed, long, string};
    let broker = Broker::start();
    let topic = "avro-profiles";
    broker.create_topic(topic, 1);
    let registry = weir_tests::registry::SchemaRegistry::start(None);
    let id = registry.register(&format!("{topic}-value"), PROFILE);
    let value = |customer: i64, segment: &str| framed(id, string(long(vec![], customer), segment));
    broker.produce(
        topic,
        Some(0),
        &[
            (Some(b"1"), &value(1, "bronze")),
            (Some(b"2"), &value(2, "silver")),
            (Some(b"1"), &value(1, "gold")),
            // Not Confluent-framed: dead-lettered with the decoder's reason.
            (Some(b"3"), b"garbage"),
        ],
    );
    let scratch = Scratch::new();
    scratch.write("in/a.csv", "event,customer_id\ne1,1\ne2,2\ne3,3\n");
    let text = pipeline(&broker, topic, false)
        .replace(
            &format!("url = \"kafka://{}\"\n", broker.address()),
            &format!(
                "url = \"kafka://{}\"\nregistry = {{ url = \"{}\" }}\n",
                broker.address(),
                registry.url()
            ),
        )
        .replace(
            "format = \"json\", schema = \"id BIGINT, segment STRING\"",
            "format = \"avro\"",
        );
    scratch.write("pipeline.toml", &text);
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        segments(&scratch),
        vec![
            seg("e1", Some("gold")),
            seg("e2", Some("silver")),
            seg("e3", None)
        ]
    );
    let letters = scratch.dead_letters("dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["stage"], "join:profiles");
    assert_eq!(letters[0]["offset"], 3);
}

//! `builtin:kafka` (which `type = "kafka"` entries run on) passes the sink
//! compliance harness (weir_tests::compliance) against a real
//! Kafka-protocol broker (Tansu); a record the producer refuses (too large)
//! is the refused row, and a failed epoch fails the run naming it (records
//! already acknowledged stay: the guarantee is at-least-once). Beyond it:
//! keys and headers come from columns, and Avro goes through the registry.

use weir_tests::Scratch;
use weir_tests::compliance::{self, SinkUnderTest};
use weir_tests::kafka::Broker;
use weir_tests::registry::SchemaRegistry;

/// Row 2's name makes a record larger than the connection allows.
fn rows() -> String {
    format!(
        "id,name,score,day\n1,ada,90.5,2026-11-01\n2,{},1,2026-11-01\n3,cy,77,2026-11-02\n4,dee,,2026-11-02\n",
        "b".repeat(20_000)
    )
}

struct Target {
    broker: Broker,
    registry: SchemaRegistry,
    scratch: Scratch,
}

impl Target {
    /// The `[connections]` and `[[sinks]]` text with `config` items.
    fn entry_with(&self, config: &str) -> String {
        format!(
            r#"[connections.bus]
url = "kafka://${{KAFKA_BROKERS}}"
properties = {{ "message.max.bytes" = "10000" }}
registry = {{ url = "${{REGISTRY_URL}}" }}

[[sinks]]
name = "bus"
plugin = "builtin:kafka"
connections = ["bus"]
config = {{ connection = "bus", {config} }}
"#
        )
    }
}

impl SinkUnderTest for Target {
    fn name(&self) -> &str {
        "bus"
    }

    fn scratch(&self) -> &Scratch {
        &self.scratch
    }

    fn entry(&self, config: &str) -> String {
        self.entry_with(&format!(
            "topic = \"rows\", format = \"json\", key = \"id\", headers = \"day\"{config}"
        ))
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("KAFKA_BROKERS".into(), self.broker.address()),
            ("REGISTRY_URL".into(), self.registry.url()),
        ]
    }

    fn rows(&self) -> String {
        rows()
    }

    fn refused(&self) -> Option<(i64, &str)> {
        Some((2, "too large"))
    }

    fn target(&self) -> String {
        "connection bus".to_string()
    }

    fn written(&self, at_least: usize) -> Vec<String> {
        let mut rows: Vec<(i64, String)> = self
            .broker
            .consume("rows", at_least)
            .iter()
            .map(|value| {
                let row: serde_json::Value = serde_json::from_slice(value).unwrap();
                (
                    row["id"].as_i64().unwrap(),
                    row["name"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows.into_iter()
            .map(|(id, name)| format!("{id}|{name}"))
            .collect()
    }

    fn ungranted(&self) -> (String, String) {
        (
            self.entry("")
                .replace("connection = \"bus\"", "connection = \"elsewhere\""),
            "connection `elsewhere` is not granted to sink `bus` (granted: bus)".to_string(),
        )
    }

    fn exactly_once(&self) -> bool {
        false
    }
}

#[test]
fn kafka_sink_passes_the_compliance_test() {
    let target = Target {
        broker: Broker::start(),
        registry: SchemaRegistry::start(None),
        scratch: Scratch::new(),
    };
    target.broker.create_topic("rows", 1);
    target.broker.create_topic("rows-avro", 1);
    compliance::passes_compliance(&target);

    // The first run's records: JSON values, keyed by id, the day a header.
    let records = target.broker.consume_records("rows", 3);
    let read: Vec<_> = records
        .into_iter()
        .take(3)
        .map(|r| {
            let key = String::from_utf8(r.key.unwrap_or_default()).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
            (key, value, r.headers)
        })
        .collect();
    let day = |d: &str| vec![("day".to_string(), d.as_bytes().to_vec())];
    assert_eq!(
        read,
        [
            (
                "1".to_string(),
                serde_json::json!({"id": 1, "name": "ada", "score": 90.5, "day": "2026-11-01"}),
                day("2026-11-01")
            ),
            (
                "3".to_string(),
                serde_json::json!({"id": 3, "name": "cy", "score": 77.0, "day": "2026-11-02"}),
                day("2026-11-02")
            ),
            (
                "4".to_string(),
                serde_json::json!({"id": 4, "name": "dee", "day": "2026-11-02"}),
                day("2026-11-02")
            ),
        ]
    );

    // Avro through the registry: Confluent-framed (magic byte 0, schema id).
    let entry =
        target.entry_with("topic = \"rows-avro\", format = \"avro\", columns = \"id, name\"");
    compliance::run(
        &target,
        "id,name,score,day\n1,ada,90.5,2026-11-01\n",
        &entry,
        "",
    )
    .ok();
    let value = &target.broker.consume_records("rows-avro", 1)[0].value;
    assert_eq!(value[0], 0, "{value:?}");
    // The body: id 1 as a zig-zag varint (2), ..., "ada" (length 3 as 6).
    assert!(value[5] == 2 && value.ends_with(b"\x06ada"), "{value:?}");
}

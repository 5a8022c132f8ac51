//! The sink compliance test for `builtin:kafka` (which `type = "kafka"`
//! entries run on), against a real Kafka-protocol broker (Tansu): rows
//! written equal records read back (value, key, headers), a record the
//! producer refuses reaches the dead-letter with the row and the reason,
//! the summary counts it, Avro goes through the registry, grants are
//! enforced, and a failed epoch fails the run naming it (records already
//! acknowledged stay: the guarantee is at-least-once).

use crate::sink_compliance::failing_sink;
use weir_tests::Scratch;
use weir_tests::kafka::Broker;
use weir_tests::registry::SchemaRegistry;

const SCHEMA: &str = "id BIGINT NOT NULL, name STRING, score DOUBLE, day DATE";

/// Row 2's name makes a record larger than the connection allows.
fn rows() -> String {
    format!(
        "id,name,score,day\n1,ada,90.5,2026-11-01\n2,{},1,2026-11-01\n3,cy,77,2026-11-02\n4,dee,,2026-11-02\n",
        "b".repeat(20_000)
    )
}

fn pipeline(scratch: &Scratch, input: &str, config: &str, extra: &str) {
    let _ = std::fs::remove_dir_all(scratch.path().join("in"));
    scratch.write("in/rows.csv", input);
    let _ = std::fs::remove_file(scratch.path().join("out/dead.jsonl"));
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "files"
path = "in"
format = "csv"
header = true
schema = "{SCHEMA}"

[connections.bus]
url = "kafka://${{KAFKA_BROKERS}}"
properties = {{ "message.max.bytes" = "10000" }}
registry = {{ url = "${{REGISTRY_URL}}" }}

[[sinks]]
name = "bus"
plugin = "builtin:kafka"
connections = ["bus"]
config = {{ connection = "bus", {config} }}
{extra}
[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#
        ),
    );
}

fn run(scratch: &Scratch, broker: &Broker, registry: &SchemaRegistry) -> weir_tests::Run {
    let (brokers, url) = (broker.address(), registry.url());
    scratch.weir_env(
        scratch.path(),
        &["run", "pipeline.toml", "--available-now"],
        &[("KAFKA_BROKERS", &brokers), ("REGISTRY_URL", &url)],
    )
}

#[test]
fn kafka_sink_passes_the_compliance_test() {
    let broker = Broker::start();
    broker.create_topic("rows", 1);
    broker.create_topic("rows-avro", 1);
    let registry = SchemaRegistry::start(None);
    let scratch = Scratch::new();

    // JSON values, keyed by id, with the day as a header; row 2 refused.
    pipeline(
        &scratch,
        &rows(),
        "topic = \"rows\", format = \"json\", key = \"id\", headers = \"day\"",
        "",
    );
    let summary = run(&scratch, &broker, &registry).ok().stderr();
    assert!(
        summary.contains("sink bus: 3 rows written to connection bus")
            && summary.contains("1 refused (dead-lettered)")
            && summary.contains("all accounted for"),
        "{summary}"
    );
    let records = broker.consume_records("rows", 3);
    let read: Vec<_> = records
        .into_iter()
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
    let letters = scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0]["stage"], "sink:bus");
    assert_eq!(letters[0]["input"]["id"], 2);
    let reason = letters[0]["reason"].as_str().unwrap().to_lowercase();
    assert!(reason.contains("too large"), "{reason}");

    // Avro through the registry: Confluent-framed (magic byte 0, schema id).
    pipeline(
        &scratch,
        "id,name,score,day\n1,ada,90.5,2026-11-01\n",
        "topic = \"rows-avro\", format = \"avro\", columns = \"id, name\"",
        "",
    );
    run(&scratch, &broker, &registry).ok();
    let value = &broker.consume_records("rows-avro", 1)[0].value;
    assert_eq!(value[0], 0, "{value:?}");
    // The body: id 1 as a zig-zag varint (2), ..., "ada" (length 3 as 6).
    assert!(value[5] == 2 && value.ends_with(b"\x06ada"), "{value:?}");

    // A failed epoch fails the run, naming it.
    pipeline(
        &scratch,
        "id,name,score,day\n6,fay,1,2026-11-04\n",
        "topic = \"rows\", format = \"json\"",
        &failing_sink("pre-commit"),
    );
    let err = run(&scratch, &broker, &registry).fails();
    assert!(err.contains("epoch 1 was aborted"), "{err}");

    // A connection the sink was not granted: named, with what it may use.
    pipeline(
        &scratch,
        "id,name,score,day\n7,gus,1,2026-11-04\n",
        "topic = \"rows\"",
        "",
    );
    let text = scratch
        .read("pipeline.toml")
        .replace("connection = \"bus\"", "connection = \"elsewhere\"");
    scratch.write("pipeline.toml", &text);
    let err = run(&scratch, &broker, &registry).fails();
    assert!(
        err.contains("connection `elsewhere` is not granted to sink `bus` (granted: bus)"),
        "{err}"
    );
}

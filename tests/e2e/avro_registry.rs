//! The schema registry as hosted registries are reached (HTTPS with a
//! private CA, basic auth), through schema_registry_converter's client;
//! and the check, before any record flows, that the reader schema can read
//! every writer version registered under the subject. The registry is the
//! tests' stand-in (tests/src/registry.rs: no Confluent-compatible server
//! installs here) behind the same TLS terminator as the Kafka TLS tests.

use crate::kafka::avro::{framed, long, string};
use crate::kafka::{USER_V1, USER_V2};
use weir_tests::Scratch;
use weir_tests::kafka::{Broker, free_port};
use weir_tests::kafka_tls::{Terminator, tls_file};
use weir_tests::registry::SchemaRegistry;

fn pipeline(registry: &str) -> String {
    format!(
        "[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"users\"]\ngroup = \"g\"\nformat = \"avro\"\nregistry = {registry}\n\n[[sinks]]\nname = \"users\"\ntype = \"jsonl\"\npath = \"out/users.jsonl\"\n\n[dead_letter]\ntype = \"jsonl\"\npath = \"out/dead.jsonl\"\n"
    )
}

fn run(scratch: &Scratch, broker: &Broker, command: &str) -> weir_tests::Run {
    let mut args = vec![command, "pipeline.toml"];
    if command == "run" {
        args.push("--available-now");
    }
    scratch.weir_env(
        scratch.path(),
        &args,
        &[("KAFKA_BROKERS", &broker.address())],
    )
}

#[test]
fn avro_is_read_through_a_registry_over_https_with_basic_auth() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let registry = SchemaRegistry::start(Some(("weir", "secret")));
    let v1 = registry.register("users-value", USER_V1);
    let v2 = registry.register("users-value", USER_V2);
    let https = Terminator::start(free_port(), registry.port, false);
    let ann = framed(v1, long(string(vec![], "Ann"), 31));
    let bob = {
        let body = long(string(vec![], "Bob"), 42);
        let body = long(body, 0); // email: null
        let body = long(body, 0); // tags: empty
        framed(v2, long(body, 0)) // seen
    };
    broker.produce("users", Some(0), &[(None, &ann), (None, &bob)]);
    let scratch = Scratch::new();
    std::fs::copy(tls_file("ca.pem"), scratch.path().join("registry-ca.pem")).unwrap();
    scratch.write(
        "pipeline.toml",
        &pipeline(&format!(
            "{{ url = \"https://127.0.0.1:{}\", username = \"weir\", password = \"secret\", ca_location = \"registry-ca.pem\" }}",
            https.port
        )),
    );
    let out = run(&scratch, &broker, "run").ok();
    let rows: Vec<serde_json::Value> = scratch
        .read("out/users.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), r["age"].as_i64().unwrap()))
        .collect();
    assert_eq!(names, [("Ann", 31), ("Bob", 42)], "{rows:?}");
    assert!(out.stderr().contains("2 read = 2 out"), "{}", out.stderr());

    // Without the CA the registry's certificate is not trusted: a clear
    // error, before any record is read.
    scratch.write(
        "pipeline.toml",
        &pipeline(&format!(
            "{{ url = \"https://127.0.0.1:{}\", username = \"weir\", password = \"secret\", patience_ms = 500 }}",
            https.port
        )),
    );
    let err = run(&scratch, &broker, "run").fails();
    assert!(
        err.contains(&format!(
            "the schema registry https://127.0.0.1:{}",
            https.port
        )) && err.to_lowercase().contains("certificate"),
        "{err}"
    );
}

/// v3 adds `email` as a string without a default: it cannot read v1's
/// records, which have none.
const USER_V3: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":"string"}]}"#;

#[test]
fn weir_check_names_the_writer_version_the_reader_schema_cannot_read_and_the_field() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let registry = SchemaRegistry::start(None);
    let v1 = registry.register("users-value", USER_V1);
    registry.register("users-value", USER_V2);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &pipeline(&format!("{{ url = \"{}\" }}", registry.url())),
    );
    // v2 (the latest, the reader) reads v1: every new field has a default.
    let out = run(&scratch, &broker, "check").ok();
    assert!(
        out.stdout().contains("pipeline.toml: ok"),
        "{}",
        out.stdout()
    );

    let v3 = registry.register("users-value", USER_V3);
    let expected = format!(
        "the reader schema (id {v3}) cannot read version 1 (id {v1}) of subject \"users-value\": field `email` is in the reader schema without a default"
    );
    let err = run(&scratch, &broker, "check").fails();
    assert!(err.contains(&expected), "{err}");
    // A run fails the same way before a record is read.
    broker.produce(
        "users",
        Some(0),
        &[(None, &framed(v1, long(string(vec![], "Ann"), 31)))],
    );
    let err = run(&scratch, &broker, "run").fails();
    assert!(err.contains(&expected), "{err}");
    assert!(!scratch.path().join("out/users.jsonl").exists());
}

/// v4 writes `age` as text: a reader with an int `age` cannot read it.
const USER_V4: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"string"}]}"#;

#[test]
fn a_hot_reload_is_refused_once_a_writer_version_the_reader_cannot_read_is_registered() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let registry = SchemaRegistry::start(None);
    let v1 = registry.register("users-value", USER_V1);
    broker.produce(
        "users",
        Some(0),
        &[(None, &framed(v1, long(string(vec![], "Ann"), 31)))],
    );
    let scratch = Scratch::new();
    std::fs::copy(weir_tests::plugin("echo"), scratch.path().join("echo.wasm")).unwrap();
    let pipeline = pipeline(&format!("{{ url = \"{}\" }}", registry.url())).replace(
        "[[sinks]]",
        "[[transforms]]\nname = \"echo\"\nplugin = \"echo.wasm\"\n\n[[sinks]]",
    );
    scratch.write("pipeline.toml", &format!("name = \"users\"\n{pipeline}"));
    let brokers = broker.address();
    let running = scratch.spawn_in(
        scratch.path(),
        &["run", "pipeline.toml"],
        &[("KAFKA_BROKERS", std::path::Path::new(&brokers))],
    );
    weir_tests::wait_for("the first row", 60, || {
        std::fs::read_to_string(scratch.path().join("out/users.jsonl"))
            .is_ok_and(|t| t.contains("Ann"))
    });
    let reload = || {
        scratch.weir_env(
            scratch.path(),
            &["reload", "pipeline.toml", "echo"],
            &[("KAFKA_BROKERS", &brokers)],
        )
    };
    // A reload while every version is readable goes through.
    reload().ok();

    let v4 = registry.register("users-value", USER_V4);
    let err = reload().fails();
    assert!(
        err.contains(&format!(
            "the reload is refused: avro: the reader schema (id {v1}) cannot read version 2 (id {v4}) of subject \"users-value\": field `age`: "
        )),
        "{err}"
    );
    running.stop();
}

//! The Kafka source against a real Kafka-protocol broker (Tansu, memory
//! engine) and the test schema registry: every format end to end, bad
//! records dead-lettered with their coordinates, clear errors for a broker
//! that is down or a topic that does not exist, offsets committed to the
//! group so that a second run reads only new records.

use std::collections::BTreeSet;
use weir_tests::kafka::{Broker, free_port};
use weir_tests::registry::SchemaRegistry;
use weir_tests::{Scratch, root};

/// Runs `pipeline.toml` of `scratch` with --available-now against `broker`.
fn run(scratch: &Scratch, broker: &Broker) -> weir_tests::Run {
    let brokers = broker.address();
    scratch.weir_env(
        scratch.path(),
        &["run", "pipeline.toml", "--available-now"],
        &[("KAFKA_BROKERS", &brokers)],
    )
}

fn students_lines() -> Vec<String> {
    let mut lines = Vec::new();
    for day in ["2026-11-01-students.txt", "2026-11-02-students.txt"] {
        let text =
            std::fs::read_to_string(root().join("examples/students/input").join(day)).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

#[test]
fn students_over_kafka_are_cleaned_and_bad_lines_dead_lettered_with_their_offsets() {
    let broker = Broker::start();
    broker.create_topic("students", 1);
    let lines = students_lines();
    let keyed: Vec<(Option<Vec<u8>>, Vec<u8>)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (Some(format!("k{i}").into_bytes()), l.clone().into_bytes()))
        .collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = keyed
        .iter()
        .map(|(k, v)| (k.as_deref(), v.as_slice()))
        .collect();
    broker.produce("students", Some(0), &records);

    let scratch = Scratch::example("students-kafka");
    let out = run(&scratch, &broker).ok();
    assert_eq!(
        scratch.read("out/students.csv"),
        "first_name,last_name,age,field\n\
         JOHN,SMITH,25,COMPUTER SCIENCE\n\
         ALICE,JOHNSON,22,PHYSICS\n\
         FRANK,GREEN,21,ECONOMICS\n\
         HYUN-WOO,PARK,34,DATA ENGINEERING\n\
         ÉMILIE,DURAND,27,LINGUISTIQUE\n\
         KARL,MARX,31,ECONOMICS\n\
         LEE,MIN-JI,22,COMPUTER SCIENCE\n\
         MIA,WONG,26,STATISTICS\n"
    );
    let letters = scratch.dead_letters("out/dead-letter.jsonl");
    assert_eq!(letters.len(), 8, "{letters:?}");
    // The first bad line is the 4th line of the first file: offset 3.
    let first = &letters[0];
    assert_eq!(first["source"], "kafka:students/0");
    assert_eq!(first["offset"], 3);
    assert_eq!(first["reason"], "age \"abc\" is not an integer");
    assert_eq!(first["input"]["value"], "Bob Lee, abc, Chemistry");
    assert_eq!(first["input"]["_partition"], 0);
    assert_eq!(first["input"]["_offset"], 3);
    for letter in &letters {
        let offset = letter["offset"].as_u64().unwrap() as usize;
        assert_eq!(letter["input"]["value"], lines[offset], "{letter}");
    }
    assert!(
        out.stderr()
            .contains("18 read = 8 out + 2 filtered + 8 dead-lettered"),
        "{}",
        out.stderr()
    );

    // The offsets were committed: a second run of the group reads only what is new.
    broker.produce_lines("students", Some(0), &["Zoe Quinn, 40, History", "Bad"]);
    run(&scratch, &broker).ok();
    assert_eq!(
        scratch.read("out/students.csv"),
        "first_name,last_name,age,field\nZOE,QUINN,40,HISTORY\n"
    );
    let letters = scratch.dead_letters("out/dead-letter.jsonl");
    assert_eq!(letters.len(), 1);
    assert_eq!(letters[0]["offset"], 19);
}

#[test]
fn json_records_keep_keys_headers_and_partitions_and_type_mismatches_are_dead_lettered() {
    let broker = Broker::start();
    broker.create_topic("orders", 2);
    broker.produce_with_headers(
        "orders",
        Some(1),
        &[
            (
                Some(b"o-1"),
                br#"{"id": 1, "amount": 9.5, "at": "2026-01-01T00:00:00Z"}"#,
            ),
            (Some(b"o-2"), br#"{"id": "two", "amount": 1}"#),
            (Some(b"o-3"), b"not json"),
        ],
        &[("trace", "abc")],
    );
    broker.produce(
        "orders",
        Some(0),
        &[(None, br#"{"id": 3, "amount": null}"#)],
    );
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "kafka"
brokers = "${KAFKA_BROKERS}"
topics = ["orders"]
group = "g"
format = "json"
schema = "id BIGINT NOT NULL, amount DOUBLE, at TIMESTAMP"
include_headers = true

[[sinks]]
name = "rows"
type = "jsonl"
path = "out/rows.jsonl"

[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
    );
    let out = run(&scratch, &broker).ok();
    let mut rows: Vec<serde_json::Value> = scratch
        .read("out/rows.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    rows.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[0]["amount"], 9.5);
    assert_eq!(rows[0]["_partition"], 1);
    assert_eq!(rows[0]["_offset"], 0);
    assert!(rows[0]["_key"].is_string(), "{:?}", rows[0]);
    assert_eq!(rows[0]["_headers"][0]["key"], "trace");
    assert!(rows[0]["_timestamp"].is_string());
    assert_eq!(rows[1]["id"], 3);
    assert_eq!(rows[1]["_partition"], 0);

    let letters = scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters.len(), 2, "{letters:?}");
    assert_eq!(letters[0]["stage"], "decode:json");
    assert_eq!(letters[0]["source"], "kafka:orders/1");
    assert_eq!(letters[0]["offset"], 1);
    assert_eq!(letters[0]["input"]["key"], "o-2");
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("column `id`: expected Int64, found \"two\""),
        "{}",
        letters[0]
    );
    assert_eq!(letters[1]["offset"], 2);
    assert!(
        letters[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("not a JSON object")
    );
    assert!(
        out.stderr()
            .contains("4 read = 2 out + 0 filtered + 2 dead-lettered"),
        "{}",
        out.stderr()
    );
}

#[test]
fn csv_records_follow_the_declared_schema() {
    let broker = Broker::start();
    broker.create_topic("quotes", 1);
    broker.produce_lines(
        "quotes",
        None,
        &["005930,71000.5", "000660,abc", "035420,182000"],
    );
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "kafka"
brokers = "${KAFKA_BROKERS}"
topics = ["quotes"]
group = "g"
format = "csv"
schema = "symbol STRING NOT NULL, price DOUBLE"

[[sinks]]
name = "quotes"
type = "csv"
path = "out/quotes.csv"

[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
    );
    run(&scratch, &broker).ok();
    let csv = scratch.read("out/quotes.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert!(
        lines[0].starts_with("symbol,price,_key,_partition,_offset"),
        "{csv}"
    );
    assert!(lines[1].starts_with("005930,71000.5,"), "{csv}");
    assert!(lines[2].starts_with("035420,182000.0,"), "{csv}");
    assert_eq!(lines.len(), 3);
    let letters = scratch.dead_letters("out/dead.jsonl");
    assert_eq!(letters[0]["offset"], 1);
    assert!(
        letters[0]["reason"]
            .as_str()
            .unwrap()
            .contains("column `price`")
    );
}

#[test]
fn a_topic_that_does_not_exist_is_a_clear_error() {
    let broker = Broker::start();
    broker.create_topic("present", 1);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\ntopics = [\"absent\"]\ngroup = \"g\"\nformat = \"lines\"\n",
    );
    let err = run(&scratch, &broker).fails();
    assert!(
        err.contains("topic \"absent\" does not exist") && err.contains("present"),
        "{err}"
    );
}

#[test]
fn a_broker_that_is_down_at_start_is_a_clear_error_after_a_bounded_wait() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\ntopics = [\"t\"]\ngroup = \"g\"\nformat = \"lines\"\nconnect_timeout_ms = 2000\n",
    );
    let address = format!("127.0.0.1:{}", free_port());
    let err = scratch
        .weir_env(
            scratch.path(),
            &["run", "pipeline.toml", "--available-now"],
            &[("KAFKA_BROKERS", &address)],
        )
        .fails();
    assert!(
        err.contains(&format!("cannot reach the brokers {address} within 2 s")),
        "{err}"
    );
}

#[test]
fn raw_records_keep_their_bytes() {
    let broker = Broker::start();
    broker.create_topic("bytes", 1);
    broker.produce("bytes", None, &[(None, &[0xff, 0x00, 0x41])]);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\ntopics = [\"bytes\"]\ngroup = \"g\"\nformat = \"raw\"\n\n[[sinks]]\nname = \"o\"\ntype = \"jsonl\"\npath = \"o.jsonl\"\n",
    );
    run(&scratch, &broker).ok();
    let row: serde_json::Value = serde_json::from_str(scratch.read("o.jsonl").trim()).unwrap();
    assert_eq!(row["value"], "ff0041", "{row}");
}

/// Avro binary, written out by hand (zig-zag varints), independent of the
/// decoder under test.
pub(crate) mod avro {
    pub fn long(mut out: Vec<u8>, v: i64) -> Vec<u8> {
        let mut n = ((v << 1) ^ (v >> 63)) as u64;
        loop {
            if n < 0x80 {
                out.push(n as u8);
                return out;
            }
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
    }
    pub fn string(out: Vec<u8>, s: &str) -> Vec<u8> {
        let mut out = long(out, s.len() as i64);
        out.extend_from_slice(s.as_bytes());
        out
    }
    /// Confluent framing: magic 0, the schema id (big-endian), the body.
    pub fn framed(id: u32, body: Vec<u8>) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend(body);
        out
    }
}

pub(crate) const USER_V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
pub(crate) const USER_V2: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null},{"name":"tags","type":{"type":"array","items":"string"},"default":[]},{"name":"seen","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]}"#;

#[test]
fn avro_with_the_registry_decodes_two_writer_schemas_and_dead_letters_bad_records() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let registry = SchemaRegistry::start(Some(("weir", "secret")));
    let v1 = registry.register("users-value", USER_V1);
    let v2 = registry.register("users-value", USER_V2);
    use avro::*;
    let ann = framed(v1, long(string(vec![], "Ann"), 31));
    let bob = {
        let body = long(string(vec![], "Bob"), 42);
        let body = string(long(body, 1), "bob@example.com"); // union branch 1: string
        let body = string(string(long(body, 2), "a"), "b"); // array block of 2
        let body = long(long(body, 0), 1_767_225_600_000); // end of array; seen
        framed(v2, body)
    };
    let unknown = framed(99, long(string(vec![], "Cy"), 1));
    let bad_magic = {
        let mut b = ann.clone();
        b[0] = 7;
        b
    };
    let truncated = ann[..ann.len() - 3].to_vec();
    let records: Vec<(Option<&[u8]>, &[u8])> = vec![
        (Some(b"a"), &ann),
        (Some(b"u"), &unknown),
        (Some(b"b"), &bob),
        (Some(b"m"), &bad_magic),
        (Some(b"t"), &truncated),
        (Some(b"a2"), &ann),
    ];
    broker.produce("users", None, &records);

    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &format!(
            r#"
[source]
type = "kafka"
brokers = "${{KAFKA_BROKERS}}"
topics = ["users"]
group = "g"
format = "avro"
registry = {{ url = "{}", username = "weir", password = "secret" }}

[[sinks]]
name = "users"
type = "jsonl"
path = "out/users.jsonl"

[dead_letter]
type = "jsonl"
path = "out/dead.jsonl"
"#,
            registry.url()
        ),
    );
    let out = run(&scratch, &broker).ok();
    let rows: Vec<serde_json::Value> = scratch
        .read("out/users.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Ann", "Bob", "Ann"], "{rows:?}");
    // v1 rows get the reader schema's (v2) defaults; v2 keeps its values.
    assert_eq!(rows[0]["age"], 31);
    assert!(rows[0]["email"].is_null());
    assert_eq!(rows[1]["email"], "bob@example.com");
    assert_eq!(rows[1]["tags"], serde_json::json!(["a", "b"]));
    assert!(
        rows[1]["seen"]
            .as_str()
            .unwrap()
            .starts_with("2026-01-01T00:00:00"),
        "{}",
        rows[1]
    );
    assert_eq!(rows[2]["_offset"], 5);

    let letters = scratch.dead_letters("out/dead.jsonl");
    let seen: Vec<(i64, &str)> = letters
        .iter()
        .map(|l| {
            (
                l["offset"].as_i64().unwrap(),
                l["input"]["key"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(seen, [(1, "u"), (3, "m"), (4, "t")], "{letters:?}");
    assert!(
        letters
            .iter()
            .all(|l| l["stage"] == "decode:avro" && l["source"] == "kafka:users/0")
    );
    let reasons: Vec<&str> = letters
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].starts_with("unknown schema id 99"),
        "{reasons:?}"
    );
    assert!(reasons[1].starts_with("bad magic byte 0x07"), "{reasons:?}");
    assert!(reasons[2].starts_with("corrupt Avro"), "{reasons:?}");
    assert!(out.stderr().contains("6 read = 3 out"), "{}", out.stderr());
}

#[test]
fn avro_refuses_a_registry_with_wrong_credentials_before_reading() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let registry = SchemaRegistry::start(Some(("weir", "secret")));
    registry.register("users-value", USER_V1);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"users\"]\ngroup = \"g\"\nformat = \"avro\"\nregistry = {{ url = \"{}\", username = \"weir\", password = \"wrong\" }}\n",
            registry.url()
        ),
    );
    let err = run(&scratch, &broker).fails();
    assert!(err.contains("HTTP 401"), "{err}");
}

#[test]
fn two_consumers_in_one_group_share_partitions_without_loss_or_duplicates() {
    let broker = Broker::start();
    broker.create_topic("events", 4);
    let scratch = Scratch::new();
    for name in ["a", "b"] {
        scratch.write(
            &format!("{name}.toml"),
            &format!(
                "[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"events\"]\ngroup = \"shared\"\nformat = \"lines\"\nbatch_size = 50\nmax_wait_ms = 100\n\n[[sinks]]\nname = \"o\"\ntype = \"csv\"\npath = \"out/{name}.csv\"\nheader = false\n"
            ),
        );
    }
    let brokers = broker.address();
    let env = [("KAFKA_BROKERS", brokers.as_str())];
    let mut a = scratch
        .command(scratch.path(), &["run", "a.toml"], &env)
        .spawn()
        .unwrap();
    let mut values: Vec<String> = Vec::new();
    let mut send = |from: usize, to: usize| {
        let batch: Vec<String> = (from..to).map(|i| format!("event-{i}")).collect();
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        for p in 0..4 {
            let part: Vec<&str> = refs.iter().copied().skip(p).step_by(4).collect();
            broker.produce_lines("events", Some(p as i32), &part);
        }
        values.extend(batch);
    };
    send(0, 400);
    std::thread::sleep(std::time::Duration::from_secs(6));
    // A second member joins: the group rebalances while records flow.
    let mut b = scratch
        .command(scratch.path(), &["run", "b.toml"], &env)
        .spawn()
        .unwrap();
    for round in 0..10 {
        send(400 + round * 100, 500 + round * 100);
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    std::thread::sleep(std::time::Duration::from_secs(10));
    for child in [&mut a, &mut b] {
        unsafe_interrupt(child.id());
    }
    for child in [&mut a, &mut b] {
        assert!(child.wait().unwrap().success());
    }
    let mut read: Vec<String> = Vec::new();
    for name in ["a", "b"] {
        let csv = std::fs::read_to_string(scratch.path().join(format!("out/{name}.csv")))
            .unwrap_or_default();
        read.extend(
            csv.lines()
                .map(|l| l.split(',').next().unwrap().to_string()),
        );
    }
    let unique: BTreeSet<&String> = read.iter().collect();
    assert_eq!(
        unique.len(),
        read.len(),
        "duplicates across the two outputs"
    );
    assert_eq!(unique.len(), values.len(), "records lost");
    let b_rows = std::fs::read_to_string(scratch.path().join("out/b.csv")).unwrap_or_default();
    assert!(!b_rows.is_empty(), "the second member got no partition");
}

/// Asks a weir process to stop as Ctrl-C does.
fn unsafe_interrupt(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn user_events_round_trip_avro_through_the_registry_and_count_as_the_generator_does() {
    let broker = Broker::start();
    broker.create_topic("user-events", 3);
    let registry = SchemaRegistry::start(None);
    let scratch = Scratch::example("user-events");
    let (brokers, url) = (broker.address(), registry.url());
    let env = [
        ("KAFKA_BROKERS", brokers.as_str()),
        ("REGISTRY_URL", url.as_str()),
    ];
    // A watermark that drops nothing: how many events are late depends on
    // the order they are read in, which differs with partitions.
    for file in ["from-kafka.toml", "pipeline.toml"] {
        let text = scratch.read(file);
        assert!(text.contains("watermark = \"10 minutes\""));
        scratch.write(
            file,
            &text.replace("watermark = \"10 minutes\"", "watermark = \"6 hours\""),
        );
    }
    let weir = |args: &[&str]| scratch.weir_env(scratch.path(), args, &env).ok();
    weir(&["run", "produce.toml", "--available-now"]);
    let out = weir(&["run", "from-kafka.toml", "--available-now", "--flush"]);
    assert!(out.stderr().contains("20000 read"), "{}", out.stderr());
    assert!(scratch.read("out/dead-letter.jsonl").is_empty());

    // The same 20 000 events straight from the generator, counted alike.
    let direct = scratch
        .read("pipeline.toml")
        .replace("count = 200000", "count = 20000");
    scratch.write("direct.toml", &direct);
    let direct = weir(&["run", "direct.toml", "--available-now"]);
    assert!(
        direct.stderr().contains("20000 read"),
        "{}",
        direct.stderr()
    );
    let sorted = |text: String| {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    let from_kafka = sorted(scratch.read("out/hourly-events-from-kafka.csv"));
    assert!(from_kafka.len() > 20, "{from_kafka:?}");
    assert_eq!(from_kafka, sorted(scratch.read("out/hourly-events.csv")));
}

#[test]
fn a_registry_that_is_down_is_waited_for_and_no_good_record_is_dead_lettered() {
    let broker = Broker::start();
    broker.create_topic("users", 1);
    let port = free_port();
    let ann = avro::framed(1, avro::long(avro::string(vec![], "Ann"), 31));
    broker.produce("users", None, &[(None, &ann)]);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"users\"]\ngroup = \"g\"\nformat = \"avro\"\nregistry = {{ url = \"http://127.0.0.1:{port}\", patience_ms = 30000 }}\n\n[[sinks]]\nname = \"o\"\ntype = \"jsonl\"\npath = \"o.jsonl\"\n\n[dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n"
        ),
    );
    let brokers = broker.address();
    let child = scratch
        .command(
            scratch.path(),
            &["run", "pipeline.toml", "--available-now"],
            &[("KAFKA_BROKERS", &brokers)],
        )
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The registry comes up three seconds late, where weir expects it.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let _registry = SchemaRegistry::start_with(
        &format!("127.0.0.1:{port}"),
        None,
        &[("users-value", USER_V1)],
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("The schema registry is unavailable; waiting."),
        "{stderr}"
    );
    assert!(scratch.read("o.jsonl").contains("\"name\":\"Ann\""));
    assert_eq!(scratch.read("dead.jsonl"), "");
}

#[test]
fn the_students_kafka_example_runs_as_its_readme_says() {
    let broker = Broker::start();
    broker.create_topic("students", 1);
    let scratch = Scratch::example("students-kafka");
    // produce.toml reads ../students/input, as it does in the repository.
    let input = root().join("examples/students/input");
    let text = scratch
        .read("produce.toml")
        .replace("\"../students/input\"", &weir_tests::toml_path(&input));
    scratch.write("produce.toml", &text);
    let brokers = broker.address();
    let env = [("KAFKA_BROKERS", brokers.as_str())];
    let produced = scratch
        .weir_env(
            scratch.path(),
            &["run", "produce.toml", "--available-now"],
            &env,
        )
        .ok();
    assert!(
        produced.stderr().contains("18 read = 18 out"),
        "{}",
        produced.stderr()
    );
    scratch
        .weir_env(
            scratch.path(),
            &["run", "pipeline.toml", "--available-now"],
            &env,
        )
        .ok();
    assert_eq!(scratch.read("out/students.csv").lines().count(), 9);
    assert_eq!(scratch.dead_letters("out/dead-letter.jsonl").len(), 8);
}

#[test]
fn the_dead_letter_can_be_a_kafka_topic() {
    let broker = Broker::start();
    broker.create_topic("in", 1);
    broker.create_topic("dead", 1);
    broker.produce(
        "in",
        None,
        &[
            (Some(b"k1"), b"{\"n\": 1}"),
            (Some(b"k2"), b"{\"n\": \"x\"}"),
        ],
    );
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\ntopics = [\"in\"]\ngroup = \"g\"\nformat = \"json\"\nschema = \"n INT\"\n\n[connections.bus]\nurl = \"kafka://${KAFKA_BROKERS}\"\n\n[dead_letter]\ntype = \"kafka\"\nconnection = \"bus\"\ntopic = \"dead\"\n",
    );
    let out = run(&scratch, &broker).ok();
    assert!(out.stderr().contains("1 dead-lettered"), "{}", out.stderr());
    let letters = broker.consume("dead", 1);
    let letter: serde_json::Value = serde_json::from_slice(&letters[0]).unwrap();
    assert_eq!(letter["source"], "kafka:in/0");
    assert_eq!(letter["offset"], 1);
    assert_eq!(letter["input"]["key"], "k2");
    assert!(
        letter["reason"].as_str().unwrap().contains("column `n`"),
        "{letter}"
    );
}

#[test]
fn a_topic_pattern_reads_every_matching_topic() {
    let broker = Broker::start();
    for topic in ["logs-web", "logs-db", "metrics"] {
        broker.create_topic(topic, 1);
        broker.produce_lines(topic, None, &[topic]);
    }
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"kafka\"\nbrokers = \"${KAFKA_BROKERS}\"\ntopic_pattern = \"logs-.*\"\ngroup = \"g\"\nformat = \"lines\"\n\n[[sinks]]\nname = \"o\"\ntype = \"jsonl\"\npath = \"o.jsonl\"\n",
    );
    run(&scratch, &broker).ok();
    let mut values: Vec<String> = scratch
        .read("o.jsonl")
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    values.sort();
    assert_eq!(values, ["logs-db", "logs-web"]);
}

#[test]
fn start_at_a_timestamp_skips_older_records() {
    let broker = Broker::start();
    broker.create_topic("t", 1);
    broker.produce_lines("t", None, &["old"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let now = now_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    broker.produce_lines("t", None, &["new"]);
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        &format!("[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"t\"]\ngroup = \"g\"\nformat = \"lines\"\nstart = \"timestamp:{}\"\n\n[[sinks]]\nname = \"o\"\ntype = \"jsonl\"\npath = \"o.jsonl\"\n", now),
    );
    run(&scratch, &broker).ok();
    assert_eq!(
        scratch.read("o.jsonl").lines().count(),
        1,
        "{}",
        scratch.read("o.jsonl")
    );
    assert!(scratch.read("o.jsonl").contains("\"value\":\"new\""));
}

/// Now as RFC 3339 (UTC), by the system's `date`.
fn now_rfc3339() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Java's `Utils.murmur2`, with which the Java client's default partitioner
/// picks a keyed record's partition: the oracle of where weir must put it.
fn java_murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes(chunk.try_into().unwrap()).wrapping_mul(M);
        k ^= k >> 24;
        h = h.wrapping_mul(M) ^ k.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    for (i, &b) in tail.iter().enumerate().rev() {
        h ^= u32::from(b) << (8 * i);
    }
    if !tail.is_empty() {
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[test]
fn keyed_records_go_to_the_partition_the_java_client_would_choose() {
    // The oracle itself, against the cases of Kafka's own UtilsTest.
    for (key, hash) in [
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        ("abc", 479470107),
    ] {
        assert_eq!(java_murmur2(key.as_bytes()), hash, "{key}");
    }
    let broker = Broker::start();
    broker.create_topic("keyed", 3);
    let scratch = Scratch::new();
    let users: Vec<String> = (0..60).map(|i| format!("user-{i}")).collect();
    scratch.write("in/users.csv", &format!("user\n{}\n", users.join("\n")));
    scratch.write(
        "pipeline.toml",
        r#"
[source]
type = "files"
path = "in"
format = "csv"
header = true
schema = "user STRING NOT NULL"

[[sinks]]
name = "bus"
type = "kafka"
brokers = "${KAFKA_BROKERS}"
topic = "keyed"
format = "json"
key = "user"
"#,
    );
    run(&scratch, &broker).ok();
    let records = broker.consume_records("keyed", users.len());
    let mut used = BTreeSet::new();
    for record in records {
        let key = record.key.expect("a keyed record");
        // Java's Utils.toPositive(murmur2(key)) % partitions.
        let expected = (java_murmur2(&key) & 0x7fff_ffff) % 3;
        assert_eq!(
            record.partition,
            expected,
            "key {}",
            String::from_utf8_lossy(&key)
        );
        used.insert(record.partition);
    }
    assert_eq!(used.len(), 3, "60 keys on partitions {used:?}");
}

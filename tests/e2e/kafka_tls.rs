//! Kafka over TLS and mutual TLS, as the students seed connects
//! (`security.protocol=SSL`, `ssl.ca.location=ca.pem`,
//! `ssl.certificate.location=service.cert`, `ssl.key.location=service.key`):
//! a real Tansu behind a TLS terminator that advertises only the TLS port,
//! and the errors a user meets when the settings are wrong.

use weir_tests::kafka_tls::{TlsBroker, tls_file};
use weir_tests::{Scratch, root};

/// The students-over-Kafka example with the seed's SSL properties, the
/// files copied beside the pipeline under the seed's names (relative
/// paths, as the seed writes them). `ca` is the CA file to trust.
fn students_over_tls(ca: &str, client_certificate: bool) -> Scratch {
    let scratch = Scratch::example("students-kafka");
    std::fs::create_dir_all(scratch.path().join("certs")).unwrap();
    for (from, to) in [
        (ca, "ca.pem"),
        ("client.cert", "service.cert"),
        ("client.key", "service.key"),
    ] {
        std::fs::copy(tls_file(from), scratch.path().join("certs").join(to)).unwrap();
    }
    let mut pipeline = scratch.read("pipeline.toml");
    pipeline.push_str(
        "\n[source.properties]\n\"security.protocol\" = \"SSL\"\n\"ssl.ca.location\" = \"certs/ca.pem\"\n",
    );
    if client_certificate {
        pipeline.push_str(
            "\"ssl.certificate.location\" = \"certs/service.cert\"\n\"ssl.key.location\" = \"certs/service.key\"\n",
        );
    }
    scratch.write("pipeline.toml", &pipeline);
    scratch
}

fn produce_students(broker: &TlsBroker) {
    broker.broker.create_topic("students", 1);
    let mut lines = Vec::new();
    for day in ["2026-11-01-students.txt", "2026-11-02-students.txt"] {
        let text =
            std::fs::read_to_string(root().join("examples/students/input").join(day)).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    broker.broker.produce_lines("students", Some(0), &lines);
}

fn run(scratch: &Scratch, broker: &TlsBroker) -> weir_tests::Run {
    scratch.weir_env(
        scratch.path(),
        &["run", "pipeline.toml", "--available-now"],
        &[("KAFKA_BROKERS", &broker.address())],
    )
}

const CLEANED: &str = "first_name,last_name,age,field\n\
     JOHN,SMITH,25,COMPUTER SCIENCE\n\
     ALICE,JOHNSON,22,PHYSICS\n\
     FRANK,GREEN,21,ECONOMICS\n\
     HYUN-WOO,PARK,34,DATA ENGINEERING\n\
     ÉMILIE,DURAND,27,LINGUISTIQUE\n\
     KARL,MARX,31,ECONOMICS\n\
     LEE,MIN-JI,22,COMPUTER SCIENCE\n\
     MIA,WONG,26,STATISTICS\n";

#[test]
fn students_over_tls_with_the_seeds_properties_are_cleaned() {
    let broker = TlsBroker::start(false);
    produce_students(&broker);
    let scratch = students_over_tls("ca.pem", false);
    let out = run(&scratch, &broker).ok();
    assert_eq!(scratch.read("out/students.csv"), CLEANED);
    assert!(
        out.stderr()
            .contains("18 read = 8 out + 2 filtered + 8 dead-lettered"),
        "{}",
        out.stderr()
    );
}

#[test]
fn students_over_mutual_tls_with_the_seeds_client_certificate_are_cleaned() {
    let broker = TlsBroker::start(true);
    produce_students(&broker);
    let scratch = students_over_tls("ca.pem", true);
    run(&scratch, &broker).ok();
    assert_eq!(scratch.read("out/students.csv"), CLEANED);
}

#[test]
fn mutual_tls_without_a_client_certificate_is_refused_clearly() {
    let broker = TlsBroker::start(true);
    produce_students(&broker);
    let scratch = students_over_tls("ca.pem", false);
    // A minute to connect: the refusal must end the wait, not the timeout.
    let pipeline = scratch.read("pipeline.toml").replace(
        "format = \"lines\"",
        "format = \"lines\"\nconnect_timeout_ms = 60000",
    );
    scratch.write("pipeline.toml", &pipeline);
    let err = run(&scratch, &broker).fails();
    assert!(
        err.contains(&format!("kafka: cannot connect to {}", broker.address()))
            && err.contains("ssl.certificate.location"),
        "{err}"
    );
}

#[test]
fn a_wrong_ca_names_ssl_ca_location_and_the_broker_without_waiting_out_the_timeout() {
    let broker = TlsBroker::start(false);
    produce_students(&broker);
    let scratch = students_over_tls("other-ca.pem", false);
    let pipeline = scratch.read("pipeline.toml").replace(
        "format = \"lines\"",
        "format = \"lines\"\nconnect_timeout_ms = 60000",
    );
    scratch.write("pipeline.toml", &pipeline);
    let err = run(&scratch, &broker).fails();
    // The file as the pipeline names it, resolved against its folder.
    assert!(
        err.contains(&format!(
            "kafka: cannot connect to {}: the broker's certificate is not signed by a certificate authority in `ssl.ca.location` (./certs/ca.pem)",
            broker.address(),
        )),
        "{err}"
    );
    assert!(!err.contains("within 60 s"), "{err}");
}

/// `weir check` where no broker is needed: the files are checked first.
fn check(scratch: &Scratch) -> String {
    scratch
        .weir_env(
            scratch.path(),
            &["check", "pipeline.toml"],
            &[("KAFKA_BROKERS", "127.0.0.1:1")],
        )
        .fails()
}

#[test]
fn a_missing_or_unreadable_key_file_is_named_by_weir_check() {
    let scratch = students_over_tls("ca.pem", true);
    let key = scratch.path().join("certs/service.key");
    std::fs::remove_file(&key).unwrap();
    let err = check(&scratch);
    assert!(
        err.contains(
            "key `source.properties.\"ssl.key.location\"`: cannot read ./certs/service.key: No such file"
        ),
        "{err}"
    );
    // As root every file is readable: what cannot be read here is a key
    // that is not a key (truncated, or a keystore).
    std::fs::write(&key, "\u{0}\u{1}binary").unwrap();
    let err = check(&scratch);
    assert!(
        err.contains(
            "key `source.properties.\"ssl.key.location\"`: ./certs/service.key is not a PEM file"
        ),
        "{err}"
    );
}

#[test]
fn the_dead_letter_topic_is_written_over_mutual_tls() {
    let broker = TlsBroker::start(true);
    produce_students(&broker);
    broker.broker.create_topic("dead", 1);
    let scratch = students_over_tls("ca.pem", true);
    let pipeline = scratch.read("pipeline.toml").replace(
        "[dead_letter]\ntype = \"jsonl\"\npath = \"out/dead-letter.jsonl\"\n",
        "",
    );
    let properties = pipeline
        .split_once("[source.properties]\n")
        .unwrap()
        .1
        .to_string();
    let pipeline = format!(
        "{pipeline}\n[connections.bus]\nurl = \"kafka://${{KAFKA_BROKERS}}\"\n\n[connections.bus.properties]\n{properties}\n[dead_letter]\ntype = \"kafka\"\nconnection = \"bus\"\ntopic = \"dead\"\n"
    );
    scratch.write("pipeline.toml", &pipeline);
    let out = run(&scratch, &broker).ok();
    assert!(out.stderr().contains("8 dead-lettered"), "{}", out.stderr());
    let letters = broker.broker.consume("dead", 8);
    let first: serde_json::Value = serde_json::from_slice(&letters[0]).unwrap();
    assert_eq!(first["input"]["value"], "Bob Lee, abc, Chemistry");
}

/// Tansu's `--authentication` offers SCRAM-SHA-256 and SCRAM-SHA-512 and
/// refuses PLAIN; it keeps no users in memory, so only refusals are tested.
#[test]
fn a_refused_sasl_login_or_mechanism_is_a_clear_error_not_a_hang() {
    let (mut tansu, port) = weir_tests::kafka_tls::start_sasl_broker();
    let address = format!("127.0.0.1:{port}");
    for (mechanism, expected) in [
        (
            "SCRAM-SHA-512",
            "the SASL login was refused: see `sasl.mechanism` (SCRAM-SHA-512), `sasl.username` and `sasl.password`",
        ),
        (
            "PLAIN",
            "the broker does not offer the SASL mechanism `sasl.mechanism` (PLAIN)",
        ),
    ] {
        let scratch = Scratch::new();
        scratch.write(
            "pipeline.toml",
            &format!(
                "[source]\ntype = \"kafka\"\nbrokers = \"${{KAFKA_BROKERS}}\"\ntopics = [\"t\"]\ngroup = \"g\"\nformat = \"lines\"\nconnect_timeout_ms = 60000\n\n[source.properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"{mechanism}\"\n\"sasl.username\" = \"weir\"\n\"sasl.password\" = \"wrong\"\n"
            ),
        );
        let err = scratch
            .weir_env(
                scratch.path(),
                &["run", "pipeline.toml", "--available-now"],
                &[("KAFKA_BROKERS", &address)],
            )
            .fails();
        assert!(
            err.contains(&format!("kafka: cannot connect to {address}: {expected}")),
            "{err}"
        );
    }
    let _ = tansu.kill();
    let _ = tansu.wait();
}

//! Unit tests of `config`.

use super::*;

fn load(text: &str) -> Result<PipelineConfig, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, text).unwrap();
    PipelineConfig::load(&path)
}

#[test]
fn relative_paths_follow_the_pipeline_file_and_the_name_defaults_to_its_stem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("quotes.toml");
    std::fs::write(
        &path,
        "[source]\ntype = \"files\"\npath = \"in\"\nformat = \"lines\"\n\n[[sinks]]\nname = \"o\"\ntype = \"jsonl\"\npath = \"/abs/o.jsonl\"\n",
    )
    .unwrap();
    let config = PipelineConfig::load(&path).unwrap();
    assert_eq!(config.name(), "quotes");
    let Some(SourceConfig::Files(files)) = &config.source else {
        panic!("files source")
    };
    assert_eq!(files.path, dir.path().join("in"));
    let SinkConfig::Jsonl(sink) = &config.sinks[0] else {
        panic!("jsonl sink")
    };
    assert_eq!(
        sink.path,
        PathBuf::from("/abs/o.jsonl"),
        "absolute paths stay"
    );
}

#[test]
fn unknown_keys_are_refused_in_every_table() {
    let source = "[source]\ntype = \"generator\"\ncount = 1\n";
    let cases = [
        format!("{source}colour = 1\n"),
        format!("{source}\n[[sinks]]\nname = \"a\"\ntype = \"csv\"\npath = \"a\"\nheadr = true\n"),
        format!("{source}\n[[transforms]]\nname = \"a\"\nplugin = \"a.wasm\"\nconfg = {{}}\n"),
        format!("{source}\n[dead_letter]\ntype = \"jsonl\"\npath = \"d\"\nformat = \"x\"\n"),
        format!("{source}extra_top = true\n").replace("[source]", "oops = 1\n[source]"),
    ];
    for text in cases {
        let err = load(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{text}\n=> {err}");
    }
}

#[test]
fn a_kafka_dead_letter_goes_through_a_connection() {
    let source = "[source]\ntype = \"generator\"\ncount = 1\n";
    let bus = "[connections.bus]\nurl = \"kafka://b1:9092,b2:9092\"\nproperties = { \"acks\" = \"all\" }\n";
    let config = load(&format!(
        "{source}\n{bus}\n[dead_letter]\ntype = \"kafka\"\nconnection = \"bus\"\ntopic = \"dead\"\n"
    ))
    .unwrap();
    let DeadLetterConfig::Kafka {
        brokers,
        properties,
        ..
    } = &config.dead_letter
    else {
        panic!("a kafka dead-letter")
    };
    assert_eq!(brokers, "b1:9092,b2:9092");
    assert_eq!(properties["acks"], "all");

    // The older inline form still works.
    let config = load(&format!(
        "{source}\n[dead_letter]\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopic = \"dead\"\n"
    ))
    .unwrap();
    assert!(
        matches!(config.dead_letter, DeadLetterConfig::Kafka { ref brokers, .. } if brokers == "b:9092")
    );

    // A connection that is not there, or not Kafka, is named.
    let err = load(&format!(
        "{source}\n[dead_letter]\ntype = \"kafka\"\nconnection = \"bux\"\ntopic = \"dead\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("dead_letter.connection") && err.contains("\"bux\""),
        "{err}"
    );
    let err = load(&format!(
        "{source}\n[connections.db]\nurl = \"sqlite:x.db\"\n\n[dead_letter]\ntype = \"kafka\"\nconnection = \"db\"\ntopic = \"dead\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("not a Kafka connection"), "{err}");
}

#[test]
fn nested_plugin_config_is_refused_with_its_key() {
    let err = load("[source]\ntype = \"generator\"\ncount = 1\n\n[[transforms]]\nname = \"t\"\nplugin = \"t.wasm\"\nconfig = { list = [1, 2] }\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("transforms[0].config.list"), "{err}");
}

#[test]
fn a_memory_limit_past_the_instance_pool_is_refused_naming_the_key() {
    // Before, 4096 silently acted as 1024: the pool's memories are 1 GiB.
    let source = "[source]\ntype = \"generator\"\ncount = 1\n";
    let transform = format!(
        "{source}\n[[transforms]]\nname = \"t\"\nplugin = \"t.wasm\"\nmemory_limit_mb = 4096\n"
    );
    let err = load(&transform).unwrap_err().to_string();
    assert!(
        err.contains("transforms[0].memory_limit_mb") && err.contains("1024"),
        "{err}"
    );
    let sink =
        format!("{source}\n[[sinks]]\nname = \"s\"\nplugin = \"s.wasm\"\nmemory_limit_mb = 2048\n");
    let err = load(&sink).unwrap_err().to_string();
    assert!(err.contains("sinks[0].memory_limit_mb"), "{err}");
    let ok = transform.replace("4096", "1024");
    assert!(load(&ok).is_ok(), "{:?}", load(&ok).err());
}

#[test]
fn a_csv_delimiter_outside_ascii_is_refused_naming_the_key() {
    // Split byte by byte, '€' (cut to the byte 0xac) split characters in two.
    let text = "[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nschema = \"a STRING\"\ndelimiter = \"€\"\n\n[[sinks]]\nname = \"o\"\ntype = \"csv\"\npath = \"o.csv\"\n";
    let err = load(text).unwrap_err().to_string();
    assert!(err.contains("source.delimiter"), "{err}");
    let sink = text.replace("delimiter = \"€\"\n", "").replace(
        "path = \"o.csv\"\n",
        "path = \"o.csv\"\ndelimiter = \"é\"\n",
    );
    let err = load(&sink).unwrap_err().to_string();
    assert!(err.contains("sinks[0].delimiter"), "{err}");
}

#[test]
fn a_join_table_is_a_file_a_query_or_a_topic_and_its_keys_must_fit_the_kind() {
    let pipeline = |table: &str| {
        format!(
            "[source]\ntype = \"generator\"\ncount = 1\n\n\
             [connections.db]\nurl = \"sqlite:t.db\"\n\n[connections.kafka]\nurl = \"kafka://127.0.0.1:9092\"\n\n\
             [[joins]]\nname = \"t\"\non = [\"user_id\"]\ntable = {{ {table} }}\n\n\
             [[sinks]]\nname = \"o\"\ntype = \"stdout\"\n"
        )
    };
    let schema = "schema = \"user_id BIGINT\"";
    let cases = [
        (
            format!("path = \"t.csv\", connection = \"db\", query = \"SELECT 1\", {schema}"),
            "key `joins[0].table`: give either a file (`path`, `format`) or a SQL query",
        ),
        (
            format!("path = \"t.csv\", format = \"csv\", lookup = true, {schema}"),
            "key `joins[0].table.lookup`: a file table is read again whenever the file changes",
        ),
        (
            format!("connection = \"db\", {schema}"),
            "key `joins[0].table.query`: a SQL table needs the SELECT",
        ),
        (
            format!(
                "connection = \"db\", query = \"SELECT 1\", lookup = true, refresh = \"1m\", {schema}"
            ),
            "key `joins[0].table.refresh`: a lookup table is not read whole",
        ),
        (
            format!("connection = \"db\", query = \"SELECT 1\", refresh = \"0s\", {schema}"),
            "key `joins[0].table.refresh`: \"0s\" must be longer than zero",
        ),
        (
            format!("connection = \"kafka\", query = \"SELECT 1\", {schema}"),
            "key `joins[0].table.connection`: `kafka` is a kafka: connection; a SQL table needs",
        ),
        (
            format!("connection = \"db\", topic = \"t\", format = \"json\", {schema}"),
            "key `joins[0].table.connection`: `db` is a sqlite: connection; a changelog topic is read from a kafka:// one",
        ),
        (
            format!("connection = \"kafka\", topic = \"t\", format = \"csv\", {schema}"),
            "key `joins[0].table.format`: a changelog topic's values are \"json\" or \"avro\"",
        ),
        (
            "connection = \"kafka\", topic = \"t\", format = \"avro\"".to_string(),
            "key `joins[0].table.format`: Avro values are read through a schema registry",
        ),
        (
            "connection = \"db\", query = \"SELECT 1\"".to_string(),
            "key `joins[0].table.schema`: csv, jsonl, json and SQL tables need a declared schema",
        ),
    ];
    for (table, expected) in cases {
        let error = load(&pipeline(&table)).err().unwrap().to_string();
        assert!(error.contains(expected), "{table}:\n{error}");
    }
    load(&pipeline(&format!(
        "connection = \"db\", query = \"SELECT 1\", lookup = true, cache_ttl = \"30s\", {schema}"
    )))
    .unwrap();
}

#[test]
fn sources_are_one_source_or_several_joined_and_each_kafka_source_has_its_group() {
    let files = |name: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\ntype = \"files\"\npath = \"in\"\nformat = \"lines\"\n"
        )
    };
    let one = load(&files("only")).unwrap();
    assert_eq!(
        one.named_sources()[0].0,
        "sources[0]",
        "one [[sources]] is the source"
    );
    let both = format!("[source]\ntype = \"generator\"\ncount = 1\n{}", files("a"));
    assert!(
        load(&both)
            .unwrap_err()
            .message
            .contains("either one [source] or [[sources]]")
    );
    let unjoined = format!("{}{}", files("a"), files("b"));
    assert!(
        load(&unjoined)
            .unwrap_err()
            .message
            .contains("[interval_join]")
    );
    let kafka = |name: &str| {
        format!(
            "[[sources]]\nname = \"{name}\"\ntype = \"kafka\"\nbrokers = \"b:9092\"\ntopics = [\"{name}\"]\n\
             group = \"g\"\nformat = \"lines\"\n"
        )
    };
    let join = "[interval_join]\nleft = \"a\"\nright = \"b\"\non = [\"k\"]\nleft_time = \"ts\"\nbetween = [\"-5 minutes\", \"5 minutes\"]\n";
    let shared = format!("{}{}{join}", kafka("a"), kafka("b"));
    let error = load(&shared).unwrap_err().message;
    assert!(error.contains("key `sources[1].group`"), "{error}");
    let own = format!(
        "{}{}{join}",
        kafka("a"),
        kafka("b").replace("group = \"g\"", "group = \"h\"")
    );
    let config = load(&own).unwrap();
    assert_eq!(
        config.interval_join.unwrap().bounds().unwrap(),
        Bounds {
            lower: -300_000_000,
            upper: 300_000_000
        }
    );
}

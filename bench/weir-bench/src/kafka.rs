//! `weir bench kafka`: on a running broker, the same N messages of about
//! 100 bytes (JSON, and the same rows as Confluent-framed Avro through the
//! registry) consumed and decoded by weir's Kafka source through a
//! pass-through Wasm transform, against a bare rdkafka `BaseConsumer` that
//! only drains the topic. Clocks start at the first record, so group joins
//! are not counted. A benchmark, not a test: run it on a release build
//! (scripts/bench-kafka starts Tansu and the registry and runs it).

use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use weir::avro::{AvroEncoder, Registry};
use weir::capability::kafka::producer::KafkaProducer;
use weir::config::kafka::{KafkaSourceConfig, RegistryConfig};
use weir::runtime::{BatchOutcome, ComponentCache, Runtime, TransformPlugin};
use weir::source::{KafkaSource, RunMode, Source};

const ECHO_PLUGIN: &[u8] = crate::guest!("echo");

#[derive(Debug, Serialize)]
pub struct KafkaBench {
    pub messages: usize,
    pub runs: usize,
    pub json_bytes_per_message: f64,
    pub avro_bytes_per_message: f64,
    pub bare_json_msgs_per_s: Rates,
    pub weir_json_msgs_per_s: Rates,
    pub bare_avro_msgs_per_s: Rates,
    pub weir_avro_msgs_per_s: Rates,
    /// weir / bare, on medians.
    pub json_ratio: f64,
    pub avro_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct Rates {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Rates {
    fn of(mut xs: Vec<f64>) -> Rates {
        xs.sort_by(f64::total_cmp);
        Rates {
            median: xs[xs.len() / 2],
            min: xs[0],
            max: xs[xs.len() - 1],
        }
    }
}

fn rows(from: usize, n: usize) -> RecordBatch {
    let cities = ["Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju"];
    let ids: Vec<i64> = (from..from + n).map(|i| i as i64).collect();
    let schema = Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("city", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into())),
            false,
        ),
    ]);
    RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| format!("user-{i:08}")),
            )),
            Arc::new(StringArray::from_iter_values(
                ids.iter().map(|i| cities[*i as usize % 6]),
            )),
            Arc::new(Float64Array::from_iter_values(
                ids.iter().map(|i| (*i % 1000) as f64 / 8.0),
            )),
            Arc::new(
                TimestampMillisecondArray::from_iter_values(
                    ids.iter().map(|i| 1_767_225_600_000 + i),
                )
                .with_timezone("+00:00"),
            ),
        ],
    )
    .expect("columns follow the schema")
}

/// Produces the messages; their mean size in bytes.
fn produce(
    brokers: &str,
    topic: &str,
    messages: usize,
    avro: Option<&mut AvroEncoder>,
) -> anyhow::Result<f64> {
    let producer = KafkaProducer::new(brokers, &Default::default()).map_err(anyhow::Error::msg)?;
    let mut bytes = 0usize;
    let mut avro = avro;
    let chunk = 10_000;
    for from in (0..messages).step_by(chunk) {
        let batch = rows(from, chunk.min(messages - from));
        let values: Vec<Vec<u8>> = match avro.as_deref_mut() {
            Some(encoder) => encoder.encode(&batch).map_err(anyhow::Error::msg)?,
            None => weir::dead_letter::rows_as_json(&batch)
                .iter()
                .map(|r| r.to_string().into_bytes())
                .collect(),
        };
        for v in &values {
            bytes += v.len();
            producer
                .send(topic, None, v, &[])
                .map_err(anyhow::Error::msg)?;
        }
    }
    producer.flush().map_err(anyhow::Error::msg)?;
    Ok(bytes as f64 / messages as f64)
}

/// A bare consumer drains `messages` records of `topic`; records per second.
fn bare(brokers: &str, topic: &str, messages: usize, group: &str) -> anyhow::Result<f64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        // As weir's source sets it: at librdkafka's default (1000 ms) a
        // consumer whose queue passes 100 000 messages stops fetching for a
        // second, which had capped this one at ~155 k msg/s on small records.
        .set("fetch.queue.backoff.ms", "10")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut count = 0;
    let mut bytes = 0usize;
    let mut started = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count < messages {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bare consumer read {count} of {messages} records in 10 minutes"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m?;
            started.get_or_insert_with(Instant::now);
            bytes += m.payload_len();
            count += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok(messages as f64 / started.expect("records read").elapsed().as_secs_f64())
}

/// weir's Kafka source and a pass-through Wasm transform; records per second.
fn weir(source_toml: &str, messages: usize, runtime: &Runtime) -> anyhow::Result<f64> {
    let config: KafkaSourceConfig = toml::from_str(source_toml)?;
    let mode = RunMode {
        available_now: false,
        flush: false,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let mut source = KafkaSource::new(&config, mode)?;
    let component = runtime.load_bytes("echo", ECHO_PLUGIN)?;
    let mut plugin = TransformPlugin::from_component(
        runtime,
        "echo",
        "echo",
        &component,
        vec![],
        source.schema(),
    )?;
    let mut count = 0;
    let mut started = None;
    let deadline = Instant::now() + Duration::from_secs(600);
    while count < messages {
        anyhow::ensure!(
            Instant::now() < deadline,
            "weir read {count} of {messages} records in 10 minutes"
        );
        let Some(batch) = source.next_batch()? else {
            break;
        };
        if batch.records() == 0 {
            continue;
        }
        started.get_or_insert_with(Instant::now);
        anyhow::ensure!(
            batch.rejected.is_empty(),
            "records refused: {:?}",
            batch.rejected.first()
        );
        match plugin.process(&batch.rows.data) {
            BatchOutcome::Processed { output, .. } => count += output.num_rows(),
            BatchOutcome::Failed { reason } => {
                anyhow::bail!("the transform failed a batch: {reason}")
            }
        }
        source.commit()?;
    }
    Ok(messages as f64 / started.expect("records read").elapsed().as_secs_f64())
}

pub fn run(
    brokers: &str,
    registry_url: &str,
    messages: usize,
    runs: usize,
) -> anyhow::Result<KafkaBench> {
    let tag = std::process::id();
    // Created by scripts/bench-kafka (3 partitions each) on a fresh broker.
    let (json_topic, avro_topic) = ("bench-json".to_string(), "bench-avro".to_string());
    let registry_config = RegistryConfig {
        url: registry_url.to_string(),
        username: None,
        password: None,
        ca_location: None,
        subject: None,
        reader_schema_id: None,
        patience_ms: 10_000,
    };
    let registry = Registry::new(&registry_config)?;
    let mut encoder = AvroEncoder::new(
        &registry,
        &format!("{avro_topic}-value"),
        &rows(0, 1).schema(),
    )?;
    eprintln!("producing {messages} JSON and {messages} Avro messages...");
    let json_bytes = produce(brokers, &json_topic, messages, None)?;
    let avro_bytes = produce(brokers, &avro_topic, messages, Some(&mut encoder))?;
    let runtime = Runtime::new(ComponentCache::disabled()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let source = |topic: &str, format: &str, group: &str| {
        format!(
            "brokers = \"{brokers}\"\ntopics = [\"{topic}\"]\ngroup = \"{group}\"\nformat = \"{format}\"\n\
             schema = \"id BIGINT, name STRING, city STRING, score DOUBLE, ts TIMESTAMP\"\n\
             registry = {{ url = \"{registry_url}\" }}\n"
        )
    };
    let (mut bj, mut wj, mut ba, mut wa) = (vec![], vec![], vec![], vec![]);
    for run in 0..runs.max(1) {
        eprintln!("run {} of {runs}...", run + 1);
        bj.push(bare(
            brokers,
            &json_topic,
            messages,
            &format!("bare-json-{tag}-{run}"),
        )?);
        wj.push(weir(
            &source(&json_topic, "json", &format!("weir-json-{tag}-{run}")),
            messages,
            &runtime,
        )?);
        ba.push(bare(
            brokers,
            &avro_topic,
            messages,
            &format!("bare-avro-{tag}-{run}"),
        )?);
        wa.push(weir(
            &source(&avro_topic, "avro", &format!("weir-avro-{tag}-{run}")),
            messages,
            &runtime,
        )?);
    }
    let (bj, wj, ba, wa) = (Rates::of(bj), Rates::of(wj), Rates::of(ba), Rates::of(wa));
    Ok(KafkaBench {
        messages,
        runs: runs.max(1),
        json_bytes_per_message: json_bytes,
        avro_bytes_per_message: avro_bytes,
        json_ratio: wj.median / bj.median,
        avro_ratio: wa.median / ba.median,
        bare_json_msgs_per_s: bj,
        weir_json_msgs_per_s: wj,
        bare_avro_msgs_per_s: ba,
        weir_avro_msgs_per_s: wa,
    })
}

//! A real Kafka-protocol broker for the tests: Tansu (memory engine), from
//! the binary scripts/setup-kafka installs, on a free port for each test
//! process; plus a producer to feed topics. If the broker cannot start the
//! test fails and says why; nothing is skipped.

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Tansu binary scripts/setup-kafka installed.
pub fn tansu_bin() -> PathBuf {
    let bin = crate::root().join("target/kafka-venv/tansu");
    assert!(
        bin.exists(),
        "{} is missing: scripts/test installs it (or run scripts/setup-kafka)",
        bin.display()
    );
    bin
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A Tansu broker, stopped when dropped.
/// A record as a consumer reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub partition: i32,
}

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    /// How the test's own producers and consumers reach the broker:
    /// `bootstrap.servers` and any other properties (TLS, see `kafka_tls`).
    pub(crate) client: Vec<(String, String)>,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_on(free_port())
    }

    /// Starts a broker on `port` (to restart one where clients expect it).
    pub fn start_on(port: u16) -> Broker {
        Broker::start_advertising(port, port)
    }

    /// Starts a broker listening on `port` that tells clients (in metadata)
    /// to come back through `advertised`: a TLS terminator's port.
    pub fn start_advertising(port: u16, advertised: u16) -> Broker {
        let url = format!("tcp://127.0.0.1:{port}");
        let advertised_url = format!("tcp://127.0.0.1:{advertised}");
        let child = Command::new(tansu_bin())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &advertised_url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", tansu_bin().display()));
        let broker = Broker {
            child: Some(child),
            port,
            client: vec![("bootstrap.servers".to_string(), format!("127.0.0.1:{port}"))],
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "Tansu did not listen on 127.0.0.1:{port} within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        broker
    }

    /// The test's client settings, as `client` says.
    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in &self.client {
            config.set(k, v);
        }
        config
    }

    /// `host:port` for `brokers =`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32) {
        let output = Command::new(tansu_bin())
            .args([
                "topic",
                "create",
                "--broker",
                &format!("tcp://{}", self.address()),
                "--partitions",
                &partitions.to_string(),
                name,
            ])
            .output()
            .expect("tansu topic create runs");
        assert!(
            output.status.success(),
            "cannot create topic {name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Sends `records` (key, value) to `topic`, to `partition` if given,
    /// and waits until the broker has them all.
    pub fn produce(&self, topic: &str, partition: Option<i32>, records: &[(Option<&[u8]>, &[u8])]) {
        self.produce_with_headers(topic, partition, records, &[]);
    }

    pub fn produce_with_headers(
        &self,
        topic: &str,
        partition: Option<i32>,
        records: &[(Option<&[u8]>, &[u8])],
        headers: &[(&str, &str)],
    ) {
        let producer: BaseProducer = self
            .client_config()
            .set("linger.ms", "5")
            .create()
            .expect("a producer");
        for (key, value) in records {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(*value);
            if let Some(key) = key {
                record = record.key(*key);
            }
            if let Some(p) = partition {
                record = record.partition(p);
            }
            if !headers.is_empty() {
                let mut h = OwnedHeaders::new();
                for (k, v) in headers {
                    h = h.insert(Header {
                        key: k,
                        value: Some(*v),
                    });
                }
                record = record.headers(h);
            }
            let mut record = record;
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, r)) => {
                        producer.poll(Duration::from_millis(10));
                        record = r;
                    }
                }
            }
            producer.poll(Duration::ZERO);
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("the broker took every record");
    }

    /// A record with `key` and no value (a tombstone: a compacted topic's
    /// delete), to `partition`.
    pub fn produce_tombstone(&self, topic: &str, partition: i32, key: &[u8]) {
        let producer: BaseProducer = self.client_config().create().expect("a producer");
        let record = BaseRecord::<[u8], [u8]>::to(topic)
            .key(key)
            .partition(partition);
        producer.send(record).map_err(|(e, _)| e).expect("sent");
        producer
            .flush(Duration::from_secs(30))
            .expect("the broker took the tombstone");
    }

    /// Lines as values, without keys.
    pub fn produce_lines(&self, topic: &str, partition: Option<i32>, lines: &[&str]) {
        let records: Vec<(Option<&[u8]>, &[u8])> =
            lines.iter().map(|l| (None, l.as_bytes())).collect();
        self.produce(topic, partition, &records);
    }

    /// Reads `n` record values of `topic` from the start (a fresh group).
    pub fn consume(&self, topic: &str, n: usize) -> Vec<Vec<u8>> {
        self.consume_records(topic, n)
            .into_iter()
            .map(|r| r.value)
            .collect()
    }

    /// Reads `n` records of `topic` from the start (a fresh group), with
    /// their keys and headers.
    pub fn consume_records(&self, topic: &str, n: usize) -> Vec<Record> {
        let consumer: BaseConsumer = self
            .client_config()
            .set("group.id", format!("test-reader-{}", free_port()))
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("a consumer");
        consumer.subscribe(&[topic]).expect("subscribed");
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while records.len() < n {
            assert!(
                Instant::now() < deadline,
                "read {} of {n} records of {topic} in 30 s",
                records.len()
            );
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message.expect("a record");
                let headers = message
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                            .collect()
                    })
                    .unwrap_or_default();
                records.push(Record {
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().unwrap_or_default().to_vec(),
                    headers,
                    partition: message.partition(),
                });
            }
        }
        records
    }

    /// Every record of `topic` a `read_committed` reader sees: read from
    /// the start of each partition to its end (records of open or aborted
    /// transactions are not returned).
    pub fn consume_committed(&self, topic: &str) -> Vec<Record> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.address())
            .set("group.id", format!("test-committed-{}", free_port()))
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "true")
            .set("enable.auto.commit", "false")
            .create()
            .expect("a consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("the topic's metadata");
        let mut assignment = rdkafka::TopicPartitionList::new();
        let partitions: Vec<i32> = metadata.topics()[0]
            .partitions()
            .iter()
            .map(|p| p.id())
            .collect();
        for &p in &partitions {
            assignment
                .add_partition_offset(topic, p, rdkafka::Offset::Beginning)
                .unwrap();
        }
        consumer.assign(&assignment).expect("assigned");
        let mut at_end = std::collections::HashSet::new();
        let mut records = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while at_end.len() < partitions.len() {
            assert!(
                Instant::now() < deadline,
                "could not read {topic} to its end in 60 s ({} records so far)",
                records.len()
            );
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                    at_end.insert(p);
                }
                Some(Err(e)) => panic!("reading {topic}: {e}"),
                Some(Ok(message)) => records.push(Record {
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().unwrap_or_default().to_vec(),
                    headers: Vec::new(),
                    partition: message.partition(),
                }),
            }
        }
        records
    }

    /// Stops the broker (its memory engine forgets everything).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

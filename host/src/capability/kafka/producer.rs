//! A Kafka producer (rdkafka `ThreadedProducer`, idempotent) that sends
//! records and, at `flush`, waits for every one of them to be acknowledged,
//! failing if any was refused: a write is done only when the broker has it.

use crate::source::kafka::connect::{self, SecurityRefusals};
use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Counts deliveries refused by the broker (after librdkafka's retries).
#[derive(Default)]
pub struct Deliveries {
    failed: Mutex<Vec<String>>,
    /// Some delivery failed because no broker could be reached.
    unreachable: AtomicBool,
    /// A refused TLS handshake or SASL login: waiting cannot mend it.
    refusals: SecurityRefusals,
}

/// Delivery errors that say the brokers are gone, not that the record is bad.
fn is_unreachable(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::OperationTimedOut
        )
    )
}

/// Records that were sent but are not known to be written.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct FlushError {
    pub message: String,
    /// The brokers could not be reached (an outage), rather than refusing
    /// the records.
    pub unreachable: bool,
}

impl ClientContext for Deliveries {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        connect::log(&self.refusals, level, fac, message);
    }
}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, message)) = result {
            if is_unreachable(e) {
                self.unreachable.store(true, Ordering::Relaxed);
            }
            let mut failed = self.failed.lock().expect("not poisoned");
            if failed.len() < 5 {
                failed.push(format!("{}/{}: {e}", message.topic(), message.partition()));
            } else {
                failed.push(String::new());
            }
        }
    }
}

/// How long `flush` waits for the brokers to acknowledge what was sent.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

pub struct KafkaProducer {
    producer: ThreadedProducer<Deliveries>,
    /// For messages: where the records go.
    brokers: String,
    /// The security properties, to name them when the brokers refuse them.
    properties: BTreeMap<String, String>,
}

impl KafkaProducer {
    pub fn new(brokers: &str, properties: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", brokers)
            .set("enable.idempotence", "true")
            .set("linger.ms", "5")
            // The Java client's partitioner (murmur2 of the key), so topics
            // weir writes are co-partitioned with Kafka Streams, Flink, Spark.
            .set("partitioner", "murmur2_random");
        for (k, v) in properties {
            config.set(k, v);
        }
        let producer = config
            .create_with_context(Deliveries::default())
            .map_err(|e| connect::creation_error(&e, properties))?;
        Ok(KafkaProducer {
            producer,
            brokers: brokers.to_string(),
            properties: properties.clone(),
        })
    }

    /// Queues one record, waiting while librdkafka's queue is full. An
    /// error refuses this record only (too large, say).
    pub fn send(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<(), String> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
        if let Some(key) = key {
            record = record.key(key);
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
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    r,
                )) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(format!("kafka: cannot send to {topic}: {e}")),
            }
        }
    }

    /// Waits until every record sent is acknowledged; fails if any was refused.
    /// A refused TLS handshake or SASL login fails it at once.
    pub fn flush(&self) -> Result<(), FlushError> {
        let context = self.producer.context();
        let deadline = std::time::Instant::now() + FLUSH_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let flushed = self.producer.flush(left.min(Duration::from_millis(250)));
            if let Some(line) = context.refusals.first() {
                return Err(FlushError {
                    message: connect::explain(&line, &self.brokers, &self.properties),
                    unreachable: false,
                });
            }
            match flushed {
                Ok(()) => break,
                Err(e) if left.is_zero() => {
                    return Err(FlushError {
                        message: format!(
                            "kafka: records to {} not acknowledged within {} s: {e}",
                            self.brokers,
                            FLUSH_TIMEOUT.as_secs()
                        ),
                        unreachable: true,
                    });
                }
                Err(_) => {}
            }
        }
        let failed = std::mem::take(&mut *context.failed.lock().expect("not poisoned"));
        let unreachable = context.unreachable.swap(false, Ordering::Relaxed);
        if failed.is_empty() {
            Ok(())
        } else {
            Err(FlushError {
                unreachable,
                message: format!(
                    "kafka: the brokers ({}) refused {} record(s): {}",
                    self.brokers,
                    failed.len(),
                    failed
                        .iter()
                        .filter(|f| !f.is_empty())
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            })
        }
    }
}

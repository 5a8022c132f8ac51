//! A Kafka producer (rdkafka `ThreadedProducer`, idempotent) that sends
//! records and, at `flush`, waits for every one of them to be acknowledged,
//! failing if any was refused: a write is done only when the broker has it.
//! A transactional producer (the exactly-once sink) also begins, commits
//! and aborts one transaction per epoch.

use super::security::{self, SecurityRefusals};
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
        security::log(&self.refusals, level, fac, message);
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

/// How long initialising, committing or aborting a transaction may take.
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

pub struct KafkaProducer {
    producer: ThreadedProducer<Deliveries>,
    /// For messages: where the records go.
    brokers: String,
    /// The security properties, to name them when the brokers refuse them.
    properties: BTreeMap<String, String>,
    /// The transactional id, for a transactional producer.
    transactional_id: Option<String>,
}

/// A transaction call that failed; `fenced` when another producer of the
/// same transactional id took over (a retry cannot help: this one is done).
#[derive(Debug)]
pub struct TransactionError {
    pub message: String,
    pub fenced: bool,
}

impl KafkaProducer {
    pub fn new(brokers: &str, properties: &BTreeMap<String, String>) -> Result<Self, String> {
        Self::create(brokers, properties, None)
    }

    /// A transactional producer under `id`. Initialising its transactions
    /// fences every earlier producer of `id` (a process that crashed, or
    /// one still running the same pipeline) and aborts what it left open.
    pub fn transactional(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        id: &str,
    ) -> Result<Self, String> {
        let producer = Self::create(brokers, properties, Some(id))?;
        producer
            .producer
            .init_transactions(TRANSACTION_TIMEOUT)
            .map_err(|e| {
                format!("kafka: cannot initialise the transactions of `{id}` on {brokers}: {e}")
            })?;
        Ok(producer)
    }

    fn create(
        brokers: &str,
        properties: &BTreeMap<String, String>,
        transactional_id: Option<&str>,
    ) -> Result<Self, String> {
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
        if let Some(id) = transactional_id {
            config.set("transactional.id", id);
        }
        let producer = config
            .create_with_context(Deliveries::default())
            .map_err(|e| security::creation_error(&e, properties))?;
        Ok(KafkaProducer {
            producer,
            brokers: brokers.to_string(),
            properties: properties.clone(),
            transactional_id: transactional_id.map(str::to_string),
        })
    }

    /// The fatal error librdkafka raised, if it raised one (a fenced
    /// transactional producer): nothing can be produced any more.
    pub fn fatal(&self) -> Option<String> {
        self.producer
            .client()
            .fatal_error()
            .map(|(code, reason)| format!("kafka: the producer failed for good ({code}): {reason}"))
    }

    pub fn transactional_id(&self) -> Option<&str> {
        self.transactional_id.as_deref()
    }

    pub fn begin(&self) -> Result<(), TransactionError> {
        self.producer
            .begin_transaction()
            .map_err(|e| self.transaction_error("begin", e))
    }

    /// Commits the open transaction: its records and its epoch marker
    /// become visible to `read_committed` readers together.
    pub fn commit(&self) -> Result<(), TransactionError> {
        self.producer
            .commit_transaction(TRANSACTION_TIMEOUT)
            .map_err(|e| self.transaction_error("commit", e))
    }

    pub fn abort(&self) -> Result<(), TransactionError> {
        self.producer
            .abort_transaction(TRANSACTION_TIMEOUT)
            .map_err(|e| self.transaction_error("abort", e))
    }

    fn transaction_error(&self, call: &str, e: KafkaError) -> TransactionError {
        let id = self.transactional_id.as_deref().unwrap_or_default();
        let fenced = match &e {
            KafkaError::Transaction(t) => {
                t.is_fatal()
                    || matches!(
                        t.code(),
                        RDKafkaErrorCode::ProducerFenced | RDKafkaErrorCode::InvalidProducerEpoch
                    )
            }
            _ => false,
        };
        TransactionError {
            message: if fenced {
                format!(
                    "kafka: the transaction of `{id}` cannot {call}: another producer of the same \
                     transactional id took over (is the pipeline running twice?): {e}"
                )
            } else {
                format!(
                    "kafka: the transaction of `{id}` on {} cannot {call}: {e}",
                    self.brokers
                )
            },
            fenced,
        }
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
                    message: security::explain(&line, &self.brokers, &self.properties),
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

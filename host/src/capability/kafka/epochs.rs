//! Epoch markers for the exactly-once Kafka sink: inside each epoch's
//! transaction the sink writes one record to the internal topic
//! `__weir_epochs` (key: its transactional id, value: the epoch), so the
//! marker commits with the epoch's records or not at all. At start the
//! newest committed marker is read back with `read_committed`: a replayed
//! epoch Kafka already has is skipped, one it lacks is written again. This
//! is what the SQL sinks' `weir_epochs` table does, in Kafka's own terms,
//! and it is needed because librdkafka cannot resume the transaction a
//! crashed process left prepared.

use crate::capability::blocking::Driver;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// The internal topic of epoch markers, one record per committed epoch of
/// every exactly-once sink.
pub const TOPIC: &str = "__weir_epochs";

/// How long reading the markers back may take before it is an error.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The marker record of `epoch`.
pub fn marker(epoch: u64) -> Vec<u8> {
    epoch.to_string().into_bytes()
}

/// The newest epoch committed under `id`, or `None` if it never committed
/// one. Creates the marker topic if it does not exist. Call it after the
/// producer of `id` initialised its transactions: that aborts whatever a
/// dead predecessor left open, so the read is not held at its transaction.
pub fn committed(
    brokers: &str,
    properties: &BTreeMap<String, String>,
    id: &str,
) -> Result<Option<u64>, String> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", brokers);
    for (k, v) in properties {
        config.set(k, v);
    }
    create_topic(&config)?;
    config
        .set("group.id", format!("weir-epochs-{id}"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    let consumer: BaseConsumer = config
        .create()
        .map_err(|e| format!("kafka: cannot read the epoch markers in {TOPIC}: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(TOPIC), READ_TIMEOUT)
        .map_err(|e| format!("kafka: cannot describe {TOPIC} on {brokers}: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        assignment
            .add_partition_offset(TOPIC, p, Offset::Beginning)
            .map_err(|e| e.to_string())?;
    }
    consumer
        .assign(&assignment)
        .map_err(|e| format!("kafka: cannot read {TOPIC}: {e}"))?;
    let mut at_end = HashSet::new();
    let mut newest = None;
    let deadline = Instant::now() + READ_TIMEOUT;
    while at_end.len() < partitions.len() {
        if Instant::now() > deadline {
            return Err(format!(
                "kafka: could not read the epoch markers in {TOPIC} on {brokers} to their end within {} s",
                READ_TIMEOUT.as_secs()
            ));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(format!("kafka: cannot read {TOPIC} on {brokers}: {e}")),
            Some(Ok(message)) if message.key() == Some(id.as_bytes()) => {
                let text = String::from_utf8_lossy(message.payload().unwrap_or_default());
                let epoch: u64 = text.parse().map_err(|_| {
                    format!(
                        "kafka: {TOPIC} holds a bad marker {text:?} for {id} at offset {}",
                        message.offset()
                    )
                })?;
                newest = newest.max(Some(epoch));
            }
            Some(Ok(_)) => {}
        }
    }
    Ok(newest)
}

/// Creates the marker topic (one partition, compacted: only the newest
/// marker of each sink matters) unless it exists. A broker that refuses the
/// compaction setting gets the topic without it.
fn create_topic(config: &ClientConfig) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .map_err(|e| format!("kafka: cannot create {TOPIC}: {e}"))?;
    let compacted =
        NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact");
    let plain = NewTopic::new(TOPIC, 1, TopicReplication::Fixed(1));
    let options = AdminOptions::new().operation_timeout(Some(READ_TIMEOUT));
    let mut refused = None;
    for topic in [compacted, plain] {
        // rdkafka's admin futures are served by its own thread; any executor will do.
        let results = Driver::CallingThread
            .block_on(admin.create_topics([&topic], &options))
            .map_err(|e| format!("kafka: cannot create {TOPIC}: {e}"))?;
        match results.into_iter().next() {
            None | Some(Ok(_)) | Some(Err((_, RDKafkaErrorCode::TopicAlreadyExists))) => {
                return Ok(());
            }
            Some(Err((_, code))) => refused = Some(code),
        }
    }
    Err(format!(
        "kafka: cannot create {TOPIC}: {}",
        refused.expect("refused twice")
    ))
}

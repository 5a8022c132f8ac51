//! Polling the consumer: records owned by partition, a revocation served
//! inside `poll` (what this source held of a revoked partition goes), and
//! which poll errors stop the run.

use super::KafkaSource;
use super::metadata::Meta;
use super::offsets::{Offsets, Partition};
use crate::source::{SourceBatch, SourceError};
use rdkafka::message::{Headers, Message};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A polled record, owned, waiting to be decoded with its partition's others.
pub(super) struct Polled {
    pub(super) value: Option<Vec<u8>>,
    pub(super) meta: Meta,
}

impl KafkaSource {
    /// Polls up to a batch of records (or `max_wait`), by partition.
    pub(super) fn poll(&mut self) -> Result<BTreeMap<Partition, Vec<Polled>>, SourceError> {
        let mut polled: BTreeMap<Partition, Vec<Polled>> = BTreeMap::new();
        let mut count = 0;
        let until = Instant::now() + self.max_wait;
        while count < self.batch_size && !self.mode.stop.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let polled_now = self.consumer.poll(left.min(Duration::from_millis(100)));
            // A revocation is served inside `poll`: what was polled before it
            // of the revoked partitions goes, and what `poll` returns now
            // comes after the new assignment, so it stays.
            drop_revoked(
                &self.offsets,
                &mut self.generation,
                &mut self.queued,
                &mut polled,
            );
            let Some(result) = polled_now else {
                if self.end.is_some() && count > 0 {
                    break;
                }
                continue;
            };
            let message = match result {
                Ok(message) => message,
                Err(e) => match poll_error(e) {
                    PollError::Fatal(e) => return Err(e),
                    // librdkafka reconnects by itself: a broker that went away
                    // is waited for, and reading resumes where it stopped.
                    PollError::Transient(reason) => {
                        tracing::warn!(%reason, "Kafka is unavailable; retrying.");
                        continue;
                    }
                },
            };
            let partition = (message.topic().to_string(), message.partition());
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
                        .collect()
                })
                .unwrap_or_default();
            polled.entry(partition).or_default().push(Polled {
                value: message.payload().map(<[u8]>::to_vec),
                meta: Meta {
                    key: message.key().map(<[u8]>::to_vec),
                    offset: message.offset(),
                    timestamp: message.timestamp().to_millis(),
                    headers,
                },
            });
            count += 1;
        }
        Ok(polled)
    }
}

enum PollError {
    Fatal(SourceError),
    Transient(String),
}

/// Errors that retrying cannot mend stop the run; the others (a broker that
/// is down or restarting, timeouts) are logged while librdkafka reconnects.
fn poll_error(e: rdkafka::error::KafkaError) -> PollError {
    use rdkafka::types::RDKafkaErrorCode as Code;
    let text = e.to_string();
    match e.rdkafka_error_code() {
        Some(Code::AutoOffsetReset) => PollError::Fatal(SourceError::Config(format!(
            "kafka: a partition has no committed offset for this group and start = \"committed\" ({text})"
        ))),
        Some(
            Code::UnknownTopicOrPartition
            | Code::UnknownTopic
            | Code::TopicAuthorizationFailed
            | Code::GroupAuthorizationFailed
            | Code::SaslAuthenticationFailed,
        ) => PollError::Fatal(SourceError::Config(format!("kafka: {text}"))),
        _ if matches!(e, rdkafka::error::KafkaError::MessageConsumptionFatal(_)) => {
            PollError::Fatal(SourceError::Config(format!("kafka: {text}")))
        }
        _ => PollError::Transient(text),
    }
}

/// After a revocation, what this source holds of the revoked partitions
/// is dropped: none of it was written, and their new owner reads it.
fn drop_revoked(
    offsets: &Mutex<Offsets>,
    generation: &mut u64,
    queued: &mut VecDeque<(Partition, (i64, i64), SourceBatch)>,
    polled: &mut BTreeMap<Partition, Vec<Polled>>,
) {
    let mut offsets = offsets.lock().expect("not poisoned");
    if offsets.generation == *generation {
        return;
    }
    *generation = offsets.generation;
    for partition in offsets.take_revoked() {
        if let Some(dropped) = polled.remove(&partition) {
            tracing::info!(topic = %partition.0, partition = partition.1, records = dropped.len(), "Dropped unwritten records of a revoked partition.");
        }
        queued.retain(|(p, _, _)| *p != partition);
    }
}

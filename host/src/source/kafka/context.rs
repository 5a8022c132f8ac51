//! The consumer's side of group membership: when partitions are revoked,
//! the offsets of what was written are committed before they go, and the
//! source is told to drop whatever it holds of them that is not yet written
//! (the new owner reads it again from the committed offset). A new
//! assignment can start at a timestamp. Every change of the assignment is
//! noted for the source to announce to the windows, whose watermark waits
//! for each assigned partition.

use super::offsets::Offsets;
use crate::capability::kafka::security::{self, Refusals, SecurityRefusals};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

pub struct GroupContext {
    pub offsets: Arc<Mutex<Offsets>>,
    /// Offsets from a checkpoint: an assigned partition resumes there,
    /// whatever the group has committed.
    pub resume: Arc<Mutex<HashMap<(String, i32), i64>>>,
    /// `start = "timestamp:..."`: partitions without a committed offset start here (ms).
    pub start_timestamp: Option<i64>,
    pub assignment: Arc<Mutex<Assignment>>,
    /// Refused TLS handshakes and SASL logins, for the wait at start.
    pub refusals: SecurityRefusals,
    /// Each partition's high watermark as the client's statistics last
    /// reported it (every second): the lag the console shows.
    pub high_watermarks: Arc<Mutex<HashMap<(String, i32), i64>>>,
}

/// The partitions the group has assigned to this member.
#[derive(Default)]
pub struct Assignment {
    pub partitions: BTreeSet<(String, i32)>,
    /// Changed since the source last announced it.
    pub changed: bool,
}

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        security::log(&self.refusals, level, fac, message);
    }

    /// Only the high watermarks are read, from the raw JSON: rdkafka's
    /// full `Statistics` refuses what some brokers' clients leave out.
    fn stats_raw(&self, json: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Stats {
            #[serde(default)]
            topics: HashMap<String, Topic>,
        }
        #[derive(serde::Deserialize)]
        struct Topic {
            #[serde(default)]
            partitions: HashMap<String, PartitionStats>,
        }
        #[derive(serde::Deserialize)]
        struct PartitionStats {
            #[serde(default = "unknown")]
            hi_offset: i64,
        }
        fn unknown() -> i64 {
            -1
        }
        let Ok(stats) = serde_json::from_slice::<Stats>(json) else {
            return;
        };
        let mut highs = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for (topic, t) in stats.topics {
            // librdkafka lists an internal partition -1, and negative
            // offsets for partitions it has not fetched from yet.
            for (partition, p) in t.partitions {
                if let Ok(partition) = partition.parse::<i32>()
                    && partition >= 0
                    && p.hi_offset >= 0
                {
                    highs.insert((topic.clone(), partition), p.hi_offset);
                }
            }
        }
    }
}

impl Refusals for GroupContext {
    fn refusals(&self) -> &SecurityRefusals {
        &self.refusals
    }
}

impl ConsumerContext for GroupContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(list) = rebalance {
            let revoked: Vec<(String, i32)> = list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            let mut offsets = self.offsets.lock().expect("not poisoned");
            let written = offsets.handed_list(&revoked);
            if written.count() > 0
                && let Err(e) = consumer.commit(&written, rdkafka::consumer::CommitMode::Sync)
            {
                tracing::warn!(error = %e, "Cannot commit the offsets of revoked partitions; their new owner may read some records again.");
            }
            tracing::info!(partitions = ?revoked, "Partitions revoked; what was not written is left to their new owner.");
            let mut assignment = self.assignment.lock().expect("not poisoned");
            for p in &revoked {
                assignment.partitions.remove(p);
            }
            assignment.changed = true;
            offsets.revoke(revoked);
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(list) = rebalance {
            let assigned: Vec<(String, i32)> = list
                .elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect();
            tracing::info!(partitions = ?assigned, "Partitions assigned.");
            {
                let mut assignment = self.assignment.lock().expect("not poisoned");
                assignment.partitions.extend(assigned.iter().cloned());
                assignment.changed = true;
            }
            if resume_from_checkpoint(consumer, list, &self.resume.lock().expect("not poisoned")) {
                return;
            }
            if let Some(ms) = self.start_timestamp {
                start_at_timestamp(consumer, list, ms);
            }
        }
    }
}

/// Partitions with no committed offset start at the first record at or after `ms`.
fn start_at_timestamp(consumer: &BaseConsumer<GroupContext>, list: &TopicPartitionList, ms: i64) {
    let timeout = std::time::Duration::from_secs(10);
    let Ok(committed) = consumer.committed_offsets(list.clone(), timeout) else {
        return;
    };
    let mut lookup = TopicPartitionList::new();
    for e in committed.elements() {
        if !matches!(e.offset(), Offset::Offset(_)) {
            lookup
                .add_partition_offset(e.topic(), e.partition(), Offset::Offset(ms))
                .expect("a valid offset");
        }
    }
    if lookup.count() == 0 {
        return;
    }
    match consumer.offsets_for_times(lookup, timeout) {
        Ok(found) => {
            let mut start = committed.clone();
            for e in found.elements() {
                // No record at or after the time: start at the end.
                let offset = match e.offset() {
                    Offset::Offset(o) => Offset::Offset(o),
                    _ => Offset::End,
                };
                start
                    .set_partition_offset(e.topic(), e.partition(), offset)
                    .expect("a valid offset");
            }
            if let Err(e) = consumer.assign(&start) {
                tracing::warn!(error = %e, "Cannot start the assigned partitions at the timestamp.");
            }
        }
        Err(e) => tracing::warn!(error = %e, "Cannot look up offsets for the start timestamp."),
    }
}

/// Assigned partitions the checkpoint knows resume at its offsets; the
/// others start as configured. Whether the checkpoint knew any.
fn resume_from_checkpoint(
    consumer: &BaseConsumer<GroupContext>,
    list: &TopicPartitionList,
    resume: &HashMap<(String, i32), i64>,
) -> bool {
    let mut start = list.clone();
    let mut known = false;
    for e in list.elements() {
        if let Some(&next) = resume.get(&(e.topic().to_string(), e.partition())) {
            start
                .set_partition_offset(e.topic(), e.partition(), Offset::Offset(next))
                .expect("a valid offset");
            known = true;
        }
    }
    if known && let Err(e) = consumer.assign(&start) {
        tracing::warn!(error = %e, "Cannot resume the assigned partitions at the checkpoint's offsets.");
    }
    known
}

//! The Kafka source: a consumer-group member (rdkafka `BaseConsumer`, polled
//! inside `next_batch`, as the pipeline is synchronous) that decodes records
//! per partition into batches with metadata columns. Offsets are tracked by
//! weir and committed to the group only after the pipeline has written the
//! batch (`Source::commit`).

mod available_now;
mod context;
pub(crate) mod decode;
pub(crate) mod metadata;
pub(crate) mod offsets;
mod poll;
mod replay;
#[cfg(test)]
mod tests;

use super::{
    KafkaPartition, Mark, PartitionProgress, Position, RunMode, Source, SourceBatch, SourceError,
    SourceProgress,
};
use crate::capability::kafka::security;
use crate::config::kafka::{KafkaSourceConfig, StartAt};
use available_now::AvailableNow;
use context::{Assignment, GroupContext};
use decode::RecordDecoder;
use offsets::{Offsets, Partition};
use poll::Polled;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct KafkaSource {
    consumer: BaseConsumer<GroupContext>,
    offsets: Arc<Mutex<Offsets>>,
    decoder: RecordDecoder,
    description: String,
    batch_size: usize,
    max_wait: Duration,
    mode: RunMode,
    /// Decoded batches of other partitions, polled with the last one:
    /// each with its first and last offset.
    queued: VecDeque<(Partition, (i64, i64), SourceBatch)>,
    generation: u64,
    /// Each partition's watermark id for windows (topics can share partition numbers).
    watermark_ids: HashMap<Partition, i32>,
    /// --available-now: where each assigned partition ended at start.
    end: Option<AvailableNow>,
    /// Next offset to read of each partition, as far as this run has emitted.
    positions: HashMap<Partition, i64>,
    /// The first offset this run emitted (or resumed at) of each partition.
    first: HashMap<Partition, i64>,
    /// A replayed epoch: the batches still to cut, and the records polled
    /// for them, held per partition until a batch is whole.
    replay: VecDeque<Mark>,
    held: HashMap<Partition, VecDeque<Polled>>,
    started: Instant,
    connect_timeout: Duration,
    /// Offsets to resume at from a checkpoint, applied when the group
    /// assigns the partition (shared with the rebalance callback).
    resume: Arc<Mutex<HashMap<Partition, i64>>>,
    /// The group's assignment, as the rebalance callback keeps it.
    assignment: Arc<Mutex<Assignment>>,
    /// High watermarks from the client's statistics, for the lag.
    high_watermarks: Arc<Mutex<HashMap<Partition, i64>>>,
}

impl KafkaSource {
    pub fn new(config: &KafkaSourceConfig, mode: RunMode) -> Result<Self, SourceError> {
        let start = config.start_at().map_err(SourceError::Config)?;
        let offsets = Arc::new(Mutex::new(Offsets::default()));
        let resume = Arc::new(Mutex::new(HashMap::new()));
        let assignment = Arc::new(Mutex::new(Assignment::default()));
        let high_watermarks = Arc::new(Mutex::new(HashMap::new()));
        let context = GroupContext {
            offsets: offsets.clone(),
            resume: resume.clone(),
            assignment: assignment.clone(),
            start_timestamp: match start {
                StartAt::Timestamp(ms) => Some(ms),
                _ => None,
            },
            refusals: Default::default(),
            high_watermarks: high_watermarks.clone(),
        };
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", &config.brokers)
            .set("group.id", &config.group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Tansu's first group join takes about half the session timeout.
            .set("session.timeout.ms", "6000")
            // A fetch that fills librdkafka's queue past `queued.min.messages`
            // (100 000) pauses fetching for this long. At librdkafka's 1000 ms
            // the loop drained the queue, then waited out the rest of the
            // second: 110-170 k msg/s wherever the broker could serve more.
            .set("fetch.queue.backoff.ms", "10")
            // Statistics each second give every partition's high watermark,
            // for the lag `/status` and the console show.
            .set("statistics.interval.ms", "1000")
            .set(
                "auto.offset.reset",
                match start {
                    StartAt::Earliest | StartAt::Timestamp(_) => "earliest",
                    StartAt::Latest => "latest",
                    StartAt::Committed => "error",
                },
            );
        for (key, value) in &config.properties {
            client.set(key, value);
        }
        let kafka = |e: rdkafka::error::KafkaError| SourceError::Config(format!("kafka: {e}"));
        let consumer: BaseConsumer<GroupContext> = client
            .create_with_context(context)
            .map_err(|e| SourceError::Config(security::creation_error(&e, &config.properties)))?;
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let topics = check_topics(&consumer, config, connect_timeout)?;
        let decoder = RecordDecoder::new(config, &topics)?;
        match &config.topic_pattern {
            Some(pattern) => consumer.subscribe(&[&format!("^{pattern}")]),
            None => consumer.subscribe(&topics.iter().map(String::as_str).collect::<Vec<_>>()),
        }
        .map_err(kafka)?;
        let description = format!(
            "kafka {} topic{} {} (group {})",
            config.brokers,
            if topics.len() == 1 { "" } else { "s" },
            topics.join(","),
            config.group
        );
        Ok(KafkaSource {
            consumer,
            offsets,
            decoder,
            description,
            batch_size: config.batch_size,
            max_wait: Duration::from_millis(config.max_wait_ms),
            mode,
            queued: VecDeque::new(),
            generation: 0,
            watermark_ids: HashMap::new(),
            end: None,
            positions: HashMap::new(),
            first: HashMap::new(),
            replay: VecDeque::new(),
            held: HashMap::new(),
            resume,
            assignment,
            high_watermarks,
            started: Instant::now(),
            connect_timeout,
        })
    }

    fn decode(
        &mut self,
        partition: &Partition,
        records: Vec<Polled>,
    ) -> Result<SourceBatch, SourceError> {
        let origin = format!("kafka:{}/{}", partition.0, partition.1);
        let watermark = self.watermark_id(partition);
        let (values, meta): (Vec<_>, Vec<_>) =
            records.into_iter().map(|r| (r.value, r.meta)).unzip();
        self.decoder
            .decode(&origin, partition, values, &meta, watermark)
    }

    /// The id windows keep `partition`'s watermark under, given on first sight.
    fn watermark_id(&mut self, partition: &Partition) -> i32 {
        let next_id = self.watermark_ids.values().max().map_or(0, |id| id + 1);
        *self
            .watermark_ids
            .entry(partition.clone())
            .or_insert(next_id)
    }
}

impl Source for KafkaSource {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.decoder.schema()
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    fn bounded(&self) -> bool {
        false
    }

    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        loop {
            if self.mode.stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            if !self.replay.is_empty() {
                return self.next_replayed().map(Some);
            }
            if let Some((partition, range, batch)) = self.queued.pop_front() {
                return Ok(Some(self.emit(partition, range, batch)));
            }
            if self.mode.available_now {
                self.available_now_ends()?;
                if self.reached_end() {
                    return Ok(None);
                }
                if self.end.is_none() && self.started.elapsed() > self.connect_timeout * 3 {
                    return Err(SourceError::Config(
                        "kafka: no partition was assigned to this consumer; is another member of the group holding them all?".to_string(),
                    ));
                }
            }
            let polled = self.poll()?;
            if polled.is_empty() && !self.mode.available_now {
                // Idle: back to the pipeline, which may have work at a
                // batch boundary (a reload to apply).
                return Ok(Some(SourceBatch::idle(self.schema())));
            }
            for (partition, records) in polled {
                self.queue(partition, records)?;
            }
        }
    }

    fn position(&self) -> Position {
        let mut partitions: Vec<KafkaPartition> = self
            .positions
            .iter()
            .map(|(p, &next)| KafkaPartition {
                topic: p.0.clone(),
                partition: p.1,
                next,
                first: self.first.get(p).copied().unwrap_or(next),
                watermark_id: self.watermark_ids[p],
            })
            .collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        Position::Kafka { partitions }
    }

    fn restore(&mut self, position: &Position) -> Result<(), SourceError> {
        let Position::Kafka { partitions } = position else {
            return Err(SourceError::Restore(format!(
                "the checkpoint is of another kind of source: {position:?}"
            )));
        };
        let mut resume = self.resume.lock().expect("not poisoned");
        for p in partitions {
            let key = (p.topic.clone(), p.partition);
            self.positions.insert(key.clone(), p.next);
            self.first.insert(key.clone(), p.next);
            self.watermark_ids.insert(key.clone(), p.watermark_id);
            resume.insert(key, p.next);
        }
        Ok(())
    }

    fn assignment_changed(&mut self) -> Option<Vec<i32>> {
        let assigned = {
            let mut assignment = self.assignment.lock().expect("not poisoned");
            if !std::mem::take(&mut assignment.changed) {
                return None;
            }
            assignment.partitions.clone()
        };
        let mut ids: Vec<i32> = assigned.iter().map(|p| self.watermark_id(p)).collect();
        ids.sort_unstable();
        Some(ids)
    }

    fn replay(&mut self, batches: &[Mark]) {
        self.replay = batches.iter().copied().collect();
    }

    fn check_before_reload(&mut self) -> Result<(), SourceError> {
        self.decoder.check_compatibility()
    }

    /// Each partition's next offset; with --available-now, of the end
    /// offset it reads to.
    fn progress(&self) -> SourceProgress {
        let mut partitions: Vec<PartitionProgress> = match &self.end {
            Some(end) => end
                .ends
                .iter()
                .map(|(p, &high)| {
                    let start = end.starts.get(p).copied().unwrap_or(0);
                    let next = self.positions.get(p).copied().unwrap_or(start).max(start);
                    PartitionProgress {
                        topic: p.0.clone(),
                        partition: p.1,
                        start,
                        next,
                        // Read past it, the end offset was out of date (a
                        // broker can report one below the true end; the
                        // run reads on until idle, see docs/kafka.md).
                        end: Some(high.max(next)),
                        lag: None,
                    }
                })
                .collect(),
            None => self
                .positions
                .iter()
                .map(|(p, &next)| PartitionProgress {
                    topic: p.0.clone(),
                    partition: p.1,
                    start: self.first.get(p).copied().unwrap_or(next),
                    next,
                    end: None,
                    lag: None,
                })
                .collect(),
        };
        let highs = self
            .high_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for p in &mut partitions {
            let key = (p.topic.clone(), p.partition);
            p.lag = highs.get(&key).map(|&high| (high - p.next).max(0));
        }
        drop(highs);
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        SourceProgress {
            partitions,
            ..SourceProgress::default()
        }
    }

    fn commit(&mut self) -> Result<(), SourceError> {
        let mut offsets = self.offsets.lock().expect("not poisoned");
        offsets.written();
        if let Some(list) = offsets.take_commit()
            && let Err(e) = self.consumer.commit(&list, CommitMode::Async)
        {
            tracing::warn!(error = %e, "Cannot commit offsets to the group; they will be committed with the next batch.");
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), SourceError> {
        let offsets = self.offsets.lock().expect("not poisoned");
        let all = offsets.written_all();
        if all.count() > 0 {
            self.consumer.commit(&all, CommitMode::Sync).map_err(|e| {
                SourceError::Config(format!("kafka: cannot commit the final offsets: {e}"))
            })?;
        }
        Ok(())
    }
}

impl Drop for KafkaSource {
    /// Leaving the group revokes every partition: from then on only what
    /// was written is committed (a run that failed wrote nothing since).
    fn drop(&mut self) {
        self.offsets.lock().expect("not poisoned").leaving = true;
    }
}

/// Fails with a clear message if the brokers cannot be reached within
/// `timeout`, or a named topic does not exist. The topics to describe the run.
fn check_topics(
    consumer: &BaseConsumer<GroupContext>,
    config: &KafkaSourceConfig,
    timeout: Duration,
) -> Result<Vec<String>, SourceError> {
    let metadata = security::metadata(consumer, &config.brokers, &config.properties, timeout)
        .map_err(SourceError::Config)?;
    let existing: Vec<&str> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name())
        .collect();
    if let Some(pattern) = &config.topic_pattern {
        return Ok(vec![format!("/{pattern}/")]);
    }
    for topic in &config.topics {
        if !existing.contains(&topic.as_str()) {
            return Err(SourceError::Config(format!(
                "kafka: topic {topic:?} does not exist on {} (topics there: {})",
                config.brokers,
                if existing.is_empty() {
                    "none".to_string()
                } else {
                    existing.join(", ")
                }
            )));
        }
    }
    Ok(config.topics.clone())
}

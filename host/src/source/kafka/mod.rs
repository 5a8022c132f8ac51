//! The Kafka source: a consumer-group member (rdkafka `BaseConsumer`, polled
//! inside `next_batch`, as the pipeline is synchronous) that decodes records
//! per partition into batches with metadata columns. Offsets are tracked by
//! weir and committed to the group only after the pipeline has written the
//! batch (`Source::commit`).

pub(crate) mod connect;
mod context;
mod decode;
mod metadata;
mod offsets;
#[cfg(test)]
mod tests;

use super::{
    KafkaPartition, Mark, PartitionProgress, Position, RunMode, Source, SourceBatch, SourceError,
    SourceProgress,
};
use crate::config::kafka::{KafkaSourceConfig, StartAt};
use context::{Assignment, GroupContext};
use decode::RecordDecoder;
use metadata::Meta;
use offsets::{Offsets, Partition};
use rdkafka::Offset;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Headers, Message};
use std::collections::{BTreeMap, HashMap, VecDeque};
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
}

/// A polled record, owned, waiting to be decoded with its partition's others.
struct Polled {
    value: Option<Vec<u8>>,
    meta: Meta,
}

struct AvailableNow {
    /// High watermark of each assigned partition at start.
    ends: HashMap<Partition, i64>,
    /// Where each partition started (committed offset, or the low watermark).
    starts: HashMap<Partition, i64>,
    /// When the last record arrived: past the ends, an idle poll also ends the run.
    last_record: Instant,
}

/// How long an --available-now run waits for more records once every
/// partition reports having reached its start-time end (see docs/kafka.md:
/// Tansu's memory engine can report an end offset below the true end).
const IDLE_END: Duration = Duration::from_millis(1500);

impl KafkaSource {
    pub fn new(config: &KafkaSourceConfig, mode: RunMode) -> Result<Self, SourceError> {
        let start = config.start_at().map_err(SourceError::Config)?;
        let offsets = Arc::new(Mutex::new(Offsets::default()));
        let resume = Arc::new(Mutex::new(HashMap::new()));
        let assignment = Arc::new(Mutex::new(Assignment::default()));
        let context = GroupContext {
            offsets: offsets.clone(),
            resume: resume.clone(),
            assignment: assignment.clone(),
            start_timestamp: match start {
                StartAt::Timestamp(ms) => Some(ms),
                _ => None,
            },
            refusals: Default::default(),
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
            .map_err(|e| SourceError::Config(connect::creation_error(&e, &config.properties)))?;
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
            started: Instant::now(),
            connect_timeout,
        })
    }

    /// Polls up to a batch of records (or `max_wait`), by partition.
    fn poll(&mut self) -> Result<BTreeMap<Partition, Vec<Polled>>, SourceError> {
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

    /// --available-now: once assigned, where each partition ends now.
    fn available_now_ends(&mut self) -> Result<(), SourceError> {
        if self.end.is_some() {
            return Ok(());
        }
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| SourceError::Config(format!("kafka: {e}")))?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = self
            .consumer
            .committed_offsets(assignment.clone(), self.connect_timeout)
            .unwrap_or(assignment.clone());
        let mut ends = HashMap::new();
        let mut starts = HashMap::new();
        for e in committed.elements() {
            let partition = (e.topic().to_string(), e.partition());
            let (low, high) = self
                .consumer
                .fetch_watermarks(e.topic(), e.partition(), self.connect_timeout)
                .map_err(|err| {
                    SourceError::Config(format!(
                        "kafka: cannot read the end offsets of {}/{}: {err}",
                        e.topic(),
                        e.partition()
                    ))
                })?;
            let start = match (self.positions.get(&partition), e.offset()) {
                (Some(&resumed), _) => resumed,
                (None, Offset::Offset(o)) => o,
                _ => low,
            };
            ends.insert(partition.clone(), high);
            starts.insert(partition, start);
        }
        tracing::info!(ends = ?ends, "--available-now: reading up to these end offsets.");
        self.end = Some(AvailableNow {
            ends,
            starts,
            last_record: Instant::now(),
        });
        Ok(())
    }

    /// Whether an --available-now run has read everything there was at its start.
    fn reached_end(&self) -> bool {
        let Some(end) = &self.end else { return false };
        let reached = end.ends.iter().all(|(p, high)| {
            let start = end.starts.get(p).copied().unwrap_or(0);
            let read = self.positions.get(p).copied().unwrap_or(0);
            start.max(read) >= *high
        });
        reached && end.last_record.elapsed() >= IDLE_END
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
                })
                .collect(),
        };
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

impl KafkaSource {
    /// Decodes a partition's polled records into a batch waiting to be emitted.
    fn queue(&mut self, partition: Partition, records: Vec<Polled>) -> Result<(), SourceError> {
        let first = records.first().expect("a partition polled has records");
        let last = records.last().expect("a partition polled has records");
        let range = (first.meta.offset, last.meta.offset);
        let batch = self.decode(&partition, records)?;
        self.queued.push_back((partition, range, batch));
        Ok(())
    }

    /// The next batch of a replayed epoch: exactly the records the mark
    /// says, of its partition, polling (and holding others') until they
    /// are all here. After the last one, what is held is queued as usual.
    fn next_replayed(&mut self) -> Result<SourceBatch, SourceError> {
        let mark = *self.replay.front().expect("called during a replay");
        let partition = self
            .watermark_ids
            .iter()
            .find(|(_, id)| **id == mark.partition)
            .map(|(p, _)| p.clone())
            .ok_or_else(|| {
                SourceError::Restore(format!(
                    "the replayed epoch names partition id {} that its start position lacks",
                    mark.partition
                ))
            })?;
        while self.held.get(&partition).map_or(0, VecDeque::len) < mark.records as usize {
            if self.mode.stop.load(Ordering::Relaxed) {
                return Err(SourceError::Restore(
                    "stopped before the replayed epoch was read again".to_string(),
                ));
            }
            for (p, records) in self.poll()? {
                self.held.entry(p).or_default().extend(records);
            }
        }
        self.replay.pop_front();
        let records: Vec<Polled> = self
            .held
            .get_mut(&partition)
            .expect("checked above")
            .drain(..mark.records as usize)
            .collect();
        let range = (
            records.first().map_or(0, |r| r.meta.offset),
            records.last().map_or(0, |r| r.meta.offset),
        );
        let batch = self.decode(&partition, records)?;
        if self.replay.is_empty() {
            let mut held: Vec<_> = std::mem::take(&mut self.held).into_iter().collect();
            held.sort_by(|a, b| a.0.cmp(&b.0));
            for (p, records) in held {
                if !records.is_empty() {
                    self.queue(p, records.into())?;
                }
            }
        }
        Ok(self.emit(partition, range, batch))
    }

    /// Hands a batch to the pipeline: its offsets are now emitted.
    fn emit(
        &mut self,
        partition: Partition,
        (first, last): (i64, i64),
        batch: SourceBatch,
    ) -> SourceBatch {
        self.offsets
            .lock()
            .expect("not poisoned")
            .emit(partition.clone(), last);
        self.first.entry(partition.clone()).or_insert(first);
        self.positions.insert(partition, last + 1);
        if let Some(end) = &mut self.end {
            end.last_record = Instant::now();
        }
        batch
    }
}

impl Drop for KafkaSource {
    /// Leaving the group revokes every partition: from then on only what
    /// was written is committed (a run that failed wrote nothing since).
    fn drop(&mut self) {
        self.offsets.lock().expect("not poisoned").leaving = true;
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

/// Fails with a clear message if the brokers cannot be reached within
/// `timeout`, or a named topic does not exist. The topics to describe the run.
fn check_topics(
    consumer: &BaseConsumer<GroupContext>,
    config: &KafkaSourceConfig,
    timeout: Duration,
) -> Result<Vec<String>, SourceError> {
    let metadata = connect::metadata(consumer, &config.brokers, &config.properties, timeout)?;
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

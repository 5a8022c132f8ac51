//! A reference table kept from a compacted Kafka topic read as a changelog:
//! the latest value of each record key, a null value (a tombstone) deleting
//! it, as Kafka Streams' KTable and Flink's upsert-kafka keep one. The join
//! key is read from the value's columns. The table moves forward only
//! between epochs, to offsets each checkpoint records, so a replayed epoch
//! joins against exactly the table its first run saw.

use super::reference::Probe;
use super::table::{FastMap, live, row_converter, table_key_converter};
use crate::capability::ConnectionSpec;
use crate::capability::kafka::security;
use crate::config::join::TableFormat;
use crate::config::kafka::{KafkaFormat, KafkaSourceConfig};
use crate::operator::DeadLetter;
use crate::source::kafka::decode::RecordDecoder;
use crate::source::kafka::metadata::{self, Meta};
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{OwnedRow, Row, RowConverter};
use rdkafka::Offset;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::TopicPartitionList;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// How long reading the topic to its end (at start, or to a checkpoint's
/// offsets at a restart) may take before the run fails.
const CATCH_UP: Duration = Duration::from_secs(60);

/// One record read from the topic and not yet applied.
struct Record {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
}

pub struct ChangelogTable {
    stage: String,
    topic: String,
    consumer: BaseConsumer,
    partitions: Vec<i32>,
    decoder: RecordDecoder,
    /// The value's columns (the decoder adds Kafka's metadata after them).
    schema: SchemaRef,
    keys: Vec<String>,
    key_encoder: RowConverter,
    value_encoder: RowConverter,
    /// Each record key's join key, so a tombstone finds the row it deletes.
    by_record: HashMap<Vec<u8>, Box<[u8]>>,
    rows: FastMap<Box<[u8]>, OwnedRow>,
    /// Per partition, the next offset the table has not applied.
    applied: BTreeMap<i32, i64>,
    /// Records read past a checkpoint's offsets at a restart: the next
    /// epoch's, applied at the next advance.
    pending: Vec<Record>,
    /// Records refused since the last batch, for the dead-letter.
    pub letters: Vec<DeadLetter>,
}

impl ChangelogTable {
    /// Reads the topic from its beginning to its end.
    pub fn open(
        stage: &str,
        spec: &ConnectionSpec,
        topic: &str,
        format: TableFormat,
        schema: Option<&str>,
        keys: &[String],
    ) -> Result<Self, String> {
        let brokers = spec.brokers()?;
        let mut client = ClientConfig::new();
        client
            .set("bootstrap.servers", brokers)
            .set("group.id", format!("weir-changelog-{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true");
        for (key, value) in &spec.properties {
            client.set(key, value);
        }
        let consumer: BaseConsumer = client
            .create()
            .map_err(|e| security::creation_error(&e, &spec.properties))?;
        let metadata = consumer
            .fetch_metadata(Some(topic), CATCH_UP)
            .map_err(|e| format!("cannot describe topic {topic} on {brokers}: {e}"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(format!("topic {topic} does not exist on {brokers}"));
        }
        let source = KafkaSourceConfig {
            brokers: brokers.to_string(),
            topics: vec![topic.to_string()],
            topic_pattern: None,
            group: String::new(),
            start: "earliest".to_string(),
            format: match format {
                TableFormat::Avro => KafkaFormat::Avro,
                _ => KafkaFormat::Json,
            },
            schema: schema.map(str::to_string),
            delimiter: ',',
            registry: spec.registry.clone(),
            batch_size: 8192,
            max_wait_ms: 0,
            connect_timeout_ms: CATCH_UP.as_millis() as u64,
            include_headers: false,
            properties: spec.properties.clone(),
        };
        let decoder =
            RecordDecoder::new(&source, &[topic.to_string()]).map_err(|e| e.to_string())?;
        let all = decoder.schema();
        let values = all.fields().len() - metadata::fields(false).len();
        let schema = std::sync::Arc::new(
            all.project(&(0..values).collect::<Vec<_>>())
                .map_err(|e| e.to_string())?,
        );
        let key_encoder = table_key_converter(&schema, keys)?;
        let value_encoder = row_converter(&schema)?;
        let mut table = ChangelogTable {
            stage: stage.to_string(),
            topic: topic.to_string(),
            consumer,
            partitions,
            decoder,
            schema,
            keys: keys.to_vec(),
            key_encoder,
            value_encoder,
            by_record: HashMap::new(),
            rows: FastMap::default(),
            applied: BTreeMap::new(),
            pending: Vec::new(),
            letters: Vec::new(),
        };
        table.read_to(None)?;
        Ok(table)
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The offsets the table stands at, as a checkpoint keeps them.
    pub fn offsets(&self) -> &BTreeMap<i32, i64> {
        &self.applied
    }

    /// Applies what the topic gained since: between epochs, never during one.
    pub fn advance(&mut self) -> Result<(), String> {
        let mut records = std::mem::take(&mut self.pending);
        while let Some(polled) = self.consumer.poll(Duration::ZERO) {
            match polled {
                Ok(m) => records.push(record(&m)),
                Err(KafkaError::PartitionEOF(_)) => {}
                Err(e) => {
                    tracing::warn!(stage = %self.stage, topic = %self.topic, error = %e, "Cannot read the changelog topic; the table stays as it is.");
                    break;
                }
            }
        }
        self.apply(records)
    }

    /// Forgets the table and reads the topic again from its beginning up
    /// to `offsets` (a checkpoint's), or to its end.
    pub fn read_to(&mut self, offsets: Option<&BTreeMap<i32, i64>>) -> Result<(), String> {
        self.by_record.clear();
        self.rows.clear();
        self.applied.clear();
        self.pending.clear();
        let mut assignment = TopicPartitionList::new();
        for &p in &self.partitions {
            assignment
                .add_partition_offset(&self.topic, p, Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| format!("cannot read topic {}: {e}", self.topic))?;
        // A partition the checkpoint has no offset for had applied nothing.
        let wanted = |p: i32| offsets.map(|o| o.get(&p).copied().unwrap_or(0));
        let mut done: Vec<i32> = self
            .partitions
            .iter()
            .copied()
            .filter(|&p| wanted(p) == Some(0))
            .collect();
        let mut records = Vec::new();
        let deadline = Instant::now() + CATCH_UP;
        while done.len() < self.partitions.len() {
            if Instant::now() > deadline {
                return Err(format!(
                    "could not read topic {} to {} within {} s",
                    self.topic,
                    if offsets.is_some() {
                        "the checkpoint's offsets"
                    } else {
                        "its end"
                    },
                    CATCH_UP.as_secs()
                ));
            }
            match self.consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) if !done.contains(&p) => {
                    if let Some(want) = wanted(p) {
                        tracing::warn!(stage = %self.stage, topic = %self.topic, partition = p, checkpoint = want, "The changelog topic ends before the checkpoint's offset; the table holds what it has.");
                    }
                    done.push(p);
                }
                Some(Err(KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => return Err(format!("cannot read topic {}: {e}", self.topic)),
                Some(Ok(m)) => {
                    let (p, offset) = (m.partition(), m.offset());
                    if done.contains(&p) {
                        // Past a checkpoint's offset: the next epoch's.
                        records.push(record(&m));
                        continue;
                    }
                    match wanted(p) {
                        Some(want) if offset >= want => {
                            done.push(p);
                            records.push(record(&m));
                            continue;
                        }
                        Some(want) if offset + 1 >= want => done.push(p),
                        _ => {}
                    }
                    records.push(record(&m));
                }
            }
        }
        let (now, later): (Vec<Record>, Vec<Record>) = records
            .into_iter()
            .partition(|r| wanted(r.partition).is_none_or(|want| r.offset < want));
        self.apply(now)?;
        if let Some(offsets) = offsets {
            self.applied = offsets.clone();
        }
        // Records read past the checkpoint came after it on the first run
        // too: they are applied where it applied them, at the next advance.
        self.pending = later;
        Ok(())
    }

    /// Applies records in offset order per partition: puts and tombstones.
    fn apply(&mut self, records: Vec<Record>) -> Result<(), String> {
        let mut by_partition: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
        for r in records {
            by_partition.entry(r.partition).or_default().push(r);
        }
        for (partition, records) in by_partition {
            let origin = format!("{}/{partition}", self.topic);
            let puts: Vec<&Record> = records
                .iter()
                .filter(|r| r.value.is_some() && r.key.is_some())
                .collect();
            let meta: Vec<Meta> = puts
                .iter()
                .map(|r| Meta {
                    key: r.key.clone(),
                    offset: r.offset,
                    timestamp: None,
                    headers: Vec::new(),
                })
                .collect();
            let decoded = self
                .decoder
                .decode(
                    &origin,
                    &(self.topic.clone(), partition),
                    puts.iter().map(|r| r.value.clone()).collect(),
                    &meta,
                    partition,
                )
                .map_err(|e| e.to_string())?;
            for mut letter in decoded.rejected {
                letter.stage = self.stage.clone();
                letter.reason = format!("changelog record: {}", letter.reason);
                self.letters.push(letter);
            }
            let values = decoded
                .rows
                .data
                .project(&(0..self.schema.fields().len()).collect::<Vec<_>>())
                .map_err(|e| e.to_string())?;
            let key_columns = super::table::key_columns(&values, &self.keys)?;
            let join_keys = self
                .key_encoder
                .convert_columns(&key_columns)
                .map_err(|e| e.to_string())?;
            let encoded = self
                .value_encoder
                .convert_columns(values.columns())
                .map_err(|e| e.to_string())?;
            let row_of: HashMap<i64, usize> = (0..values.num_rows())
                .map(|i| (decoded.rows.origin(i).1, i))
                .collect();
            for r in &records {
                self.applied.insert(partition, r.offset + 1);
                let Some(key) = &r.key else {
                    self.letters
                        .push(self.letter(&origin, r, "a changelog record needs a key"));
                    continue;
                };
                if r.value.is_none() {
                    if let Some(join_key) = self.by_record.remove(key) {
                        self.rows.remove(&join_key);
                    }
                    continue;
                }
                let Some(&i) = row_of.get(&r.offset) else {
                    continue; // refused by the decoder, dead-lettered above
                };
                if !live(&key_columns, i) {
                    let reason = format!(
                        "changelog record: its value has no {}",
                        self.keys.join(", ")
                    );
                    self.letters.push(self.letter(&origin, r, &reason));
                    continue;
                }
                let join_key: Box<[u8]> = join_keys.row(i).data().into();
                if let Some(old) = self.by_record.insert(key.clone(), join_key.clone())
                    && old != join_key
                {
                    self.rows.remove(&old);
                }
                self.rows.insert(join_key, encoded.row(i).owned());
            }
        }
        Ok(())
    }

    fn letter(&self, origin: &str, r: &Record, reason: &str) -> DeadLetter {
        fn text(b: &Option<Vec<u8>>) -> Option<std::borrow::Cow<'_, str>> {
            b.as_deref().map(String::from_utf8_lossy)
        }
        DeadLetter {
            stage: self.stage.clone(),
            reason: reason.to_string(),
            source: origin.to_string(),
            offset: r.offset,
            input: serde_json::json!({ "key": text(&r.key), "value": text(&r.value) }),
        }
    }

    /// The table row of each row of `keys`.
    pub fn probe(&self, keys: &[ArrayRef]) -> Result<Probe, String> {
        let n = keys.first().map_or(0, |k| k.len());
        let encoded = self
            .key_encoder
            .convert_columns(keys)
            .map_err(|e| e.to_string())?;
        let mut picked: Vec<Row<'_>> = Vec::new();
        let matches = (0..n)
            .map(|row| {
                let found = live(keys, row)
                    .then(|| self.rows.get(encoded.row(row).data()))
                    .flatten()?;
                picked.push(found.row());
                Some((picked.len() - 1) as u32)
            })
            .collect();
        let columns = self
            .value_encoder
            .convert_rows(picked)
            .map_err(|e| e.to_string())?;
        let rows = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())?;
        Ok(Probe {
            rows,
            matches,
            waited: std::time::Duration::ZERO,
        })
    }
}

fn record(m: &rdkafka::message::BorrowedMessage<'_>) -> Record {
    Record {
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        value: m.payload().map(<[u8]>::to_vec),
    }
}

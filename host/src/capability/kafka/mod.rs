//! The `kafka` capability: the Kafka connections a pipeline grants a sink
//! (`kafka://host:port,...`), through rdkafka's idempotent producer. The
//! host encodes each row of the batch in flight as one record (JSON,
//! Confluent-framed Avro through the connection's registry, or one column
//! as it is), with its key and headers from columns. A sink may make a
//! connection transactional (exactly-once): one transaction per epoch,
//! with the epoch's marker in it (`epochs`).

pub mod epochs;
pub mod producer;
pub mod security;

use super::connect::ConnectError;
use super::grants::{Grants, Outage};
use super::{ConnectionSpec, rows};
use crate::avro::{AvroEncoder, Registry};
use crate::config::kafka::RegistryConfig;
use crate::contract::sink::weir::plugin::kafka::{self, TopicOptions, ValueFormat};
use crate::contract::wit::Rejection;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use producer::{KafkaProducer, TransactionError};
use wasmtime::component::{HasData, Linker};

struct Granted {
    producer: KafkaProducer,
    registry: Option<RegistryConfig>,
    outage: Outage,
    brokers: String,
    properties: std::collections::BTreeMap<String, String>,
    /// A transaction is open (an exactly-once sink's epoch is being written).
    in_transaction: bool,
    /// Another producer of the same transactional id took over: this
    /// connection is done, and the run stops (a retry would fence it back).
    fenced: Option<String>,
}

impl Granted {
    /// Notes a failed transaction call: fenced stops the run for good.
    fn note(&mut self, result: Result<(), TransactionError>) -> Result<(), String> {
        result.map_err(|e| {
            if e.fenced {
                self.fenced = Some(e.message.clone());
            }
            self.failed(e.message)
        })
    }

    /// A call failed with `message`: if the producer failed for good (it
    /// was fenced), that is the connection's end, noted so the run stops.
    fn failed(&mut self, message: String) -> String {
        if self.fenced.is_none()
            && let Some(fatal) = self.producer.fatal()
        {
            self.fenced = Some(fatal);
        }
        message
    }
}

impl super::grants::Connection for Granted {
    fn lost(&self) -> Option<&str> {
        self.outage.reason()
    }
}

/// A topic a sink produces to, and how its records are made.
struct Topic {
    connection: String,
    name: String,
    format: ValueFormat,
    /// The value's columns (`None`: all).
    values: Option<Vec<usize>>,
    key: Option<usize>,
    headers: Vec<(String, usize)>,
    avro: Option<AvroEncoder>,
}

/// The Kafka connections of one sink and the topics it opened.
pub struct Kafka {
    /// The rows the sink receives: Avro schemas and JSON are made from it.
    input: SchemaRef,
    connections: Grants<Granted>,
    topics: Vec<Topic>,
}

/// What the capability sees during a call: the sink's connections and the
/// batch being written (none outside `write`).
pub struct KafkaView<'a> {
    pub kafka: &'a mut Kafka,
    pub batch: Option<&'a RecordBatch>,
}

struct KafkaData;
impl HasData for KafkaData {
    type Data<'a> = KafkaView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> KafkaView<'_>,
) -> wasmtime::Result<()> {
    kafka::add_to_linker::<T, KafkaData>(linker, get)
}

impl Kafka {
    /// Makes a producer per connection (librdkafka connects in the
    /// background; a broker that cannot be reached fails the flush).
    pub fn connect(
        sink: &str,
        specs: &[ConnectionSpec],
        input: SchemaRef,
    ) -> Result<Self, ConnectError> {
        let connections = Grants::connect(sink, specs, |spec| {
            let brokers = spec.brokers().map_err(|e| ConnectError::refused(spec, e))?;
            let producer = KafkaProducer::new(brokers, &spec.properties)
                .map_err(|e| ConnectError::refused(spec, e))?;
            Ok(Granted {
                producer,
                registry: spec.registry.clone(),
                outage: Outage::default(),
                brokers: brokers.to_string(),
                properties: spec.properties.clone(),
                in_transaction: false,
                fenced: None,
            })
        })?;
        Ok(Kafka {
            input,
            connections,
            topics: Vec::new(),
        })
    }

    /// Why a connection was lost, if one was: the brokers are unreachable.
    pub fn outage(&self) -> Option<String> {
        self.connections.outage()
    }

    /// Why a transactional connection cannot go on, if it cannot: another
    /// producer of its transactional id fenced it.
    pub fn fenced(&self) -> Option<String> {
        let mut connections = self.connections.values();
        connections.find_map(|c| c.fenced.clone())
    }

    /// Aborts the open transactions (the epoch is dropped), whatever the
    /// sink did: records of an aborted transaction are never read.
    pub fn abort_all(&mut self) {
        for granted in self.connections.values_mut() {
            if std::mem::take(&mut granted.in_transaction) {
                let result = granted.producer.abort();
                if let Err(e) = granted.note(result) {
                    tracing::warn!(reason = %e, "Could not abort a Kafka transaction; its records are never committed.");
                }
            }
        }
    }

    fn granted(&self, name: &str) -> Result<&Granted, String> {
        self.connections.get_ref(name)
    }

    fn column(&self, index: u32) -> Result<usize, String> {
        let n = self.input.fields().len();
        if (index as usize) < n {
            Ok(index as usize)
        } else {
            Err(format!(
                "column {index} does not exist: the rows have {n} columns"
            ))
        }
    }
}

/// A column's values as record bytes: bytes as they are, anything else as
/// its text.
fn bytes_of(array: &ArrayRef, row: usize) -> Result<Option<Vec<u8>>, String> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
        DataType::LargeBinary => array.as_binary::<i64>().value(row).to_vec(),
        DataType::Utf8 => array.as_string::<i32>().value(row).as_bytes().to_vec(),
        _ => ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
            .map_err(|e| e.to_string())?
            .value(row)
            .to_string()
            .into_bytes(),
    }))
}

impl Topic {
    /// One value per row of `rows` (the rows of the batch, selected).
    fn values(&mut self, rows: &RecordBatch) -> Result<Vec<Vec<u8>>, String> {
        let rows = match &self.values {
            Some(columns) => rows.project(columns).map_err(|e| e.to_string())?,
            None => rows.clone(),
        };
        Ok(match self.format {
            ValueFormat::Avro => self
                .avro
                .as_mut()
                .expect("an Avro topic has its encoder")
                .encode(&rows)?,
            ValueFormat::Json => super::json::rows_as_json(&rows)
                .iter()
                .map(|row| row.to_string().into_bytes())
                .collect(),
            ValueFormat::Raw => {
                let column = rows.column(0);
                (0..rows.num_rows())
                    .map(|row| bytes_of(column, row).map(Option::unwrap_or_default))
                    .collect::<Result<_, _>>()?
            }
        })
    }
}

impl kafka::Host for KafkaView<'_> {
    fn open_topic(&mut self, connection: String, options: TopicOptions) -> Result<u32, String> {
        let kafka = &mut *self.kafka;
        let registry = kafka.granted(&connection)?.registry.clone();
        let values: Option<Vec<usize>> = options
            .values
            .map(|v| v.into_iter().map(|i| kafka.column(i)).collect())
            .transpose()?;
        let key = options.key.map(|k| kafka.column(k)).transpose()?;
        let headers = options
            .headers
            .into_iter()
            .map(|(name, i)| kafka.column(i).map(|i| (name, i)))
            .collect::<Result<_, _>>()?;
        let value_schema = match &values {
            Some(v) => kafka.input.project(v).map_err(|e| e.to_string())?,
            None => kafka.input.as_ref().clone(),
        };
        let avro = match options.format {
            ValueFormat::Avro => {
                let registry = registry.ok_or_else(|| {
                    format!(
                        "Avro records need a schema registry: give connection `{connection}` \
                         registry = {{ url = \"...\" }}"
                    )
                })?;
                let registry = Registry::new(&registry).map_err(|e| e.to_string())?;
                let subject = format!("{}-value", options.topic);
                Some(
                    AvroEncoder::new(&registry, &subject, &value_schema)
                        .map_err(|e| e.to_string())?,
                )
            }
            ValueFormat::Raw if value_schema.fields().len() != 1 => {
                return Err(format!(
                    "raw records take their value from one column, not {}",
                    value_schema.fields().len()
                ));
            }
            _ => None,
        };
        kafka.topics.push(Topic {
            connection,
            name: options.topic,
            format: options.format,
            values,
            key,
            headers,
            avro,
        });
        Ok(kafka.topics.len() as u32 - 1)
    }

    fn produce(&mut self, topic: u32, rows: Option<Vec<u32>>) -> Result<Vec<Rejection>, String> {
        let batch = rows::in_flight(self.batch, "records can only be produced")?;
        let kafka = &mut *self.kafka;
        let topic = kafka
            .topics
            .get_mut(topic as usize)
            .ok_or_else(|| format!("there is no open topic {topic}"))?;
        let every = rows.is_none();
        let rows = rows::named(batch, rows)?;
        let selected = rows::select(batch, (!every).then_some(rows.as_slice()), None)?;
        let values = topic.values(&selected)?;
        let granted = kafka.connections.get(&topic.connection)?;
        let producer = &granted.producer;
        let mut rejections = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let key = topic
                .key
                .map(|k| bytes_of(selected.column(k), i))
                .transpose()?
                .flatten();
            let mut headers = Vec::with_capacity(topic.headers.len());
            for (name, column) in &topic.headers {
                if let Some(v) = bytes_of(selected.column(*column), i)? {
                    headers.push((name.as_str(), v));
                }
            }
            let headers: Vec<(&str, &[u8])> =
                headers.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            if let Err(reason) = producer.send(&topic.name, key.as_deref(), value, &headers) {
                // A producer that failed for good refuses every record: that
                // is the connection's failure, not this row's.
                if let Some(fatal) = producer.fatal() {
                    return Err(granted.failed(fatal));
                }
                rejections.push(Rejection {
                    row: rows[i],
                    reason,
                });
            }
        }
        Ok(rejections)
    }

    fn flush(&mut self, connection: String) -> Result<(), String> {
        let granted = self.kafka.connections.get(&connection)?;
        let result = granted.producer.flush();
        granted
            .outage
            .note(result, |e| e.unreachable)
            .map_err(|e| e.message)
    }

    fn transactions(&mut self, connection: String, id: String) -> Result<Option<u64>, String> {
        let granted = self.kafka.connections.get(&connection)?;
        if granted.producer.transactional_id().is_some() {
            return Err(format!(
                "connection `{connection}` is transactional already"
            ));
        }
        granted.producer =
            KafkaProducer::transactional(&granted.brokers, &granted.properties, &id)?;
        epochs::committed(&granted.brokers, &granted.properties, &id)
    }

    fn begin(&mut self, connection: String) -> Result<(), String> {
        let granted = self.kafka.connections.get(&connection)?;
        if granted.in_transaction {
            return Err("a transaction is open already".to_string());
        }
        let result = granted.producer.begin();
        granted.note(result)?;
        granted.in_transaction = true;
        Ok(())
    }

    fn prepare(&mut self, connection: String, epoch: u64) -> Result<(), String> {
        let granted = self.kafka.connections.get(&connection)?;
        let Some(id) = granted.producer.transactional_id() else {
            return Err(format!("connection `{connection}` is not transactional"));
        };
        if !granted.in_transaction {
            return Err("no transaction is open".to_string());
        }
        let sent = granted.producer.send(
            epochs::TOPIC,
            Some(id.as_bytes()),
            &epochs::marker(epoch),
            &[],
        );
        if let Err(e) = sent {
            return Err(granted.failed(e));
        }
        let result = granted.producer.flush();
        let result = granted.outage.note(result, |e| e.unreachable);
        result.map_err(|e| granted.failed(e.message))
    }

    fn commit(&mut self, connection: String) -> Result<(), String> {
        let granted = self.kafka.connections.get(&connection)?;
        if !std::mem::take(&mut granted.in_transaction) {
            return Err("no transaction is open".to_string());
        }
        let result = granted.producer.commit();
        granted.note(result)
    }

    fn abort(&mut self, connection: String) {
        if let Ok(granted) = self.kafka.connections.get(&connection)
            && std::mem::take(&mut granted.in_transaction)
        {
            let result = granted.producer.abort();
            if let Err(e) = granted.note(result) {
                tracing::warn!(reason = %e, "Could not abort a Kafka transaction; its records are never committed.");
            }
        }
    }
}

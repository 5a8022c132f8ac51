//! The `kafka` capability: the Kafka connections a pipeline grants a sink
//! (`kafka://host:port,...`), through rdkafka's idempotent producer. The
//! host encodes each row of the batch in flight as one record (JSON,
//! Confluent-framed Avro through the connection's registry, or one column
//! as it is), with its key and headers from columns.

pub mod producer;

use super::ConnectionSpec;
use crate::avro::{AvroEncoder, Registry};
use crate::config::kafka::RegistryConfig;
use crate::contract::sink::weir::plugin::kafka::{self, TopicOptions, ValueFormat};
use crate::contract::wit::Rejection;
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use producer::KafkaProducer;
use std::collections::BTreeMap;
use wasmtime::component::{HasData, Linker};

struct Granted {
    producer: KafkaProducer,
    registry: Option<RegistryConfig>,
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
    sink: String,
    /// The rows the sink receives: Avro schemas and JSON are made from it.
    input: SchemaRef,
    connections: BTreeMap<String, Granted>,
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
    pub fn connect(sink: &str, specs: &[ConnectionSpec], input: SchemaRef) -> Result<Self, String> {
        let mut connections = BTreeMap::new();
        for spec in specs {
            let brokers = spec
                .url
                .strip_prefix("kafka://")
                .map(|b| b.trim_end_matches('/'))
                .filter(|b| !b.is_empty())
                .ok_or_else(|| {
                    format!(
                        "connection `{}`: a Kafka URL is kafka://host:port[,host:port...], not {:?}",
                        spec.name, spec.url
                    )
                })?;
            let producer = KafkaProducer::new(brokers, &spec.properties)
                .map_err(|e| format!("connection `{}`: {e}", spec.name))?;
            connections.insert(
                spec.name.clone(),
                Granted {
                    producer,
                    registry: spec.registry.clone(),
                },
            );
        }
        Ok(Kafka {
            sink: sink.to_string(),
            input,
            connections,
            topics: Vec::new(),
        })
    }

    fn granted(&self, name: &str) -> Result<&Granted, String> {
        self.connections
            .get(name)
            .ok_or_else(|| super::not_granted(&self.sink, name, self.connections.keys()))
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
        let batch = self
            .batch
            .ok_or("records can only be produced during `write`")?;
        let kafka = &mut *self.kafka;
        let topic = kafka
            .topics
            .get_mut(topic as usize)
            .ok_or_else(|| format!("there is no open topic {topic}"))?;
        let n = batch.num_rows() as u32;
        let rows: Vec<u32> = match rows {
            None => (0..n).collect(),
            Some(rows) => {
                if let Some(bad) = rows.iter().find(|&&r| r >= n) {
                    return Err(format!("row {bad} does not exist: the batch has {n} rows"));
                }
                rows
            }
        };
        let selected = if rows.len() == n as usize {
            batch.clone()
        } else {
            take_record_batch(batch, &UInt32Array::from(rows.clone())).map_err(|e| e.to_string())?
        };
        let values = topic.values(&selected)?;
        let producer = &kafka.connections[&topic.connection].producer;
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
                rejections.push(Rejection {
                    row: rows[i],
                    reason,
                });
            }
        }
        Ok(rejections)
    }

    fn flush(&mut self, connection: String) -> Result<(), String> {
        self.kafka.granted(&connection)?.producer.flush()
    }
}

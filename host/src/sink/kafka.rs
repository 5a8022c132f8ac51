//! The native Kafka sink: each row a record, as Confluent-framed Avro (the
//! schema registered under `<topic>-value`), JSON, or the text of a `value`
//! column; the record key from a column. Written means acknowledged: `flush`
//! waits for the broker.

use super::SinkError;
use crate::avro::{AvroEncoder, Registry};
use crate::config::kafka::{KafkaSinkConfig, KafkaSinkFormat};
use crate::kafka::producer::KafkaProducer;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

pub struct KafkaSink {
    name: String,
    producer: KafkaProducer,
    format: KafkaSinkFormat,
    avro: Option<AvroEncoder>,
    key: Option<usize>,
}

impl KafkaSink {
    pub fn open(config: &KafkaSinkConfig, schema: &Schema) -> Result<Self, SinkError> {
        let fail = |message: String| SinkError::Config {
            sink: config.name.clone(),
            message,
        };
        check(config, schema).map_err(fail)?;
        let key = config
            .key
            .as_ref()
            .map(|k| schema.index_of(k).expect("checked"));
        let avro = match config.format {
            KafkaSinkFormat::Avro => {
                let registry = Registry::new(config.registry.as_ref().expect("checked"))
                    .map_err(|e| fail(e.to_string()))?;
                let subject = format!("{}-value", config.topic);
                Some(
                    AvroEncoder::new(&registry, &subject, schema)
                        .map_err(|e| fail(e.to_string()))?,
                )
            }
            _ => None,
        };
        let producer =
            KafkaProducer::new(&config.brokers, &config.topic, &config.properties).map_err(fail)?;
        Ok(KafkaSink {
            name: config.name.clone(),
            producer,
            format: config.format,
            avro,
            key,
        })
    }
}

/// What the sink needs of the rows, checked at load time.
pub fn check(config: &KafkaSinkConfig, schema: &Schema) -> Result<(), String> {
    if let Some(key) = &config.key
        && schema.index_of(key).is_err()
    {
        return Err(format!("key column `{key}` is not in the rows"));
    }
    match config.format {
        KafkaSinkFormat::Avro if config.registry.is_none() => {
            Err("the avro format needs registry = { url = ... }".to_string())
        }
        KafkaSinkFormat::Text => match schema.field_with_name("value") {
            Ok(f) if f.data_type() == &DataType::Utf8 => Ok(()),
            _ => Err(
                "the text format writes a `value` column of text; the rows have none".to_string(),
            ),
        },
        _ => Ok(()),
    }
}

impl KafkaSink {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Hands every row to the producer; an error fails the batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), String> {
        let fail = |message: String| message;
        let values: Vec<Vec<u8>> = match self.format {
            KafkaSinkFormat::Avro => self
                .avro
                .as_mut()
                .expect("opened with an encoder")
                .encode(batch)
                .map_err(fail)?,
            KafkaSinkFormat::Json => crate::dead_letter::rows_as_json(batch)
                .iter()
                .map(|row| row.to_string().into_bytes())
                .collect(),
            KafkaSinkFormat::Text => {
                let column = batch
                    .column_by_name("value")
                    .expect("checked")
                    .as_string::<i32>();
                (0..column.len())
                    .map(|i| column.value(i).as_bytes().to_vec())
                    .collect()
            }
        };
        let keys = match self.key {
            Some(i) => {
                let formatter =
                    ArrayFormatter::try_new(batch.column(i).as_ref(), &FormatOptions::default())
                        .map_err(|e| fail(e.to_string()))?;
                (0..batch.num_rows())
                    .map(|row| {
                        batch
                            .column(i)
                            .is_valid(row)
                            .then(|| formatter.value(row).to_string())
                    })
                    .collect()
            }
            None => vec![None; batch.num_rows()],
        };
        for (value, key) in values.iter().zip(&keys) {
            self.producer
                .send(key.as_deref().map(str::as_bytes), value, &[])
                .map_err(fail)?;
        }
        Ok(())
    }

    /// Returns once the broker has acknowledged every record sent.
    pub fn flush(&mut self) -> Result<(), String> {
        self.producer.flush()
    }
}

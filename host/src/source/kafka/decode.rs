//! Record values to rows, by format: `lines`, `csv` and `json` reuse the
//! text decoders of the files source, `raw` keeps the bytes, `avro` goes
//! through the schema registry. A record refused goes to the dead-letter
//! with its topic/partition (`source`), offset, key and value.

use super::metadata::{self, Meta};
use super::offsets::Partition;
use crate::avro::Registry;
use crate::config::FileFormat;
use crate::config::ddl;
use crate::config::kafka::{KafkaFormat, KafkaSourceConfig};
use crate::envelope::Envelope;
use crate::operator::DeadLetter;
use crate::source::decode::avro::AvroDecoder;
use crate::source::decode::{Decoder, Line};
use crate::source::{SourceBatch, SourceError};
use arrow::array::{BinaryArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::Arc;

pub enum RecordDecoder {
    Text {
        decoder: Decoder,
        stage: &'static str,
        schema: SchemaRef,
    },
    Raw {
        schema: SchemaRef,
    },
    Avro {
        decoder: Box<AvroDecoder>,
        schema: SchemaRef,
        /// What the compatibility check is run on again before a reload.
        subject: Option<ReaderSubject>,
    },
}

/// The subject whose writer versions the reader schema must read.
pub struct ReaderSubject {
    registry: Arc<Registry>,
    subject: String,
    reader_id: u32,
    reader: String,
}

impl ReaderSubject {
    fn check(&self) -> Result<(), SourceError> {
        crate::avro::compatibility::check_subject(
            &self.registry,
            &self.subject,
            self.reader_id,
            &self.reader,
        )
        .map(drop)
        .map_err(|e| SourceError::Config(format!("avro: {e}")))
    }
}

impl RecordDecoder {
    pub fn new(config: &KafkaSourceConfig, topics: &[String]) -> Result<Self, SourceError> {
        let declared = match &config.schema {
            Some(text) => Some(ddl::parse_schema(text).map_err(SourceError::Config)?),
            None => None,
        };
        let text = |format, stage| {
            let decoder = Decoder::new(format, declared.clone(), config.delimiter);
            let schema = metadata::schema(&decoder.schema(), config.include_headers);
            RecordDecoder::Text {
                decoder,
                stage,
                schema,
            }
        };
        Ok(match config.format {
            KafkaFormat::Lines => text(FileFormat::Lines, "decode:lines"),
            KafkaFormat::Csv => text(FileFormat::Csv, "decode:csv"),
            KafkaFormat::Json => text(FileFormat::Jsonl, "decode:json"),
            KafkaFormat::Raw => RecordDecoder::Raw {
                schema: metadata::schema(
                    &Schema::new(vec![Field::new("value", DataType::Binary, true)]),
                    config.include_headers,
                ),
            },
            KafkaFormat::Avro => {
                let settings = config
                    .registry
                    .as_ref()
                    .expect("validated: avro has a registry");
                let registry = Arc::new(Registry::new(settings).map_err(registry_error)?);
                let subject = match (&settings.subject, topics) {
                    (Some(s), _) => Some(s.clone()),
                    (None, [topic]) => Some(format!("{topic}-value")),
                    (None, _) => None,
                };
                let (id, reader) = match (settings.reader_schema_id, &subject) {
                    (Some(id), _) => (id, registry.schema_by_id(id).map_err(registry_error)?),
                    (None, Some(subject)) => registry.latest(subject).map_err(registry_error)?,
                    (None, None) => return Err(SourceError::Config(
                        "key `source.registry.subject`: with several topics (or a pattern), name the subject whose latest schema rows follow".to_string(),
                    )),
                };
                let subject = subject.map(|subject| ReaderSubject {
                    registry: registry.clone(),
                    subject,
                    reader_id: id,
                    reader: reader.clone(),
                });
                if let Some(subject) = &subject {
                    subject.check()?;
                }
                let decoder = AvroDecoder::new(registry, id, reader, config.batch_size)
                    .map_err(|e| SourceError::Config(format!("avro: {e}")))?;
                let schema = metadata::schema(&decoder.schema(), config.include_headers);
                RecordDecoder::Avro {
                    decoder: Box::new(decoder),
                    schema,
                    subject,
                }
            }
        })
    }

    /// Avro: the reader schema can still read every writer version of its
    /// subject (some may have been registered since the start).
    pub fn check_compatibility(&self) -> Result<(), SourceError> {
        match self {
            RecordDecoder::Avro {
                subject: Some(subject),
                ..
            } => subject.check(),
            _ => Ok(()),
        }
    }

    pub fn schema(&self) -> SchemaRef {
        match self {
            RecordDecoder::Text { schema, .. }
            | RecordDecoder::Raw { schema }
            | RecordDecoder::Avro { schema, .. } => schema.clone(),
        }
    }

    /// Decodes the records of one partition (`values` and `meta` in offset order).
    pub fn decode(
        &mut self,
        origin: &str,
        partition: &Partition,
        values: Vec<Option<Vec<u8>>>,
        meta: &[Meta],
        watermark_partition: i32,
    ) -> Result<SourceBatch, SourceError> {
        let schema = self.schema();
        let letter = |stage: &str, i: usize, reason: String, value: serde_json::Value| DeadLetter {
            stage: stage.to_string(),
            reason,
            source: origin.to_string(),
            offset: meta[i].offset,
            input: serde_json::json!({
                "key": meta[i].key.as_deref().map(String::from_utf8_lossy),
                "value": value,
            }),
        };
        let (values_batch, kept, rejected): (RecordBatch, Vec<usize>, Vec<DeadLetter>) = match self
        {
            RecordDecoder::Raw { .. } => {
                let column = BinaryArray::from_iter(values.iter().map(|v| v.as_deref()));
                let batch = RecordBatch::try_new(
                    Arc::new(Schema::new(vec![Field::new(
                        "value",
                        DataType::Binary,
                        true,
                    )])),
                    vec![Arc::new(column)],
                )
                .expect("one binary column");
                (batch, (0..meta.len()).collect(), Vec::new())
            }
            RecordDecoder::Text { decoder, stage, .. } => {
                let source: Arc<str> = Arc::from(origin);
                let mut lines = Vec::with_capacity(values.len());
                let mut index_of = Vec::with_capacity(values.len());
                let mut rejected = Vec::new();
                for (i, value) in values.into_iter().enumerate() {
                    let Some(bytes) = value else {
                        rejected.push(letter(
                            stage,
                            i,
                            "the record has no value (a tombstone)".to_string(),
                            serde_json::Value::Null,
                        ));
                        continue;
                    };
                    let (text, valid_utf8) = match String::from_utf8(bytes) {
                        Ok(t) => (t, true),
                        Err(e) => (String::from_utf8_lossy(e.as_bytes()).into_owned(), false),
                    };
                    index_of.push(i);
                    lines.push(Line {
                        source: source.clone(),
                        offset: lines.len() as i64,
                        text,
                        valid_utf8,
                    });
                }
                let decoded = decoder.decode(lines);
                let kept: Vec<usize> = decoded
                    .origins
                    .iter()
                    .map(|(_, line)| index_of[*line as usize])
                    .collect();
                for d in decoded.rejected {
                    let i = index_of[d.offset as usize];
                    rejected.push(letter(stage, i, d.reason, d.input));
                }
                rejected.sort_by_key(|d| d.offset);
                (decoded.batch, kept, rejected)
            }
            RecordDecoder::Avro { decoder, .. } => {
                let framed: Vec<Option<&[u8]>> = values.iter().map(|v| v.as_deref()).collect();
                let decoded = decoder
                    .decode(&framed)
                    .map_err(|e| SourceError::Config(format!("avro: {e}")))?;
                let rejected = decoded
                    .refused
                    .into_iter()
                    .map(|(i, reason)| {
                        let value = values[i].as_deref().map_or(serde_json::Value::Null, |v| {
                            serde_json::Value::String(hex(v))
                        });
                        letter("decode:avro", i, reason, value)
                    })
                    .collect();
                (decoded.batch, decoded.rows, rejected)
            }
        };
        let kept_meta: Vec<&Meta> = kept.iter().map(|&i| &meta[i]).collect();
        let data = metadata::append(values_batch, partition.1, &kept_meta, &schema);
        let offsets = kept_meta.iter().map(|m| m.offset).collect();
        Ok(SourceBatch {
            rows: Envelope::new(data, vec![origin; kept.len()], offsets),
            rejected,
            partition: watermark_partition,
        })
    }
}

fn registry_error(e: crate::avro::RegistryError) -> SourceError {
    SourceError::Config(format!("avro: {e}"))
}

/// Bytes as hex, for the dead-letter (an Avro body is not text).
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

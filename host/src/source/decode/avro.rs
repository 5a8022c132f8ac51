//! Confluent-framed Avro records (magic byte 0, 4-byte big-endian schema id,
//! Avro body) decoded straight to Arrow by arrow-avro. Writer schemas are
//! fetched from the registry the first time their id is seen and cached;
//! every record is resolved against one reader schema (the subject's latest
//! version at start, or a pinned id), so schema evolution yields one batch
//! schema. A record that cannot be decoded is refused with a reason; a
//! registry that does not answer is an error (the caller waits), never a
//! refusal of good records.

use crate::avro::normalize;
use crate::avro::{Registry, RegistryError};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_avro::reader::{Decoder, ReaderBuilder};
use arrow_avro::schema::{AvroSchema, Fingerprint, FingerprintAlgorithm, SchemaStore};
use std::collections::HashMap;
use std::sync::Arc;

/// One record's value (`None`: a tombstone, a record without value).
pub type Framed<'a> = Option<&'a [u8]>;

/// Past this many refused records in one batch, records are decoded one by
/// one rather than the batch being retried around each refusal.
const RETRIES_PER_BATCH: usize = 4;

pub struct AvroDecoder {
    registry: Arc<Registry>,
    reader_schema: String,
    batch_size: usize,
    /// Writer schemas known to resolve against the reader schema.
    writers: HashMap<u32, String>,
    /// Schema ids that cannot be used, and why.
    refused_ids: HashMap<u32, String>,
    decoder: Decoder,
    /// The decoder's schema, and weir's (see `normalize`).
    decoded_schema: SchemaRef,
    schema: SchemaRef,
}

/// Decoded rows and the records refused (index in the input, reason).
pub struct AvroDecoded {
    pub batch: RecordBatch,
    /// The input index of each row of `batch`.
    pub rows: Vec<usize>,
    pub refused: Vec<(usize, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("the reader schema {0}")]
    ReaderSchema(String),
}

impl AvroDecoder {
    /// A decoder whose rows follow `reader_schema` (Avro JSON), registered as `reader_id`.
    pub fn new(
        registry: Arc<Registry>,
        reader_id: u32,
        reader_schema: String,
        batch_size: usize,
    ) -> Result<AvroDecoder, AvroError> {
        let writers = HashMap::from([(reader_id, reader_schema.clone())]);
        let decoder = build(&reader_schema, &writers, batch_size).map_err(|e| {
            AvroError::ReaderSchema(format!("(id {reader_id}) cannot be used: {e}"))
        })?;
        let decoded_schema = decoder.schema();
        let schema = normalize::schema(&decoded_schema).map_err(AvroError::ReaderSchema)?;
        Ok(AvroDecoder {
            registry,
            reader_schema,
            batch_size,
            writers,
            refused_ids: HashMap::new(),
            decoder,
            decoded_schema,
            schema,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Decodes `records`. Errors only if the registry cannot be reached.
    pub fn decode(&mut self, records: &[Framed<'_>]) -> Result<AvroDecoded, AvroError> {
        let mut refused = Vec::new();
        let mut good = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            match self.check_frame(*record)? {
                Ok(()) => good.push(i),
                Err(reason) => refused.push((i, reason)),
            }
        }
        let mut retries = 0;
        let batches = loop {
            if good.is_empty() {
                break Vec::new();
            }
            match self.decode_run(records, &good) {
                // A record may decode to no row (a body cut short at a
                // batch's end) or to several (records run together): then
                // the batch's rows no longer match its records, and only
                // decoding each record alone tells which is which.
                Ok(batches) if rows(&batches) != good.len() => {
                    self.rebuild();
                    break self.decode_one_by_one(records, &mut good, &mut refused);
                }
                Ok(batches) => break batches,
                Err((at, reason)) => {
                    self.rebuild();
                    refused.push((good.remove(at), reason));
                    retries += 1;
                    if retries > RETRIES_PER_BATCH {
                        break self.decode_one_by_one(records, &mut good, &mut refused);
                    }
                }
            }
        };
        refused.sort_by_key(|(i, _)| *i);
        let batches: Vec<RecordBatch> = batches.iter().map(|b| self.normalize(b)).collect();
        let batch = arrow::compute::concat_batches(&self.schema, &batches)
            .expect("batches follow the reader schema");
        Ok(AvroDecoded {
            batch,
            rows: good,
            refused,
        })
    }

    /// Checks the header and makes sure the writer schema is known.
    fn check_frame(&mut self, record: Framed<'_>) -> Result<Result<(), String>, AvroError> {
        let Some(bytes) = record else {
            return Ok(Err("the record has no value (a tombstone)".to_string()));
        };
        if bytes.len() < 5 {
            return Ok(Err(format!(
                "{} bytes is too short for the Confluent wire format (magic byte and 4-byte schema id)",
                bytes.len()
            )));
        }
        if bytes[0] != 0 {
            return Ok(Err(format!(
                "bad magic byte 0x{:02x}: not the Confluent wire format (0x00, schema id, Avro)",
                bytes[0]
            )));
        }
        let id = u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes"));
        if self.writers.contains_key(&id) {
            return Ok(Ok(()));
        }
        if let Some(reason) = self.refused_ids.get(&id) {
            return Ok(Err(reason.clone()));
        }
        let schema = match self.registry.schema_by_id(id) {
            Ok(schema) => schema,
            Err(RegistryError::NotFound { .. }) => {
                let reason = format!(
                    "unknown schema id {id}: the registry {} has no such schema",
                    self.registry.url()
                );
                self.refused_ids.insert(id, reason.clone());
                return Ok(Err(reason));
            }
            Err(RegistryError::Refused { reason, .. }) => {
                let reason = format!("schema id {id} cannot be used: {reason}");
                self.refused_ids.insert(id, reason.clone());
                return Ok(Err(reason));
            }
            Err(e) => return Err(e.into()),
        };
        let alone = HashMap::from([(id, schema.clone())]);
        if let Err(e) = build(&self.reader_schema, &alone, 1) {
            let reason =
                format!("writer schema id {id} does not resolve to the reader schema: {e}");
            self.refused_ids.insert(id, reason.clone());
            return Ok(Err(reason));
        }
        tracing::info!(
            schema_id = id,
            "A new writer schema; decoding it from now on."
        );
        self.writers.insert(id, schema);
        self.rebuild();
        Ok(Ok(()))
    }

    /// Takes `schema` as writer schema `id` without asking the registry
    /// (the fuzz targets have none), if it resolves to the reader schema.
    pub(crate) fn learn_writer(&mut self, id: u32, schema: String) -> Result<(), String> {
        build(
            &self.reader_schema,
            &HashMap::from([(id, schema.clone())]),
            1,
        )?;
        self.writers.insert(id, schema);
        self.rebuild();
        Ok(())
    }

    fn rebuild(&mut self) {
        self.decoder = build(&self.reader_schema, &self.writers, self.batch_size)
            .expect("every writer schema was checked against the reader schema");
    }

    /// Decodes the records `good` names; on a refusal, its position in `good`.
    fn decode_run(
        &mut self,
        records: &[Framed<'_>],
        good: &[usize],
    ) -> Result<Vec<RecordBatch>, (usize, String)> {
        let mut batches = Vec::new();
        for (at, &i) in good.iter().enumerate() {
            let bytes = records[i].expect("checked");
            feed(&mut self.decoder, bytes, &mut batches).map_err(|reason| (at, reason))?;
        }
        if let Some(batch) = self
            .decoder
            .flush()
            .map_err(|e| (good.len() - 1, e.to_string()))?
        {
            batches.push(batch);
        }
        Ok(batches)
    }

    /// Many refusals in one batch: decode and flush each record alone.
    fn decode_one_by_one(
        &mut self,
        records: &[Framed<'_>],
        good: &mut Vec<usize>,
        refused: &mut Vec<(usize, String)>,
    ) -> Vec<RecordBatch> {
        let mut batches = Vec::new();
        let mut kept = Vec::new();
        for &i in good.iter() {
            let mut one = Vec::new();
            let result =
                feed(&mut self.decoder, records[i].expect("checked"), &mut one).and_then(|()| {
                    self.decoder
                        .flush()
                        .map_err(|e| format!("corrupt Avro: {e}"))
                });
            let result = result.and_then(|last| {
                one.extend(last);
                match rows(&one) {
                    1 => Ok(()),
                    0 => Err("corrupt Avro: the body holds no record".to_string()),
                    n => Err(format!("corrupt Avro: the body holds {n} records, not one")),
                }
            });
            match result {
                Ok(()) => {
                    batches.extend(one);
                    kept.push(i);
                }
                Err(reason) => {
                    self.rebuild();
                    refused.push((i, reason));
                }
            }
        }
        *good = kept;
        batches
    }

    fn normalize(&self, batch: &RecordBatch) -> RecordBatch {
        debug_assert_eq!(
            batch.schema().fields().len(),
            self.decoded_schema.fields().len()
        );
        let columns = batch
            .columns()
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| normalize::array(c, f.data_type()))
            .collect();
        RecordBatch::try_new(self.schema.clone(), columns).expect("normalized to the schema")
    }
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

/// Feeds one whole record, flushing into `batches` when the decoder is full
/// (or switches writer schema, which it does at a batch boundary).
fn feed(decoder: &mut Decoder, bytes: &[u8], batches: &mut Vec<RecordBatch>) -> Result<(), String> {
    let mut at = 0;
    while at < bytes.len() {
        at += decoder
            .decode(&bytes[at..])
            .map_err(|e| format!("corrupt Avro: {e}"))?;
        if at < bytes.len() {
            if decoder.batch_is_full() {
                if let Some(batch) = decoder.flush().map_err(|e| format!("corrupt Avro: {e}"))? {
                    batches.push(batch);
                }
            } else {
                return Err(format!(
                    "corrupt Avro: the body ends early or has trailing bytes ({} of {} bytes decoded)",
                    at,
                    bytes.len()
                ));
            }
        }
    }
    Ok(())
}

fn build(
    reader_schema: &str,
    writers: &HashMap<u32, String>,
    batch_size: usize,
) -> Result<Decoder, String> {
    let mut store = SchemaStore::new_with_type(FingerprintAlgorithm::Id);
    for (id, schema) in writers {
        store
            .set(Fingerprint::Id(*id), AvroSchema::new(schema.clone()))
            .map_err(|e| e.to_string())?;
    }
    ReaderBuilder::new()
        .with_writer_schema_store(store)
        .with_reader_schema(AvroSchema::new(reader_schema.to_string()))
        .with_batch_size(batch_size)
        .build_decoder()
        .map_err(|e| e.to_string())
}

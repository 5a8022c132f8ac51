//! Arrow rows encoded as Confluent-framed Avro records, one per row: the
//! Avro schema is derived from the Arrow schema (arrow-avro), registered
//! under the subject, and its id framed before each body.

use super::registry::{Registry, RegistryError};
use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow_avro::schema::{AvroSchema, FingerprintStrategy};
use arrow_avro::writer::format::AvroSoeFormat;
use arrow_avro::writer::{Encoder, WriterBuilder};

pub struct AvroEncoder {
    encoder: Encoder,
    pub schema_id: u32,
}

impl AvroEncoder {
    /// Registers the Avro form of `schema` under `subject` and prepares to encode.
    pub fn new(registry: &Registry, subject: &str, schema: &Schema) -> Result<Self, RegistryError> {
        let avro = AvroSchema::try_from(schema)
            .map_err(|e| RegistryError::Config(format!("no Avro schema for these rows: {e}")))?;
        let schema_id = registry.register(subject, &avro.json_string)?;
        let encoder = WriterBuilder::new(schema.clone())
            .with_fingerprint_strategy(FingerprintStrategy::Id(schema_id))
            .build_encoder::<AvroSoeFormat>()
            .map_err(|e| RegistryError::Config(format!("cannot encode these rows as Avro: {e}")))?;
        Ok(AvroEncoder { encoder, schema_id })
    }

    /// One framed record per row of `batch`.
    pub fn encode(&mut self, batch: &RecordBatch) -> Result<Vec<Vec<u8>>, String> {
        self.encoder.encode(batch).map_err(|e| e.to_string())?;
        Ok(self
            .encoder
            .flush()
            .iter()
            .map(|row| row.to_vec())
            .collect())
    }
}

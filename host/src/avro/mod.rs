//! Avro with a Confluent-compatible schema registry: the registry client,
//! decoding Confluent-framed records (magic 0, 4-byte schema id) to Arrow,
//! and encoding Arrow rows the same way. Shared by the Kafka source and the
//! Kafka sink.

mod decode;
mod encode;
mod normalize;
mod registry;

pub use decode::{AvroDecoder, Framed};
pub use encode::AvroEncoder;
pub use registry::{Registry, RegistryError};

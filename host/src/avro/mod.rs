//! Avro with a Confluent-compatible schema registry, as the source's
//! decoder and the Kafka capability's encoder share it: the registry client,
//! the Arrow shape of Avro types, encoding Arrow rows Confluent-framed, and
//! checking that a reader schema can read every writer version of a subject.
//! Decoding lives with the other decoders, in `source::decode::avro`.

pub mod compatibility;
mod encode;
pub(crate) mod normalize;
pub(crate) mod registry;

pub use encode::AvroEncoder;
pub use registry::{Registry, RegistryError, Version};

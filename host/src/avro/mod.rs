//! Avro with a Confluent-compatible schema registry, as the source's
//! decoder and the Kafka capability's encoder share it: the registry client,
//! the Arrow shape of Avro types, and encoding Arrow rows Confluent-framed.
//! Decoding lives with the other decoders, in `source::decode::avro`.

mod encode;
pub(crate) mod normalize;
pub(crate) mod registry;

pub use encode::AvroEncoder;
pub use registry::{Registry, RegistryError};

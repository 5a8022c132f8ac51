//! Writing to Kafka: a producer shared by the `kafka` capability (the
//! bundled Kafka sink) and the Kafka dead-letter.

pub mod producer;

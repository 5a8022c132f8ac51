//! Writing to Kafka: a producer shared by the native Kafka sink and the
//! Kafka dead-letter (the bundled Kafka sink component will reuse it).

pub mod producer;

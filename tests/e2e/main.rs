//! End-to-end tests: the built `weir` binary and runtime against real files
//! and real components built from plugins/.

mod avro_registry;
mod boundary;
mod check;
mod checkpoints;
mod cli;
mod console;
mod docs;
mod elt;
mod etl_example;
mod fuzz_corpus;
mod hostile;
mod joins;
mod kafka;
mod kafka_tls;
mod kafka_transactions;
mod kafka_watermark;
mod languages;
mod layering;
mod object_storage;
mod plugin_errors;
mod pressure;
mod reload;
mod resume_files;
mod rows;
mod sandbox;
mod scaffold;
mod sdk;
mod sink_compliance;
mod sink_compliance_cassandra;
mod sink_compliance_kafka;
mod sink_files;
mod sources;
mod students;
mod window_examples;
mod windows;

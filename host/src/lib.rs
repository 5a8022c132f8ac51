//! weir: a stream processor whose transforms and sinks are sandboxed
//! WebAssembly components. This crate is the host: sources, decoders, the
//! plugin runtime, sinks, the dead-letter and the pipeline that joins them.

pub mod admin;
pub mod avro;
pub mod bench;
pub mod capability;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod dead_letter;
pub mod dev;
pub mod envelope;
pub mod kafka;
pub mod pipeline;
pub mod reload;
pub mod runtime;
pub mod scaffold;
pub mod sink;
pub mod source;
pub mod summary;
pub mod watch;
pub mod window;

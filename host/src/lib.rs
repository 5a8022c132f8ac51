//! weir: a stream processor whose transforms and sinks are sandboxed
//! WebAssembly components. This crate is the host: sources, decoders, the
//! plugin runtime, sinks, the dead-letter and the pipeline that joins them.

pub mod bench;
pub mod capability;
pub mod cli;
pub mod config;
pub mod dead_letter;
pub mod envelope;
pub mod pipeline;
pub mod runtime;
pub mod scaffold;
pub mod sink;
pub mod source;
pub mod summary;
pub mod window;

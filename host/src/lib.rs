//! weir: a stream processor whose transforms and sinks are sandboxed
//! WebAssembly components. This crate is the host.
//!
//! Modules, from the top of the layering down (docs/architecture.md): `cli`
//! and `devtools`; `admin`; `pipeline`; the stages `source`, `transform`,
//! `window`, `sink` with `dead_letter`, beside `checkpoint` and `observe`;
//! `runtime` and `capability`; `contract`, `avro`, `envelope` and `config`.

pub(crate) mod admin;
pub mod avro;
pub mod capability;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub(crate) mod contract;
pub mod dead_letter;
pub(crate) mod devtools;
pub(crate) mod envelope;
pub(crate) mod error;
/// Entry points for the fuzz targets (fuzz/) and their corpus replay test.
#[doc(hidden)]
pub mod fuzzing;
pub mod join;
pub(crate) mod observe;
pub mod operator;
pub mod pipeline;
pub mod runtime;
pub mod sink;
pub mod source;
pub mod storage;
pub mod transform;
pub mod window;

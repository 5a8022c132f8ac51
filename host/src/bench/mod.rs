//! Benchmarks behind `weir bench`: speed, measured on release builds, never
//! asserted by tests.

pub mod checkpoint;
pub mod kafka;
pub mod reload;
pub mod sink;
pub mod transform;
pub mod window;

pub use transform::{UPPERCASE_PLUGIN, generate, input_schema, native_uppercase};

/// The process's peak resident memory (VmHWM), in MiB, where Linux reports it.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

//! What a running pipeline tells the people who watch it: the counters of
//! every stage, the status board the admin server reads, the Prometheus
//! rendering of it, and the run summary printed at the end.

pub mod epochs;
pub mod history;
pub mod letters;
pub mod metrics;
pub mod progress;
pub mod status;
pub mod summary;

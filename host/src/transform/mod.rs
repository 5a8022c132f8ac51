//! Transforms as pipeline stages: the slot every transform runs in (its
//! current build, and the one before it while a hot reload is on probation)
//! and the requests that swap a build in.

mod reload;

pub use reload::{PROBATION_BATCHES, ReloadReport, ReloadRequest, TransformSlot};

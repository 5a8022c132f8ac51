//! Transforms as pipeline stages: the slot every transform runs in (its
//! current build, and the one before it while a hot reload is on probation),
//! and the operator that runs a slot on
//! each batch of the pipeline.

mod slot;
mod stage;

pub use slot::TransformSlot;
pub use stage::TransformStage;

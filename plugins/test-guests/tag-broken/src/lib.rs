//! A build of the reload test transform that traps on every batch, for
//! automatic rollback (see ../../tag-v1/src/tag.rs).
const VERSION: &str = "broken";
const BROKEN: bool = true;
include!("../../tag-v1/src/tag.rs");

//! Build v1 of the reload test transform (see tag.rs).
const VERSION: &str = "v1";
const BROKEN: bool = false;
include!("tag.rs");

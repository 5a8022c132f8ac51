//! Build v2 of the reload test transform (see ../../tag-v1/src/tag.rs).
const VERSION: &str = "v2";
const BROKEN: bool = false;
include!("../../tag-v1/src/tag.rs");

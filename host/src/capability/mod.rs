//! Host capabilities a sink imports: the host does the I/O, the sink decides
//! what to write. One module per capability, each with its state type and
//! its own `add_to_linker`; a sink is granted only what its pipeline names.

pub mod files;
pub mod sql;

pub use files::{Files, FilesView};
pub use sql::{ConnectionSpec, Sql, SqlView};

//! Write weir transform plugins in Rust.
//!
//! A transform receives a columnar batch and returns which rows survive, the
//! columns it computed, and the rows it rejects (they go to the dead-letter
//! with the reason). A first transform:
//!
//! ```ignore
//! use weir_sdk::prelude::*;
//!
//! struct Shout;
//!
//! impl Transform for Shout {
//!     fn new(_config: &Config) -> Result<Self, Error> {
//!         Ok(Shout)
//!     }
//!     fn describe(&self, input: &Schema) -> Result<Plan, Error> {
//!         input.require("name")?;
//!         Ok(Plan::new(input.clone()))
//!     }
//!     fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
//!         Ok(batch.map("name", |row| row.utf8("name").map(str::to_uppercase)))
//!     }
//! }
//!
//! export_transform!(Shout);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` as a `cdylib`;
//! the `.wasm` file is the component a pipeline names in `plugin = "..."`.
//! Row views ([`Row`]) are the easy path; typed columns ([`Batch::utf8`],
//! [`Batch::int64`], ...) and builders ([`Utf8Builder`], ...) are the fast one.

mod batch;
mod builder;
mod column;
mod config;
mod export;
pub mod host;
mod output;
mod schema;

pub use batch::{Batch, Row};
pub use builder::{
    BinaryBuilder, BooleanBuilder, Builder, PrimitiveBuilder, Push, Utf8Builder, Value,
};
pub use column::{Binary, Boolean, Column, Decimal128, List, Primitive, Struct, Utf8};
pub use config::Config;
pub use output::{Output, SelectedRows};
pub use schema::{DataType, Field, Plan, Schema, TimeUnit};

/// The names a transform needs, in one import.
pub mod prelude {
    pub use crate::{
        Batch, Config, DataType, Error, Field, Output, Plan, Row, Schema, Transform,
        export_transform,
    };
}

/// A transform plugin. The host creates it with [`Transform::new`], asks it
/// once per input schema what it will output ([`Transform::describe`]), then
/// calls [`Transform::process`] for every batch.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a weir transform",
    label = "this type must implement `weir_sdk::Transform`",
    note = "implement `new`, `describe` and `process`; see the weir_sdk crate docs for a ten-line example"
)]
pub trait Transform: Sized + 'static {
    /// Builds the transform from the `config` table of its pipeline entry.
    fn new(config: &Config) -> Result<Self, Error>;

    /// The output schema (and the input columns it reads) for `input`. Fail
    /// here, naming the column, if the input is not what the transform needs.
    fn describe(&self, input: &Schema) -> Result<Plan, Error>;

    /// Processes one batch.
    fn process(&mut self, batch: &Batch) -> Result<Output, Error>;
}

/// An error for the host: at load time it stops the pipeline with this
/// message; from `process` it sends the whole batch to the dead-letter.
#[derive(Debug, Clone, PartialEq)]
pub struct Error(String);

impl Error {
    pub fn new(message: impl Into<String>) -> Self {
        Error(message.into())
    }

    pub fn message(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error(message.to_string())
    }
}

impl From<std::num::ParseIntError> for Error {
    fn from(e: std::num::ParseIntError) -> Self {
        Error(e.to_string())
    }
}

impl From<std::num::ParseFloatError> for Error {
    fn from(e: std::num::ParseFloatError) -> Self {
        Error(e.to_string())
    }
}

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "transform",
        pub_export_macro: true,
        export_macro_name: "__export_transform_world",
        default_bindings_module: "weir_sdk::bindings",
    });
}

#[doc(hidden)]
pub use export::Exported;

/// Exports a [`Transform`] as the plugin's entry point. Use it once per crate.
#[macro_export]
macro_rules! export_transform {
    ($transform:ty) => {
        const _: () = {
            // Checked here so a missing `impl Transform` points at this line.
            fn assert_transform<T: $crate::Transform>() {}
            let _ = assert_transform::<$transform>;
        };
        type __WeirExported = $crate::Exported<$transform>;
        $crate::bindings::__export_transform_world!(__WeirExported with_types_in $crate::bindings);
    };
}

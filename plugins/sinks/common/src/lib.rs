//! The Rust SDK for sinks, which the bundled sinks use: the [`Sink`] trait
//! and `export_sink!`, bindings for the `sink` world (kept apart from
//! weir-sdk's transform bindings, so a component carries one world), the
//! sink's config, and reading a batch's schema.

mod sink;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "sink",
        pub_export_macro: true,
        export_macro_name: "export_sink_world",
        default_bindings_module: "weir_sink::bindings",
    });
}

pub use bindings::exports::weir::plugin::sink_writer::{Guest, SinkPlan, WriteReport};
pub use bindings::weir::plugin::types::{Batch, DataType, Rejection, Schema, Values};
pub use bindings::weir::plugin::{cql, files, kafka, log, sql};
#[doc(hidden)]
pub use sink::Exported;
pub use sink::Sink;

use std::collections::BTreeMap;

/// Exports a type implementing [`Sink`] as the component's sink. Use it
/// once per crate.
#[macro_export]
macro_rules! export_sink {
    ($sink:ty) => {
        const _: () = {
            // Checked here so a missing `impl Sink` points at this line.
            fn assert_sink<S: $crate::Sink>() {}
            let _ = assert_sink::<$sink>;
        };
        type __WeirExportedSink = $crate::Exported<$sink>;
        $crate::bindings::export_sink_world!(__WeirExportedSink with_types_in $crate::bindings);
    };
}

/// A sink's `config` table: text values by key, with the keys it was given
/// but never asked about reported as unknown.
pub struct Config {
    values: BTreeMap<String, String>,
    asked: std::cell::RefCell<Vec<String>>,
}

impl Config {
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Config {
            values: pairs.into_iter().collect(),
            asked: Default::default(),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.asked.borrow_mut().push(key.to_string());
        self.values.get(key).map(String::as_str)
    }

    pub fn require(&self, key: &str) -> Result<&str, String> {
        self.get(key)
            .ok_or_else(|| format!("config key `{key}` is required"))
    }

    pub fn flag(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(format!(
                "config key `{key}`: expected true or false, got {other:?}"
            )),
        }
    }

    pub fn number(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("config key `{key}`: expected a whole number, got {v:?}"))
            })
            .transpose()
    }

    /// A comma-separated list (`"a, b"`); empty if the key is absent.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What the host tells the sink of the run: `weir.epoch` (the first
    /// epoch it will commit, given when the pipeline keeps checkpoints) and
    /// `weir.sink-id` (pipeline/sink, unique, for epoch markers).
    pub fn run(&self, key: &str) -> Option<&str> {
        self.values.get(&format!("weir.{key}")).map(String::as_str)
    }

    /// Fails naming the first key no `get` asked about (a typo, usually).
    pub fn reject_unknown(&self) -> Result<(), String> {
        let asked = self.asked.borrow();
        match self
            .values
            .keys()
            .find(|k| !asked.contains(k) && !k.starts_with("weir."))
        {
            Some(k) => Err(format!("unknown config key `{k}`")),
            None => Ok(()),
        }
    }
}

/// The top-level columns of a schema: name, type, nullable.
pub fn columns(schema: &Schema) -> Vec<(String, DataType, bool)> {
    schema
        .columns
        .iter()
        .map(|&i| {
            let f = &schema.fields[i as usize];
            (f.name.clone(), f.data_type.clone(), f.nullable)
        })
        .collect()
}

/// The index of column `name`, or an error naming the columns there are.
pub fn column_index(schema: &Schema, name: &str) -> Result<u32, String> {
    let cols = columns(schema);
    cols.iter()
        .position(|(n, _, _)| n == name)
        .map(|i| i as u32)
        .ok_or_else(|| {
            let known: Vec<&str> = cols.iter().map(|(n, _, _)| n.as_str()).collect();
            format!(
                "there is no column `{name}` (the rows have: {})",
                known.join(", ")
            )
        })
}

/// Whether row `row` of an array with this validity bitmap holds a value.
pub fn is_valid(validity: &Option<Vec<u8>>, row: usize) -> bool {
    validity
        .as_ref()
        .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0)
}

/// A value as text that is equal exactly when the values are, for keys
/// (dedup, partition folders); `None` for nested types.
pub fn key_text(values: &Values, row: usize) -> Option<String> {
    Some(match values {
        Values::Utf8(v) | Values::Binary(v) => {
            let (start, end) = (v.offsets[row] as usize, v.offsets[row + 1] as usize);
            String::from_utf8_lossy(&v.bytes[start..end]).into_owned()
        }
        Values::Int32(v) | Values::Date32(v) => v[row].to_string(),
        Values::Int64(v) | Values::Timestamp(v) => v[row].to_string(),
        Values::Float32(v) => v[row].to_bits().to_string(),
        Values::Float64(v) => v[row].to_bits().to_string(),
        Values::Boolean(bits) => (bits[row / 8] & (1 << (row % 8)) != 0).to_string(),
        Values::Decimal128(bytes) => format!("{:?}", &bytes[row * 16..row * 16 + 16]),
        Values::List(_) | Values::Struct(_) => return None,
    })
}

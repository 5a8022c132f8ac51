//! What the host offers a plugin: its log, its key-value state, and the
//! reference tables it is granted.

use crate::bindings::weir::plugin::{log as wit_log, lookup as wit_lookup, state as wit_state};

/// Writes to the host's log, tagged with the plugin's name.
pub mod log {
    use super::wit_log::{Level, log};

    pub fn trace(message: &str) {
        log(Level::Trace, message)
    }
    pub fn debug(message: &str) {
        log(Level::Debug, message)
    }
    pub fn info(message: &str) {
        log(Level::Info, message)
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message)
    }
    pub fn error(message: &str) {
        log(Level::Error, message)
    }
}

/// A key-value store kept by the host for this plugin, across batches and
/// instances (and, with checkpoints, across restarts).
pub mod state {
    use super::wit_state;

    pub fn get(key: &str) -> Option<Vec<u8>> {
        wit_state::get(key)
    }
    pub fn set(key: &str, value: &[u8]) {
        wit_state::set(key, value)
    }
    pub fn delete(key: &str) {
        wit_state::delete(key)
    }
}

/// Reference tables the pipeline grants the plugin (its entry's `tables`
/// list names `[tables.NAME]`: a file, a SQL query, a changelog topic),
/// looked up a batch of keys per call:
///
/// ```ignore
/// let found = lookup::get("customers", &batch.select(&["customer_id"])?)?;
/// let segment = found.rows().utf8("segment")?; // row i is key i's
/// ```
pub mod lookup {
    use super::wit_lookup;
    use crate::column::bit;
    use crate::{Batch, Error, Row, Schema};

    /// A granted table: its columns and its key columns.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Table {
        pub columns: Schema,
        pub keys: Vec<String>,
    }

    /// The table `name`'s columns and key, to plan the output in `describe`.
    pub fn describe(table: &str) -> Result<Table, Error> {
        let info = wit_lookup::describe(table).map_err(Error::new)?;
        Ok(Table {
            columns: Schema::from_wit(&info.columns),
            keys: info.keys,
        })
    }

    /// Looks up every row of `keys`, a batch of the table's key columns in
    /// its key order (build it with [`Batch::select`]).
    pub fn get(table: &str, keys: &Batch) -> Result<Found, Error> {
        let found = wit_lookup::get(table, keys.as_wit()).map_err(Error::new)?;
        Ok(Found {
            rows: Batch::new(found.rows),
            found: found.found,
        })
    }

    /// The table rows of a lookup, aligned with its keys.
    pub struct Found {
        rows: Batch,
        found: Vec<u8>,
    }

    impl Found {
        /// One row per key: the table's row with that key, or nulls.
        pub fn rows(&self) -> &Batch {
            &self.rows
        }

        /// Whether key row `row` was found.
        pub fn found(&self, row: usize) -> bool {
            row < self.rows.num_rows() && bit(&self.found, row)
        }

        /// The table's row for key row `row`, if it has one.
        pub fn get(&self, row: usize) -> Option<Row<'_>> {
            self.found(row).then(|| self.rows.row(row))
        }
    }
}

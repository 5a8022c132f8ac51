//! The `lookup` capability: a transform granted reference tables (its
//! `tables` list) asks the host for the rows of a batch of keys, one call
//! per batch. The pipeline opens and keeps the tables; the runtime only
//! knows them through [`Tables`], so it depends on no join code.

use super::convert::{self, ArrayTable};
use super::store::PluginData;
use crate::contract::weir::plugin::lookup;
use crate::contract::wit;
use arrow::array::{ArrayRef, RecordBatch};
use arrow::datatypes::SchemaRef;
use std::sync::{Arc, Mutex};
use wasmtime::component::{HasSelf, Linker};

/// Reference tables, by name, as the pipeline holds them.
pub trait Tables: Send {
    /// The table's columns and its key columns, by name.
    fn describe(&self, table: &str) -> Result<(SchemaRef, Vec<String>), String>;

    /// For each row of `keys` (the table's key columns, in order), the
    /// table's row with that key: `rows` aligned with `keys`, every column
    /// nullable and null where `found` is false.
    fn get(&mut self, table: &str, keys: &[ArrayRef]) -> Result<Found, String>;
}

/// A lookup's answer, aligned with its keys.
pub struct Found {
    pub rows: RecordBatch,
    pub found: Vec<bool>,
    /// Time spent waiting for the table's database to come back, which the
    /// call's deadline does not count.
    pub waited: std::time::Duration,
}

/// The tables one transform may look keys up in: the pipeline's tables,
/// shared by every transform granted one, and the names this one is granted.
#[derive(Clone)]
pub struct TableGrants {
    pub granted: Vec<String>,
    pub tables: Arc<Mutex<dyn Tables>>,
}

impl std::fmt::Debug for TableGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableGrants")
            .field("granted", &self.granted)
            .finish_non_exhaustive()
    }
}

impl TableGrants {
    /// Refuses a table the transform was not granted, naming those it was.
    fn check(&self, plugin: &str, table: &str) -> Result<(), String> {
        if self.granted.iter().any(|g| g == table) {
            return Ok(());
        }
        let granted = if self.granted.is_empty() {
            "none".to_string()
        } else {
            self.granted.join(", ")
        };
        Err(format!(
            "table `{table}` is not granted to transform `{plugin}` (granted: {granted}); \
             list it in the transform's `tables`"
        ))
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, dyn Tables + 'static> {
        // A panic while the lock was held left nothing half-written that a
        // lookup could see: the tables change only between batches.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PluginData {
    fn grants(&self, table: &str) -> Result<&TableGrants, String> {
        let grants = self.tables.as_ref().ok_or_else(|| {
            format!(
                "table `{table}` is not granted to transform `{}` (granted: none); list it in \
                 the transform's `tables`",
                self.plugin
            )
        })?;
        grants.check(&self.plugin, table)?;
        Ok(grants)
    }
}

impl lookup::Host for PluginData {
    fn describe(&mut self, table: String) -> Result<lookup::TableInfo, String> {
        let (schema, keys) = self.grants(&table)?.tables().describe(&table)?;
        let columns = convert::schema_to_wit(&schema).map_err(|e| e.0)?;
        Ok(lookup::TableInfo { columns, keys })
    }

    fn get(&mut self, table: String, keys: wit::Batch) -> Result<lookup::Found, String> {
        let grants = self.grants(&table)?;
        let (schema, key_names) = grants.tables().describe(&table)?;
        let columns = key_columns(&table, &schema, &key_names, keys)?;
        let found = grants.tables().get(&table, &columns);
        let found = found?;
        self.waited += found.waited;
        let rows_wit = convert::schema_to_wit(&found.rows.schema()).map_err(|e| e.0)?;
        let rows = convert::batch_to_wit(&found.rows, rows_wit).map_err(|e| e.0)?;
        let mut bits = vec![0u8; found.found.len().div_ceil(8)];
        for (i, _) in found.found.iter().enumerate().filter(|(_, f)| **f) {
            bits[i >> 3] |= 1 << (i & 7);
        }
        Ok(lookup::Found { rows, found: bits })
    }
}

/// The plugin's keys as Arrow arrays, checked against the table's key
/// columns: as many, of the same types, each as long as the batch.
fn key_columns(
    table: &str,
    schema: &SchemaRef,
    key_names: &[String],
    keys: wit::Batch,
) -> Result<Vec<ArrayRef>, String> {
    let sent = convert::schema_from_wit(&keys.schema).map_err(|e| format!("the keys: {e}"))?;
    if sent.fields().len() != key_names.len() || keys.columns.len() != key_names.len() {
        return Err(format!(
            "table `{table}` is keyed by {} column(s) ({}), but the keys have {}",
            key_names.len(),
            key_names.join(", "),
            sent.fields().len()
        ));
    }
    let mut arrays = ArrayTable::new(keys.arrays);
    let mut columns = Vec::with_capacity(key_names.len());
    for ((name, field), &index) in key_names.iter().zip(sent.fields()).zip(&keys.columns) {
        let wanted = schema
            .field_with_name(name)
            .map_err(|e| e.to_string())?
            .data_type();
        if field.data_type() != wanted {
            return Err(format!(
                "table `{table}`'s key `{name}` is {wanted}, but the key sent for it (`{}`) is {}",
                field.name(),
                field.data_type()
            ));
        }
        let column = arrays
            .take(index, field)
            .map_err(|e| format!("the keys: {e}"))?;
        if column.len() != keys.num_rows as usize {
            return Err(format!(
                "the keys: column `{}` has {} values for {} rows",
                field.name(),
                column.len(),
                keys.num_rows
            ));
        }
        columns.push(column);
    }
    Ok(columns)
}

pub fn add_to_linker(linker: &mut Linker<PluginData>) -> wasmtime::Result<()> {
    lookup::add_to_linker::<_, HasSelf<_>>(linker, |data| data)
}

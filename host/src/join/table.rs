//! A reference table held whole in memory and indexed by its key columns,
//! for the join to look rows up in. Keys are compared as Arrow's row format
//! encodes them, so every key type the decoders produce works, and a null
//! key never matches (as in SQL).

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use std::collections::HashMap;

pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Key to the table row holding it. A single BIGINT key, the common case,
/// is hashed as the number; any other key as Arrow's row encoding of its
/// columns.
enum Index {
    Int64(FastMap<i64, u32>),
    Rows(FastMap<Box<[u8]>, u32>),
}

/// A loaded table and its index.
pub struct LookupTable {
    pub rows: RecordBatch,
    /// The last row wins when a key is repeated.
    index: Index,
    converter: RowConverter,
    /// Which version of the table this is: the SHA-256 of its file, or of
    /// a query's result.
    pub sha256: String,
    /// Rows whose key repeated an earlier row's (the later one is used).
    pub duplicates: usize,
}

impl LookupTable {
    /// Indexes `rows` by its columns `keys`.
    pub fn index(rows: RecordBatch, keys: &[String], sha256: String) -> Result<Self, String> {
        let key_columns = key_columns(&rows, keys)?;
        let converter = key_converter(&key_columns)?;
        let mut duplicates = 0;
        let live = |row: usize| !key_columns.iter().any(|c| c.is_null(row));
        let index = match single_int64(&key_columns) {
            Some(ids) => {
                let mut index =
                    FastMap::with_capacity_and_hasher(rows.num_rows(), Default::default());
                for row in (0..rows.num_rows()).filter(|&r| live(r)) {
                    duplicates += usize::from(index.insert(ids.value(row), row as u32).is_some());
                }
                Index::Int64(index)
            }
            None => {
                let encoded = converter
                    .convert_columns(&key_columns)
                    .map_err(|e| e.to_string())?;
                let mut index =
                    FastMap::with_capacity_and_hasher(rows.num_rows(), Default::default());
                for row in (0..rows.num_rows()).filter(|&r| live(r)) {
                    let key: Box<[u8]> = encoded.row(row).as_ref().into();
                    duplicates += usize::from(index.insert(key, row as u32).is_some());
                }
                Index::Rows(index)
            }
        };
        Ok(LookupTable {
            rows,
            index,
            converter,
            sha256,
            duplicates,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    /// For each row of `keys` (the stream's key columns), the table row
    /// whose key equals it, if any.
    pub fn lookup(&self, keys: &[ArrayRef]) -> Result<Vec<Option<u32>>, String> {
        let rows = keys.first().map_or(0, |k| k.len());
        match &self.index {
            Index::Int64(index) => {
                let ids = single_int64(keys).ok_or("the key is no longer one BIGINT column")?;
                Ok((0..rows)
                    .map(|row| {
                        ids.is_valid(row)
                            .then(|| index.get(&ids.value(row)).copied())
                            .flatten()
                    })
                    .collect())
            }
            Index::Rows(index) => {
                let encoded = self
                    .converter
                    .convert_columns(keys)
                    .map_err(|e| e.to_string())?;
                Ok((0..rows)
                    .map(|row| {
                        live(keys, row)
                            .then(|| index.get(encoded.row(row).as_ref()).copied())
                            .flatten()
                    })
                    .collect())
            }
        }
    }
}

/// Whether no key column of `row` is null: a null key matches nothing.
pub fn live(keys: &[ArrayRef], row: usize) -> bool {
    !keys.iter().any(|c| c.is_null(row))
}

/// The row format that encodes keys of these columns' types.
pub fn key_converter(keys: &[ArrayRef]) -> Result<RowConverter, String> {
    RowConverter::new(
        keys.iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
    .map_err(|e| e.to_string())
}

/// The column names of `schema`, for messages.
pub fn names(schema: &arrow::datatypes::Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

/// The row format that encodes whole rows of `schema`.
pub fn row_converter(schema: &arrow::datatypes::Schema) -> Result<RowConverter, String> {
    RowConverter::new(
        schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )
    .map_err(|e| e.to_string())
}

/// The row format of `schema`'s columns `keys`, as a table is keyed.
pub fn table_key_converter(
    schema: &arrow::datatypes::Schema,
    keys: &[String],
) -> Result<RowConverter, String> {
    let fields = keys
        .iter()
        .map(|k| {
            schema
                .field_with_name(k)
                .map(|f| SortField::new(f.data_type().clone()))
                .map_err(|_| {
                    format!(
                        "the table has no key column `{k}` (it has: {})",
                        names(schema)
                    )
                })
        })
        .collect::<Result<_, _>>()?;
    RowConverter::new(fields).map_err(|e| e.to_string())
}

/// The key column, when the key is one BIGINT column.
fn single_int64(keys: &[ArrayRef]) -> Option<&Int64Array> {
    match keys {
        [only] => only.as_any().downcast_ref::<Int64Array>(),
        _ => None,
    }
}

/// The columns named `keys`, in order.
pub fn key_columns(batch: &RecordBatch, keys: &[String]) -> Result<Vec<ArrayRef>, String> {
    keys.iter()
        .map(|k| {
            batch
                .column_by_name(k)
                .cloned()
                .ok_or_else(|| format!("no key column `{k}`"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::StringArray;
    use std::sync::Arc;

    fn table(ids: Vec<Option<i64>>, zones: Vec<&str>, keys: &[&str]) -> LookupTable {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("zone", Arc::new(StringArray::from(zones)) as ArrayRef),
        ])
        .unwrap();
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        LookupTable::index(batch, &keys, String::new()).unwrap()
    }

    #[test]
    fn a_repeated_key_joins_its_last_row_and_a_null_key_matches_nothing() {
        let t = table(
            vec![Some(1), Some(2), Some(1), None],
            vec!["a", "b", "a", "z"],
            &["id"],
        );
        assert_eq!(t.duplicates, 1);
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(3), None, Some(2)]));
        assert_eq!(
            t.lookup(&[keys]).unwrap(),
            vec![Some(2), None, None, Some(1)]
        );
    }

    #[test]
    fn composite_keys_match_on_every_column() {
        let t = table(vec![Some(1), Some(1)], vec!["a", "b"], &["id", "zone"]);
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
        let zones: ArrayRef = Arc::new(StringArray::from(vec!["b", "c", "a"]));
        assert_eq!(t.lookup(&[ids, zones]).unwrap(), vec![Some(1), None, None]);
    }
}

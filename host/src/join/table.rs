//! A reference table read whole from a file (CSV, JSON Lines, Parquet) and
//! indexed by its key columns, for the join to look rows up in. Keys are
//! compared as Arrow's row format encodes them, so every key type the
//! decoders produce works, and a null key never matches (as in SQL).

use crate::config::ddl;
use crate::config::join::{TableConfig, TableFormat};
use crate::source::decode::{Decoder, Line};
use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, SortField};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;

type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

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
    /// The SHA-256 of the file's bytes: which version a run joined against.
    pub sha256: String,
    /// Rows whose key repeated an earlier row's (the later one is used).
    pub duplicates: usize,
}

/// The file as it stands on disk (or in its store), to notice when it
/// changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    /// An object's entity tag, where the store gives one.
    e_tag: Option<String>,
}

/// The object store and key of a table given by URL; `None` for a local file.
fn object(config: &TableConfig) -> Result<Option<crate::storage::Location>, String> {
    match crate::storage::Place::open(&config.path, &config.storage).map_err(|e| e.to_string())? {
        crate::storage::Place::Object(location) => Ok(Some(location)),
        crate::storage::Place::Local(_) => Ok(None),
    }
}

pub fn stamp(config: &TableConfig) -> Result<FileStamp, String> {
    if let Some(place) = object(config)? {
        let meta = crate::storage::block_on(object_store::ObjectStoreExt::head(
            &*place.store,
            &place.prefix,
        ))
        .map_err(|e| e.to_string())?;
        return Ok(FileStamp {
            modified: Some(meta.last_modified.into()),
            len: meta.size,
            e_tag: meta.e_tag,
        });
    }
    let metadata = std::fs::metadata(&config.path).map_err(|e| e.to_string())?;
    Ok(FileStamp {
        modified: metadata.modified().ok(),
        len: metadata.len(),
        e_tag: None,
    })
}

/// The table file's bytes.
fn read(config: &TableConfig) -> Result<bytes::Bytes, String> {
    let shown = config.path.display();
    if let Some(place) = object(config).map_err(|e| format!("cannot read {shown}: {e}"))? {
        return crate::storage::block_on(async {
            object_store::ObjectStoreExt::get(&*place.store, &place.prefix)
                .await?
                .bytes()
                .await
        })
        .map_err(|e| format!("cannot read {shown}: {e}"));
    }
    std::fs::read(&config.path)
        .map(bytes::Bytes::from)
        .map_err(|e| format!("cannot read {shown}: {e}"))
}

impl LookupTable {
    /// Reads the table's file and indexes it by `keys`.
    pub fn load(config: &TableConfig, keys: &[String]) -> Result<LookupTable, String> {
        let shown = config.path.display();
        let bytes = read(config)?;
        let rows = match config.format.lines() {
            Some(format) => decode_lines(config, format, &bytes)?,
            None => read_parquet(bytes.clone())
                .map_err(|e| format!("{shown} is not readable Parquet: {e}"))?,
        };
        let key_columns = key_columns(&rows, keys).map_err(|e| format!("{shown}: {e}"))?;
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect(),
        )
        .map_err(|e| e.to_string())?;
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
            sha256: format!("{:x}", Sha256::digest(&bytes)),
            duplicates,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    /// For each row of `keys` (the stream's key columns), the table row
    /// whose key equals it, if any.
    pub fn lookup(&self, keys: &[ArrayRef]) -> Result<Vec<Option<u32>>, String> {
        let live = |row: usize| !keys.iter().any(|c| c.is_null(row));
        let rows = keys.first().map_or(0, |k| k.len());
        match &self.index {
            Index::Int64(index) => {
                let ids = single_int64(keys).ok_or("the key is no longer one BIGINT column")?;
                Ok((0..rows)
                    .map(|row| {
                        live(row)
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
                        live(row)
                            .then(|| index.get(encoded.row(row).as_ref()).copied())
                            .flatten()
                    })
                    .collect())
            }
        }
    }
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

/// CSV or JSON Lines through the files source's decoder: a line that does
/// not fit the schema makes the whole table unreadable (a reference table
/// with a missing row would quietly change what joins).
fn decode_lines(
    config: &TableConfig,
    format: crate::config::FileFormat,
    bytes: &[u8],
) -> Result<RecordBatch, String> {
    let shown = config.path.display().to_string();
    let schema = config
        .schema
        .as_deref()
        .map(ddl::parse_schema)
        .transpose()?;
    let decoder = Decoder::new(format, schema, config.delimiter);
    let source: Arc<str> = shown.as_str().into();
    let text = String::from_utf8_lossy(bytes);
    let valid_utf8 = matches!(text, std::borrow::Cow::Borrowed(_));
    let skip = usize::from(config.header && config.format == TableFormat::Csv);
    let lines: Vec<Line> = text
        .lines()
        .enumerate()
        .skip(skip)
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| Line {
            source: source.clone(),
            offset: i as i64 + 1,
            text: l.to_string(),
            valid_utf8,
        })
        .collect();
    let decoded = decoder.decode(lines);
    if let Some(bad) = decoded.rejected.first() {
        return Err(format!(
            "{shown} line {}: {} ({} bad lines in all)",
            bad.offset,
            bad.reason,
            decoded.rejected.len()
        ));
    }
    Ok(decoded.batch)
}

fn read_parquet(bytes: bytes::Bytes) -> Result<RecordBatch, String> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(|e| e.to_string())?
        .build()
        .map_err(|e| e.to_string())?;
    let schema = arrow::array::RecordBatchReader::schema(&reader);
    let batches: Vec<RecordBatch> = reader
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn table(text: &str) -> (tempfile::TempDir, TableConfig) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        let config = TableConfig {
            path,
            format: TableFormat::Csv,
            schema: Some("id BIGINT, tier STRING, zone STRING".into()),
            header: false,
            delimiter: ',',
            storage: Default::default(),
        };
        (dir, config)
    }

    #[test]
    fn a_repeated_key_joins_its_last_row_and_a_null_key_matches_nothing() {
        let (_dir, config) = table("1,gold,a\n2,silver,b\n1,platinum,a\n,ghost,z\n");
        let t = LookupTable::load(&config, &["id".into()]).unwrap();
        assert_eq!(t.duplicates, 1);
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(3), None, Some(2)]));
        assert_eq!(
            t.lookup(&[keys]).unwrap(),
            vec![Some(2), None, None, Some(1)]
        );
    }

    #[test]
    fn composite_keys_match_on_every_column() {
        let (_dir, config) = table("1,gold,a\n1,gold,b\n");
        let t = LookupTable::load(&config, &["id".into(), "zone".into()]).unwrap();
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 1, 2]));
        let zones: ArrayRef = Arc::new(StringArray::from(vec!["b", "c", "a"]));
        assert_eq!(t.lookup(&[ids, zones]).unwrap(), vec![Some(1), None, None]);
    }

    #[test]
    fn a_line_that_does_not_fit_makes_the_table_unreadable_naming_it() {
        let (_dir, config) = table("1,gold,a\nnope,x,y\n");
        let error = LookupTable::load(&config, &["id".into()]).err().unwrap();
        assert!(error.contains("line 2"), "{error}");
    }
}

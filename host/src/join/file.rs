//! A reference table in one file (CSV, JSON Lines, Parquet; local or in an
//! object store): read whole, and stamped by time, size and entity tag so
//! the join notices when it changes.

use crate::config::ddl;
use crate::config::join::{TableConfig, TableFormat};
use crate::source::decode::{Decoder, Line};
use crate::storage::{Location, Place};
use arrow::array::RecordBatch;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;

/// The file as it stands on disk (or in its store), to notice when it
/// changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<std::time::SystemTime>,
    len: u64,
    /// An object's entity tag, where the store gives one.
    e_tag: Option<String>,
}

/// One table file: where it is and how to read it.
pub struct TableFile<'a> {
    pub path: &'a Path,
    pub format: TableFormat,
    pub config: &'a TableConfig,
}

impl TableFile<'_> {
    /// The object store and key of a table given by URL; `None` for a
    /// local file.
    fn object(&self) -> Result<Option<Location>, String> {
        match Place::open(self.path, &self.config.storage).map_err(|e| e.to_string())? {
            Place::Object(location) => Ok(Some(location)),
            Place::Local(_) => Ok(None),
        }
    }

    pub fn stamp(&self) -> Result<FileStamp, String> {
        if let Some(place) = self.object()? {
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
        let metadata = std::fs::metadata(self.path).map_err(|e| e.to_string())?;
        Ok(FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            e_tag: None,
        })
    }

    /// The file's bytes.
    fn bytes(&self) -> Result<bytes::Bytes, String> {
        let shown = self.path.display();
        if let Some(place) = self
            .object()
            .map_err(|e| format!("cannot read {shown}: {e}"))?
        {
            return crate::storage::block_on(async {
                object_store::ObjectStoreExt::get(&*place.store, &place.prefix)
                    .await?
                    .bytes()
                    .await
            })
            .map_err(|e| format!("cannot read {shown}: {e}"));
        }
        std::fs::read(self.path)
            .map(bytes::Bytes::from)
            .map_err(|e| format!("cannot read {shown}: {e}"))
    }

    /// The table's rows and the SHA-256 of the file's bytes.
    pub fn read(&self) -> Result<(RecordBatch, String), String> {
        let bytes = self.bytes()?;
        let rows = match self.format.lines() {
            Some(format) => self.decode_lines(format, &bytes)?,
            None => read_parquet(bytes.clone())
                .map_err(|e| format!("{} is not readable Parquet: {e}", self.path.display()))?,
        };
        Ok((rows, format!("{:x}", Sha256::digest(&bytes))))
    }

    /// CSV or JSON Lines through the files source's decoder: a line that
    /// does not fit the schema makes the whole table unreadable (a
    /// reference table with a missing row would quietly change what joins).
    fn decode_lines(
        &self,
        format: crate::config::FileFormat,
        bytes: &[u8],
    ) -> Result<RecordBatch, String> {
        let shown = self.path.display().to_string();
        let schema = self
            .config
            .schema
            .as_deref()
            .map(ddl::parse_schema)
            .transpose()?;
        let decoder = Decoder::new(format, schema, self.config.delimiter);
        let source: Arc<str> = shown.as_str().into();
        let text = String::from_utf8_lossy(bytes);
        let valid_utf8 = matches!(text, std::borrow::Cow::Borrowed(_));
        let skip = usize::from(self.config.header && self.format == TableFormat::Csv);
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

    #[test]
    fn a_line_that_does_not_fit_makes_the_table_unreadable_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, "1,gold,a\nnope,x,y\n").unwrap();
        let config: TableConfig = toml::from_str(
            "path = \"t.csv\"\nformat = \"csv\"\nschema = \"id BIGINT, tier STRING, zone STRING\"",
        )
        .unwrap();
        let file = TableFile {
            path: &path,
            format: TableFormat::Csv,
            config: &config,
        };
        let error = file.read().err().unwrap();
        assert!(error.contains("line 2"), "{error}");
    }
}

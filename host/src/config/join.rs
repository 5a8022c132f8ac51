//! `[[joins]]`: stream–table joins against a reference table in a file,
//! run after the transforms and before the window. Each names the table,
//! the key columns on each side, the kind (`inner`, `left`) and what an
//! unmatched row becomes.

use super::FileFormat;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinConfig {
    pub name: String,
    pub table: TableConfig,
    /// The stream's key columns.
    pub on: Vec<String>,
    /// The table's key columns, in the same order; the stream's names if unset.
    pub table_on: Option<Vec<String>>,
    #[serde(default)]
    pub kind: JoinKind,
    /// What becomes of a stream row no table row matches: `null` (a left
    /// join's, and its default), `drop` (an inner join's default) or
    /// `dead-letter` (inner only: the row goes there naming its key).
    pub on_miss: Option<OnMiss>,
    /// The table's columns added to each row; every column but the keys if unset.
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JoinKind {
    #[default]
    Inner,
    Left,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnMiss {
    Null,
    Drop,
    DeadLetter,
}

/// A reference table in one file, read whole at start and again whenever
/// the file changes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    /// A local file, or an object-store URL (`s3://bucket/customers.parquet`).
    pub path: PathBuf,
    pub format: TableFormat,
    /// csv and jsonl: the columns, in Spark DDL; Parquet files carry theirs.
    pub schema: Option<String>,
    /// csv: the first line is a header to skip.
    #[serde(default)]
    pub header: bool,
    #[serde(default = "super::default_delimiter")]
    pub delimiter: char,
    /// The pipeline's `[storage]` options, copied here when it is loaded.
    #[serde(skip)]
    pub storage: super::StorageOptions,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TableFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl TableFormat {
    /// The line format the files source decodes it with; `None` for Parquet.
    pub fn lines(self) -> Option<FileFormat> {
        match self {
            TableFormat::Csv => Some(FileFormat::Csv),
            TableFormat::Jsonl => Some(FileFormat::Jsonl),
            TableFormat::Parquet => None,
        }
    }
}

impl JoinConfig {
    /// The table's key columns.
    pub fn table_keys(&self) -> &[String] {
        self.table_on.as_deref().unwrap_or(&self.on)
    }

    /// What an unmatched row becomes, with the kind's default.
    pub fn miss(&self) -> OnMiss {
        self.on_miss.unwrap_or(match self.kind {
            JoinKind::Inner => OnMiss::Drop,
            JoinKind::Left => OnMiss::Null,
        })
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        if self.on.is_empty() {
            return Err("on`: name at least one key column".to_string());
        }
        if self.table_keys().len() != self.on.len() {
            return Err(format!(
                "table_on`: {} table key columns for {} stream key columns in `on`",
                self.table_keys().len(),
                self.on.len()
            ));
        }
        match (self.kind, self.miss()) {
            (JoinKind::Left, OnMiss::Null)
            | (JoinKind::Inner, OnMiss::Drop | OnMiss::DeadLetter) => {}
            (JoinKind::Left, other) => {
                return Err(format!(
                    "on_miss`: a left join keeps unmatched rows with nulls; {other:?} is an inner join's (use kind = \"inner\")"
                ));
            }
            (JoinKind::Inner, OnMiss::Null) => {
                return Err(
                    "on_miss`: an inner join has no row to fill with nulls; use kind = \"left\""
                        .to_string(),
                );
            }
        }
        match (self.table.format, &self.table.schema) {
            (TableFormat::Parquet, Some(_)) => {
                return Err("table.schema`: a Parquet file carries its own schema".to_string());
            }
            (TableFormat::Csv | TableFormat::Jsonl, None) => {
                return Err(
                    "table.schema`: csv and jsonl tables need a declared schema, e.g. schema = \"id BIGINT, segment STRING\""
                        .to_string(),
                );
            }
            (_, Some(schema)) => {
                super::ddl::parse_schema(schema).map_err(|e| format!("table.schema`: {e}"))?;
            }
            _ => {}
        }
        super::check_delimiter(self.table.delimiter).map_err(|e| format!("table.delimiter`: {e}"))
    }
}

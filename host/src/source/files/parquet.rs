//! Parquet files for the files source: only the columns of the source's
//! schema are decoded (a projection), each cast to the schema's type; rows
//! come out in slices of any length, so a replay cuts its batches exactly
//! as they were first cut.

use arrow::array::{ArrayRef, RecordBatch, new_null_array};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

/// Rows decoded at a time; a batch of the source is cut from them.
const READ_BATCH: usize = 8192;

/// The columns a file holds, as Arrow sees them.
pub fn schema_of(bytes: Bytes) -> Result<Schema, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
    Ok(builder.schema().as_ref().clone())
}

/// An open Parquet file, read in order.
pub struct ParquetFile {
    reader: ParquetRecordBatchReader,
    target: SchemaRef,
    /// For each column of `target`: its index in the projected batches, or
    /// `None` if the file lacks it (nulls).
    columns: Vec<Option<usize>>,
    /// Rows decoded and conformed but not yet returned.
    buffered: Option<RecordBatch>,
}

impl ParquetFile {
    /// Opens the file and skips its first `skip` rows (read before a crash).
    pub fn open(bytes: Bytes, target: &SchemaRef, skip: usize) -> Result<Self, String> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
        let file = builder.schema().clone();
        let mut roots = Vec::new();
        let mut located = Vec::new();
        for field in target.fields() {
            let found = file.index_of(field.name()).ok().or_else(|| {
                file.fields()
                    .iter()
                    .position(|f| f.name().eq_ignore_ascii_case(field.name()))
            });
            match found {
                Some(i) => {
                    roots.push(i);
                    located.push(Some(i));
                }
                None if field.is_nullable() => located.push(None),
                None => {
                    return Err(format!(
                        "the file has no column `{}` (it has: {})",
                        field.name(),
                        file.fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        roots.sort_unstable();
        roots.dedup();
        // Projected batches hold the chosen columns in the file's order.
        let columns = located
            .into_iter()
            .map(|i| i.map(|i| roots.binary_search(&i).expect("projected")))
            .collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let reader = builder
            .with_projection(mask)
            .with_batch_size(READ_BATCH)
            .with_offset(skip)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(ParquetFile {
            reader,
            target: target.clone(),
            columns,
            buffered: None,
        })
    }

    /// Up to `limit` rows; `None` at the end of the file.
    pub fn read(&mut self, limit: usize) -> Result<Option<RecordBatch>, String> {
        let batch = match self.buffered.take() {
            Some(batch) => batch,
            None => match self.reader.next() {
                None => return Ok(None),
                Some(batch) => self.conform(batch.map_err(|e| e.to_string())?)?,
            },
        };
        if batch.num_rows() > limit {
            self.buffered = Some(batch.slice(limit, batch.num_rows() - limit));
            return Ok(Some(batch.slice(0, limit)));
        }
        Ok(Some(batch))
    }

    /// A projected batch as the target schema: columns in its order, cast
    /// to its types, nulls for columns the file lacks.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch, String> {
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let columns: Vec<ArrayRef> = self
            .target
            .fields()
            .iter()
            .zip(&self.columns)
            .map(|(field, at)| match at {
                None => Ok(new_null_array(field.data_type(), batch.num_rows())),
                Some(i) => {
                    let column = batch.column(*i);
                    if column.data_type() == field.data_type() {
                        Ok(column.clone())
                    } else {
                        cast_with_options(column, field.data_type(), &options).map_err(|e| {
                            format!(
                                "column `{}` of type {} cannot be read as {}: {e}",
                                field.name(),
                                column.data_type(),
                                field.data_type()
                            )
                        })
                    }
                }
            })
            .collect::<Result<_, _>>()?;
        RecordBatch::try_new(self.target.clone(), columns).map_err(|e| e.to_string())
    }
}

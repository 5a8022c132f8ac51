//! What an interval join emits: its output columns (the left row's, then
//! the right row's but its keys), and the joined rows waiting for the
//! watermarks to pass them, released in event-time order.

use crate::envelope::Envelope;
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, new_null_array};
use arrow::compute::{concat_batches, filter_record_batch, take_record_batch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use std::collections::HashSet;
use std::sync::Arc;

/// The output's columns, and how to make them from held rows.
pub(super) struct Output {
    schema: SchemaRef,
    /// Columns of a held left row that are its data (the origin follows).
    left_width: usize,
    /// The right columns the output keeps, by index.
    right_columns: Vec<usize>,
    origin_schema: SchemaRef,
}

impl Output {
    /// Every left column, then every right column but the keys (equal to
    /// the left's); a right column named as a left one is prefixed with its
    /// source's name (`clicks_ts`). A `left` join's right columns are nullable.
    pub fn new(
        schemas: &[SchemaRef; 2],
        names: &[String; 2],
        right_keys: &[usize],
        left_join: bool,
    ) -> Result<Self, String> {
        let mut fields: Vec<Field> = schemas[0]
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut taken: HashSet<String> = fields.iter().map(|f| f.name().clone()).collect();
        let mut right_columns = Vec::new();
        for (i, f) in schemas[1].fields().iter().enumerate() {
            if right_keys.contains(&i) {
                continue;
            }
            let mut field = f.as_ref().clone();
            if taken.contains(field.name()) {
                let renamed = format!("{}_{}", names[1], field.name());
                if taken.contains(&renamed) {
                    return Err(format!(
                        "right`: source `{}`'s column `{}` is named as a left column, and so is `{renamed}`; rename one",
                        names[1],
                        field.name()
                    ));
                }
                field = field.with_name(renamed);
            }
            if left_join {
                field = field.with_nullable(true);
            }
            taken.insert(field.name().clone());
            fields.push(field);
            right_columns.push(i);
        }
        let schema = Arc::new(Schema::new(fields));
        let origin_schema = Envelope::origin_schema();
        Ok(Output {
            schema,
            left_width: schemas[0].fields().len(),
            right_columns,
            origin_schema,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A left row as the join holds it: its columns, then its origin's.
    pub fn left_held_schema(left: &SchemaRef) -> SchemaRef {
        let origin = Envelope::origin_schema();
        let fields: Vec<_> = left
            .fields()
            .iter()
            .chain(origin.fields())
            .cloned()
            .collect();
        Arc::new(Schema::new(fields))
    }

    pub fn left_held(data: &RecordBatch, origin: &RecordBatch) -> Result<RecordBatch, String> {
        let columns: Vec<ArrayRef> = data
            .columns()
            .iter()
            .chain(origin.columns())
            .cloned()
            .collect();
        let schema = Output::left_held_schema(&data.schema());
        RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
    }

    /// Joined rows from held left rows and their right rows (none: nulls),
    /// with the left rows' origins.
    pub fn joined(
        &self,
        left: &RecordBatch,
        right: Option<&RecordBatch>,
    ) -> Result<Joined, String> {
        let n = left.num_rows();
        let mut columns: Vec<ArrayRef> = left.columns()[..self.left_width].to_vec();
        for (k, &i) in self.right_columns.iter().enumerate() {
            columns.push(match right {
                Some(right) => right.column(i).clone(),
                None => new_null_array(self.schema.field(self.left_width + k).data_type(), n),
            });
        }
        let data = RecordBatch::try_new(self.schema.clone(), columns).map_err(|e| e.to_string())?;
        let origin = RecordBatch::try_new(
            self.origin_schema.clone(),
            left.columns()[self.left_width..].to_vec(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Joined { data, origin })
    }
}

/// Joined rows and their origins.
pub(super) struct Joined {
    pub data: RecordBatch,
    pub origin: RecordBatch,
}

/// Joined rows not yet emitted, in chunks as they were made, each with the
/// event time it is ordered by.
#[derive(Default)]
pub(super) struct Pending {
    chunks: Vec<Chunk>,
}

struct Chunk {
    rows: Joined,
    times: Vec<i64>,
    min: i64,
    max: i64,
}

impl Chunk {
    /// `None` for no rows.
    fn of(rows: Joined, times: Vec<i64>) -> Option<Chunk> {
        let min = *times.iter().min()?;
        let max = *times.iter().max()?;
        Some(Chunk {
            rows,
            times,
            min,
            max,
        })
    }
}

impl Pending {
    pub fn push(&mut self, rows: Joined, times: Vec<i64>) {
        self.chunks.extend(Chunk::of(rows, times));
    }

    pub fn len(&self) -> usize {
        self.chunks.iter().map(|c| c.times.len()).sum()
    }

    /// Takes the rows whose time is before `ready`, in time order (rows of
    /// equal time in the order they were made).
    pub fn take_before(&mut self, ready: i64) -> Result<Option<Envelope>, String> {
        if !self.chunks.iter().any(|c| c.min < ready) {
            return Ok(None);
        }
        let mut out: Vec<(Joined, Vec<i64>)> = Vec::new();
        let mut kept = Vec::new();
        for chunk in std::mem::take(&mut self.chunks) {
            if chunk.max < ready {
                out.push((chunk.rows, chunk.times));
            } else if chunk.min >= ready {
                kept.push(chunk);
            } else {
                let early = BooleanArray::from_iter(chunk.times.iter().map(|&t| Some(t < ready)));
                let late = arrow::compute::not(&early).map_err(|e| e.to_string())?;
                let part = |mask: &BooleanArray| -> Result<Joined, String> {
                    Ok(Joined {
                        data: filter_record_batch(&chunk.rows.data, mask)
                            .map_err(|e| e.to_string())?,
                        origin: filter_record_batch(&chunk.rows.origin, mask)
                            .map_err(|e| e.to_string())?,
                    })
                };
                let (before, after): (Vec<i64>, Vec<i64>) =
                    chunk.times.iter().copied().partition(|&t| t < ready);
                out.push((part(&early)?, before));
                kept.extend(Chunk::of(part(&late)?, after));
            }
        }
        self.chunks = kept;
        let data: Vec<&RecordBatch> = out.iter().map(|(j, _)| &j.data).collect();
        let origin: Vec<&RecordBatch> = out.iter().map(|(j, _)| &j.origin).collect();
        let times: Vec<i64> = out.iter().flat_map(|(_, t)| t.iter().copied()).collect();
        let schema = data[0].schema();
        let data = concat_batches(&schema, data).map_err(|e| e.to_string())?;
        let origin = concat_batches(&origin[0].schema(), origin).map_err(|e| e.to_string())?;
        let mut order: Vec<u32> = (0..times.len() as u32).collect();
        order.sort_by_key(|&i| times[i as usize]);
        let order = arrow::array::UInt32Array::from(order);
        let data = take_record_batch(&data, &order).map_err(|e| e.to_string())?;
        let origin = take_record_batch(&origin, &order).map_err(|e| e.to_string())?;
        Ok(Some(Envelope::from_parts(data, origin)))
    }

    /// Every waiting row as one batch, its origins and times (a checkpoint).
    pub fn parts(
        &self,
        schema: &SchemaRef,
        origin: &SchemaRef,
    ) -> Result<(RecordBatch, RecordBatch, Vec<i64>), String> {
        let data = concat_batches(schema, self.chunks.iter().map(|c| &c.rows.data))
            .map_err(|e| e.to_string())?;
        let origins = concat_batches(origin, self.chunks.iter().map(|c| &c.rows.origin))
            .map_err(|e| e.to_string())?;
        let times = self
            .chunks
            .iter()
            .flat_map(|c| c.times.iter().copied())
            .collect();
        Ok((data, origins, times))
    }

    pub fn restore(&mut self, data: RecordBatch, origin: RecordBatch, times: Vec<i64>) {
        self.chunks.clear();
        self.push(Joined { data, origin }, times);
    }
}

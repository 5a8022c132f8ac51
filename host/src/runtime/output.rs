//! Checking what a transform returned and building its output batch: the
//! row selection, the rejections and each column, held to the plan it
//! declared and to its limits, so a plugin's mistake is a clear error.

use super::convert::{self, ArrayTable, ConvertError};
use super::selection::RowSelection;
use super::transform::{BatchOutcome, PluginLimits};
use crate::contract::wit;
use arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::SchemaRef;

/// Builds the output batch: pass-through columns from `input` with the
/// row selection applied, computed columns from the plugin.
pub(crate) fn assemble(
    input: &RecordBatch,
    output: wit::TransformOutput,
    output_schema: &SchemaRef,
    limits: PluginLimits,
) -> Result<BatchOutcome, ConvertError> {
    let n = input.num_rows();
    let selection = match output.rows {
        wit::RowSelection::All => RowSelection::All { rows: n },
        wit::RowSelection::Mask(bits) => RowSelection::filter(BooleanArray::new(
            convert::bitmap(bits, n, "(row selection)", "mask")?,
            None,
        )),
        wit::RowSelection::Take(rows) => {
            if let Some(bad) = rows.iter().find(|&&r| r as usize >= n) {
                return Err(ConvertError(format!(
                    "it selects row {bad}, but the batch has {n} rows"
                )));
            }
            RowSelection::Take {
                indices: UInt32Array::from(rows),
                input_rows: n,
            }
        }
    };
    if selection.output_rows() > limits.max_output_rows {
        return Err(ConvertError(format!(
            "it returned {} rows, over its cap of {} (`max_output_rows`)",
            selection.output_rows(),
            limits.max_output_rows
        )));
    }
    if let Some(cap) = limits.max_rejected
        && output.rejections.len() > cap
    {
        return Err(ConvertError(format!(
            "it rejected {} of {n} rows, over its cap of {cap} (`max_rejected_per_batch`)",
            output.rejections.len()
        )));
    }
    // The selection's bitmap is built only when there is something to check.
    let selected = if output.rejections.is_empty() {
        Vec::new()
    } else {
        selection.selected()
    };
    // Each input row is rejected at most once: a row rejected twice would
    // be dead-lettered twice and counted twice, and the run's counts
    // would no longer add up.
    let mut rejected = vec![false; if output.rejections.is_empty() { 0 } else { n }];
    let mut rejections = Vec::with_capacity(output.rejections.len());
    for r in output.rejections {
        let row = r.row as usize;
        if row >= n {
            return Err(ConvertError(format!(
                "it rejects row {}, but the batch has {n} rows",
                r.row
            )));
        }
        if selected[row] {
            return Err(ConvertError(format!(
                "row {} is both rejected and selected",
                r.row
            )));
        }
        if std::mem::replace(&mut rejected[row], true) {
            return Err(ConvertError(format!(
                "it rejects row {} more than once",
                r.row
            )));
        }
        rejections.push((r.row, r.reason));
    }
    let out_rows = selection.output_rows();
    let select = |column: &ArrayRef| {
        selection
            .apply(column)
            .map_err(|e| ConvertError(e.to_string()))
    };
    let planned = output_schema.fields();
    if output.columns.len() != planned.len() {
        return Err(ConvertError(format!(
            "it returned {} columns, its plan declares {}",
            output.columns.len(),
            planned.len()
        )));
    }
    let mut table = ArrayTable::new(output.arrays);
    let mut columns = Vec::with_capacity(planned.len());
    for (column, field) in output.columns.iter().zip(planned.iter()) {
        if &column.name != field.name() {
            return Err(ConvertError(format!(
                "it returned column `{}` where its plan declares `{}`",
                column.name,
                field.name()
            )));
        }
        let array = match column.source {
            wit::ColumnSource::Input(i) => {
                let Some(source) = input.columns().get(i as usize) else {
                    return Err(ConvertError(format!(
                        "column `{}` passes input column {i} through, which does not exist",
                        column.name
                    )));
                };
                if source.data_type() != field.data_type() {
                    return Err(ConvertError(format!(
                        "column `{}` passes through input column {i} of type {}, but the plan declares {}",
                        column.name,
                        source.data_type(),
                        field.data_type()
                    )));
                }
                select(source)?
            }
            wit::ColumnSource::Computed(a) => {
                let array = table.take(a, field)?;
                if array.len() != out_rows {
                    return Err(ConvertError(format!(
                        "computed column `{}` has {} values for {out_rows} output rows",
                        column.name,
                        array.len()
                    )));
                }
                array
            }
        };
        if !field.is_nullable() && array.null_count() > 0 {
            return Err(ConvertError(format!(
                "column `{}` is declared not nullable but has nulls",
                column.name
            )));
        }
        columns.push(array);
    }
    let options = arrow::array::RecordBatchOptions::new().with_row_count(Some(out_rows));
    let output = RecordBatch::try_new_with_options(output_schema.clone(), columns, &options)
        .map_err(|e| ConvertError(e.to_string()))?;
    Ok(BatchOutcome::Processed {
        output,
        selection,
        rejections,
    })
}

//! Which input rows make up a stage's output: all of them, a filter, or a
//! take (reordered or repeated rows). Applied to pass-through columns, to the
//! rows' origins, and counted for the run summary, without ever turning a
//! filter into a list of indices.

use arrow::array::{ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::compute::{FilterBuilder, FilterPredicate, take, take_record_batch};
use arrow::error::ArrowError;

pub enum RowSelection {
    All {
        rows: usize,
    },
    /// A filter: one predicate, built once, shared by every column.
    Filter {
        predicate: FilterPredicate,
        mask: BooleanArray,
    },
    Take {
        indices: UInt32Array,
        input_rows: usize,
    },
}

impl RowSelection {
    pub fn filter(mask: BooleanArray) -> Self {
        let predicate = FilterBuilder::new(&mask).optimize().build();
        RowSelection::Filter { predicate, mask }
    }

    pub fn output_rows(&self) -> usize {
        match self {
            RowSelection::All { rows } => *rows,
            RowSelection::Filter { predicate, .. } => predicate.count(),
            RowSelection::Take { indices, .. } => indices.len(),
        }
    }

    /// Input rows that appear in the output at least once.
    pub fn distinct_input_rows(&self) -> usize {
        match self {
            RowSelection::Take {
                indices,
                input_rows,
            } => {
                let mut seen = vec![false; *input_rows];
                indices
                    .values()
                    .iter()
                    .filter(|&&r| !std::mem::replace(&mut seen[r as usize], true))
                    .count()
            }
            other => other.output_rows(),
        }
    }

    /// For each input row, whether it is in the output (built in one pass).
    pub fn selected(&self) -> Vec<bool> {
        match self {
            RowSelection::All { rows } => vec![true; *rows],
            RowSelection::Filter { mask, .. } => mask.values().iter().collect(),
            RowSelection::Take {
                indices,
                input_rows,
            } => {
                let mut selected = vec![false; *input_rows];
                indices
                    .values()
                    .iter()
                    .for_each(|&r| selected[r as usize] = true);
                selected
            }
        }
    }

    pub fn apply(&self, column: &ArrayRef) -> Result<ArrayRef, ArrowError> {
        match self {
            RowSelection::All { .. } => Ok(column.clone()),
            RowSelection::Filter { predicate, .. } => predicate.filter(column),
            RowSelection::Take { indices, .. } => take(column, indices, None),
        }
    }

    pub fn apply_batch(&self, batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
        match self {
            RowSelection::All { .. } => Ok(batch.clone()),
            RowSelection::Filter { predicate, .. } => predicate.filter_record_batch(batch),
            RowSelection::Take { indices, .. } => take_record_batch(batch, indices),
        }
    }

    /// The input row of each output row.
    pub fn origins(&self) -> UInt32Array {
        match self {
            RowSelection::All { rows } => (0..*rows as u32).collect(),
            RowSelection::Filter { mask, .. } => {
                mask.values().set_indices().map(|i| i as u32).collect()
            }
            RowSelection::Take { indices, .. } => indices.clone(),
        }
    }
}

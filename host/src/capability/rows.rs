//! The rows of the batch in flight, as a capability call names them: the
//! batch exists only during the sink's `write`, a call names rows by their
//! index in it (all of them when it names none), and each index is checked.

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;

/// The batch being written, or an error naming what `what` needs it for.
pub fn in_flight<'a>(
    batch: Option<&'a RecordBatch>,
    what: &str,
) -> Result<&'a RecordBatch, String> {
    batch.ok_or_else(|| format!("{what} during `write`"))
}

/// The rows a call names (every row when `None`), each checked to exist.
pub fn named(batch: &RecordBatch, rows: Option<Vec<u32>>) -> Result<Vec<u32>, String> {
    let n = batch.num_rows();
    match rows {
        None => Ok((0..n as u32).collect()),
        Some(rows) => match rows.iter().find(|&&r| r as usize >= n) {
            Some(bad) => Err(format!("row {bad} does not exist: the batch has {n} rows")),
            None => Ok(rows),
        },
    }
}

/// Those rows (every row when `None`) and columns (every column when
/// `None`) of the batch, as a batch of their own.
pub fn select(
    batch: &RecordBatch,
    rows: Option<&[u32]>,
    columns: Option<&[usize]>,
) -> Result<RecordBatch, String> {
    let batch = match columns {
        Some(c) => batch.project(c).map_err(|e| e.to_string())?,
        None => batch.clone(),
    };
    match rows {
        None => Ok(batch),
        Some(rows) => {
            take_record_batch(&batch, &UInt32Array::from(rows.to_vec())).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int32Array;
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([("n", Arc::new(Int32Array::from(vec![1, 2, 3])) as _)]).unwrap()
    }

    #[test]
    fn rows_are_all_or_those_named_each_checked() {
        assert_eq!(named(&batch(), None).unwrap(), vec![0, 1, 2]);
        assert_eq!(named(&batch(), Some(vec![2, 0])).unwrap(), vec![2, 0]);
        assert_eq!(
            named(&batch(), Some(vec![3])).unwrap_err(),
            "row 3 does not exist: the batch has 3 rows"
        );
        assert_eq!(select(&batch(), Some(&[2]), None).unwrap().num_rows(), 1);
    }

    #[test]
    fn outside_write_there_are_no_rows() {
        assert_eq!(
            in_flight(None, "rows can only be written").unwrap_err(),
            "rows can only be written during `write`"
        );
    }
}

//! What a transform returns for a batch: which input rows survive, the
//! columns it computed, and the rows it rejects. Columns it leaves alone are
//! passed through by the host and never copied back across the boundary.

use crate::batch::{Batch, Row};
use crate::bindings::weir::plugin::types as wit;
use crate::builder::{Builder, Push, Value, copy_column, set_bit};
use crate::column::{Column, bit};
use crate::{Error, Plan, Schema};

/// Which input rows make up the output, in order.
#[derive(Debug, Clone, PartialEq)]
enum Selection {
    All,
    Mask(Vec<u8>),
    Take(Vec<u32>),
}

/// The input rows of an output, in order (see [`Output::selected_rows`]).
pub struct SelectedRows<'a>(Rows<'a>);

enum Rows<'a> {
    All(std::ops::Range<usize>),
    /// Walks the mask a 64-bit word at a time, skipping unset bits.
    Mask {
        bits: &'a [u8],
        next_word: usize,
        word: u64,
        base: usize,
    },
    Take(std::slice::Iter<'a, u32>),
}

impl Iterator for SelectedRows<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match &mut self.0 {
            Rows::All(range) => range.next(),
            Rows::Take(rows) => rows.next().map(|&r| r as usize),
            Rows::Mask {
                bits,
                next_word,
                word,
                base,
            } => {
                while *word == 0 {
                    let start = *next_word * 8;
                    if start >= bits.len() {
                        return None;
                    }
                    let end = (start + 8).min(bits.len());
                    let mut raw = [0u8; 8];
                    raw[..end - start].copy_from_slice(&bits[start..end]);
                    *word = u64::from_le_bytes(raw);
                    *base = start * 8;
                    *next_word += 1;
                }
                let row = *base + word.trailing_zeros() as usize;
                *word &= *word - 1;
                Some(row)
            }
        }
    }
}

type Finish = Box<dyn FnOnce(&crate::Field, &mut Vec<wit::Array>) -> Result<u32, Error> + 'static>;

struct Computed {
    name: String,
    len: usize,
    finish: Finish,
}

/// The result of processing one batch, built from the batch with
/// [`Batch::output`], [`Batch::filter`], [`Batch::map`] or [`Batch::flat_map`].
pub struct Output {
    batch: Batch,
    selection: Selection,
    computed: Vec<Computed>,
    pub(crate) rejections: Vec<wit::Rejection>,
}

impl Output {
    pub(crate) fn new(batch: Batch) -> Self {
        Output {
            batch,
            selection: Selection::All,
            computed: Vec::new(),
            rejections: Vec::new(),
        }
    }

    /// The number of rows the output has so far.
    pub fn num_rows(&self) -> usize {
        match &self.selection {
            Selection::All => self.batch.num_rows(),
            Selection::Mask(bits) => bits.iter().map(|b| b.count_ones() as usize).sum(),
            Selection::Take(rows) => rows.len(),
        }
    }

    /// The input rows that make up the output, in output order.
    pub fn selected_rows(&self) -> SelectedRows<'_> {
        let n = self.batch.num_rows();
        SelectedRows(match &self.selection {
            Selection::All => Rows::All(0..n),
            Selection::Mask(bits) => Rows::Mask {
                bits,
                next_word: 0,
                word: 0,
                base: 0,
            },
            Selection::Take(rows) => Rows::Take(rows.iter()),
        })
    }

    /// Keeps only the selected rows for which `keep` is true.
    pub fn filter(mut self, mut keep: impl FnMut(Row<'_>) -> bool) -> Self {
        self.assert_no_computed("filter");
        let batch = self.batch.clone();
        self.selection = match std::mem::replace(&mut self.selection, Selection::All) {
            Selection::All => {
                // A byte of the mask at a time: no read-modify-write per row.
                let n = batch.num_rows();
                let mut bits = vec![0u8; n.div_ceil(8)];
                for (index, byte) in bits.iter_mut().enumerate() {
                    let base = index * 8;
                    let mut value = 0u8;
                    for i in base..(base + 8).min(n) {
                        value |= (keep(batch.row(i)) as u8) << (i - base);
                    }
                    *byte = value;
                }
                Selection::Mask(bits)
            }
            Selection::Mask(mut bits) => {
                for i in 0..batch.num_rows() {
                    if bit(&bits, i) && !keep(batch.row(i)) {
                        bits[i >> 3] &= !(1 << (i & 7));
                    }
                }
                Selection::Mask(bits)
            }
            Selection::Take(mut rows) => {
                rows.retain(|&i| keep(batch.row(i as usize)));
                Selection::Take(rows)
            }
        };
        self
    }

    /// Sends input row `row` to the dead-letter with `reason`, and drops it
    /// from the output. Reject rows before computing columns.
    pub fn reject(&mut self, row: usize, reason: impl Into<String>) {
        self.assert_no_computed("reject");
        let n = self.batch.num_rows();
        match &mut self.selection {
            Selection::All => {
                let mut bits = vec![0u8; n.div_ceil(8)];
                (0..n).for_each(|i| set_bit(&mut bits, i, true));
                set_bit(&mut bits, row, false);
                self.selection = Selection::Mask(bits);
            }
            Selection::Mask(bits) => set_bit(bits, row, false),
            Selection::Take(rows) => rows.retain(|&i| i as usize != row),
        }
        self.rejections.push(wit::Rejection {
            row: row as u32,
            reason: reason.into(),
        });
    }

    /// Sets column `name` (replacing the input column of that name, or adding
    /// one) to `f` of every selected row.
    pub fn map<V: Value>(self, name: &str, mut f: impl FnMut(Row<'_>) -> V) -> Self {
        let batch = self.batch.clone();
        let mut builder = V::Builder::default();
        for i in self.selected_rows() {
            builder.push(f(batch.row(i)));
        }
        self.set(name, builder)
    }

    /// Replaces the selection: each selected row appears once per value `f`
    /// yields, and column `name` holds that value.
    pub fn flat_map<V: Value, I: IntoIterator<Item = V>>(
        mut self,
        name: &str,
        mut f: impl FnMut(Row<'_>) -> I,
    ) -> Self {
        self.assert_no_computed("flat_map");
        let batch = self.batch.clone();
        let mut builder = V::Builder::default();
        let mut take = Vec::new();
        for i in self.selected_rows().collect::<Vec<_>>() {
            for value in f(batch.row(i)) {
                builder.push(value);
                take.push(i as u32);
            }
        }
        self.selection = Selection::Take(take);
        self.set(name, builder)
    }

    /// Sets column `name` to a column built by hand, one value per output row.
    pub fn set<B: Builder + 'static>(self, name: &str, builder: B) -> Self {
        let len = builder.len();
        self.compute(
            name,
            len,
            Box::new(move |field, arrays| builder.finish(field, arrays)),
        )
    }

    /// Sets column `name` to a copy of `column`, which must have one value per
    /// output row. Use it to rename or reorder columns.
    pub fn copy(self, name: &str, column: Column<'_>) -> Self {
        let mut arrays = Vec::new();
        copy_column(column, &mut arrays);
        let len = column.len();
        let finish: Finish = Box::new(move |_field, out| {
            // Children precede their parent, so the last array is the column;
            // re-base child indices onto `out`.
            let base = out.len() as u32;
            for mut array in arrays {
                match &mut array.values {
                    wit::Values::List(list) => list.item += base,
                    wit::Values::Struct(children) => children.iter_mut().for_each(|c| *c += base),
                    _ => {}
                }
                out.push(array);
            }
            Ok(out.len() as u32 - 1)
        });
        self.compute(name, len, finish)
    }

    /// Records computed column `name` (replacing an earlier one of that name).
    fn compute(mut self, name: &str, len: usize, finish: Finish) -> Self {
        self.computed.retain(|c| c.name != name);
        self.computed.push(Computed {
            name: name.to_string(),
            len,
            finish,
        });
        self
    }

    fn assert_no_computed(&self, what: &str) {
        // Computed columns hold one value per selected row at the time they
        // were built; changing the selection afterwards would misalign them.
        assert!(
            self.computed.is_empty(),
            "Output::{what} was called after a column was computed; change the rows first"
        );
    }

    /// Assembles the contract's output for the planned schema: planned columns
    /// not computed here are passed through from the input by name.
    pub(crate) fn into_wit(
        self,
        input: &Schema,
        plan: &Plan,
    ) -> Result<wit::TransformOutput, Error> {
        let rows = self.num_rows();
        for c in &self.computed {
            if plan.output.index_of(&c.name).is_none() {
                return Err(Error::new(format!(
                    "process computed column `{}`, which describe did not plan",
                    c.name
                )));
            }
            if c.len != rows {
                return Err(Error::new(format!(
                    "computed column `{}` has {} values for {rows} output rows",
                    c.name, c.len
                )));
            }
        }
        let mut computed = self.computed;
        let mut arrays = Vec::new();
        let mut columns = Vec::with_capacity(plan.output.fields.len());
        for field in &plan.output.fields {
            let source = match computed.iter().position(|c| c.name == field.name) {
                Some(i) => wit::ColumnSource::Computed((computed.swap_remove(i).finish)(
                    field,
                    &mut arrays,
                )?),
                None => match input.index_of(&field.name) {
                    Some(i) if input.fields[i].data_type == field.data_type => {
                        wit::ColumnSource::Input(i as u32)
                    }
                    Some(_) => {
                        return Err(Error::new(format!(
                            "column `{}` changes type in the plan, so process must compute it",
                            field.name
                        )));
                    }
                    None => {
                        return Err(Error::new(format!(
                            "planned column `{}` is neither computed by process nor an input column",
                            field.name
                        )));
                    }
                },
            };
            columns.push(wit::OutputColumn {
                name: field.name.clone(),
                source,
            });
        }
        let rows = match self.selection {
            Selection::All => wit::RowSelection::All,
            Selection::Mask(bits) => wit::RowSelection::Mask(bits),
            Selection::Take(rows) => wit::RowSelection::Take(rows),
        };
        Ok(wit::TransformOutput {
            rows,
            columns,
            arrays,
            rejections: self.rejections,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::weir::plugin::types as wit;

    fn batch(values: &[Option<&str>]) -> Batch {
        let mut offsets = vec![0i32];
        let mut bytes = Vec::new();
        let mut validity = vec![0u8; values.len().div_ceil(8)];
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v {
                bytes.extend_from_slice(v.as_bytes());
                set_bit(&mut validity, i, true);
            }
            offsets.push(bytes.len() as i32);
        }
        let schema = Schema::new(vec![crate::Field::new(
            "value",
            crate::DataType::Utf8,
            true,
        )]);
        Batch::new(wit::Batch {
            schema: schema.to_wit(),
            num_rows: values.len() as u32,
            arrays: vec![wit::Array {
                len: values.len() as u32,
                validity: Some(validity),
                values: wit::Values::Utf8(wit::VarBytes { offsets, bytes }),
            }],
            columns: vec![0],
        })
    }

    #[test]
    fn selected_rows_walk_masks_across_words_and_partial_bytes() {
        let values: Vec<Option<&str>> = (0..70)
            .map(|i| if i % 3 == 0 { Some("x") } else { None })
            .collect();
        let b = batch(&values);
        let out = b.filter(|row| row.utf8("value").is_some());
        let rows: Vec<usize> = out.selected_rows().collect();
        assert_eq!(rows, (0..70).filter(|i| i % 3 == 0).collect::<Vec<_>>());
        assert_eq!(out.num_rows(), 24);
    }

    #[test]
    fn reject_removes_the_row_and_counts_only_real_rows() {
        let b = batch(&[Some("a"), Some("b"), Some("c")]);
        let mut out = b.output();
        out.reject(1, "bad");
        assert_eq!(out.selected_rows().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(out.num_rows(), 2, "bits past the last row must not count");
        assert_eq!(out.rejections[0].reason, "bad");
    }

    #[test]
    fn map_computes_only_selected_rows_and_keeps_nulls() {
        let b = batch(&[Some("a"), None, Some("c"), Some("d")]);
        let out = b
            .filter(|row| row.index() != 3)
            .map("value", |row| row.utf8("value").map(str::to_uppercase));
        let plan = Plan::new(b.schema().clone());
        let wit_out = out.into_wit(b.schema(), &plan).unwrap();
        let array = &wit_out.arrays[0];
        assert_eq!(array.len, 3);
        let wit::Values::Utf8(data) = &array.values else {
            panic!("utf8 expected")
        };
        assert_eq!(data.bytes, b"AC");
        assert_eq!(data.offsets, [0, 1, 1, 2]);
        assert_eq!(array.validity.as_deref(), Some(&[0b101u8][..]));
    }

    #[test]
    fn flat_map_repeats_rows_in_order() {
        let b = batch(&[Some("a b"), Some(""), Some("c")]);
        let out = b.flat_map("value", |row| {
            row.utf8("value")
                .unwrap_or("")
                .split(' ')
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        });
        assert_eq!(out.selected_rows().collect::<Vec<_>>(), [0, 0, 2]);
    }

    #[test]
    fn the_output_is_checked_against_the_plan() {
        let b = batch(&[Some("a")]);
        let plan = Plan::new(b.schema().clone());
        let err = b
            .map("other", |_| 1i64)
            .into_wit(b.schema(), &plan)
            .unwrap_err();
        assert_eq!(
            err.message(),
            "process computed column `other`, which describe did not plan"
        );
        let typed = Plan::new(Schema::new(vec![crate::Field::new(
            "value",
            crate::DataType::Int64,
            true,
        )]));
        let err = b
            .map("value", |_| "text")
            .into_wit(b.schema(), &typed)
            .unwrap_err();
        assert!(err.message().contains("built as utf8"), "{}", err.message());
    }
}

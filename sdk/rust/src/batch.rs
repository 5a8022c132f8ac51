//! The input batch a transform receives: column access by name, typed views,
//! and row views for row-at-a-time code.

use crate::bindings::weir::plugin::types as wit;
use crate::column::{Binary, Boolean, Column, Decimal128, List, Primitive, Struct, Utf8};
use crate::{Error, Output, Schema, Value};
use std::rc::Rc;

/// A batch of rows, as the host sent it: only the columns the plan reads.
/// Cloning it is cheap (the data is shared).
#[derive(Clone)]
pub struct Batch {
    data: Rc<BatchData>,
}

struct BatchData {
    inner: wit::Batch,
    schema: Schema,
}

macro_rules! typed_accessor {
    ($(#[$doc:meta])* $name:ident, $variant:ident, $view:ty, |$col:ident, $data:ident| $make:expr) => {
        $(#[$doc])*
        pub fn $name(&self, column: &str) -> Result<$view, Error> {
            let $col = self.column(column)?;
            match &$col.array().values {
                wit::Values::$variant($data) => Ok($make),
                _ => Err(Error::new(format!(
                    "column `{column}` is {}, not {}",
                    $col.type_name(),
                    stringify!($name)
                ))),
            }
        }
    };
}

impl Batch {
    pub(crate) fn new(inner: wit::Batch) -> Self {
        let schema = Schema::from_wit(&inner.schema);
        Batch {
            data: Rc::new(BatchData { inner, schema }),
        }
    }

    pub fn num_rows(&self) -> usize {
        self.data.inner.num_rows as usize
    }

    /// The columns present in this batch (the plan's projection of the input).
    pub fn schema(&self) -> &Schema {
        &self.data.schema
    }

    /// The column called `name`, of any type.
    pub fn column(&self, name: &str) -> Result<Column<'_>, Error> {
        let position = match self.data.schema.index_of(name) {
            Some(p) => p,
            None => {
                self.data.schema.require(name)?;
                unreachable!()
            }
        };
        Ok(Column {
            arrays: &self.data.inner.arrays,
            index: self.data.inner.columns[position],
        })
    }

    typed_accessor!(boolean, Boolean, Boolean<'_>, |c, bits| Boolean::new(
        bits,
        c.len(),
        c.validity()
    ));
    typed_accessor!(int32, Int32, Primitive<'_, i32>, |c, v| Primitive::new(
        v,
        c.validity()
    ));
    typed_accessor!(int64, Int64, Primitive<'_, i64>, |c, v| Primitive::new(
        v,
        c.validity()
    ));
    typed_accessor!(float32, Float32, Primitive<'_, f32>, |c, v| Primitive::new(
        v,
        c.validity()
    ));
    typed_accessor!(float64, Float64, Primitive<'_, f64>, |c, v| Primitive::new(
        v,
        c.validity()
    ));
    typed_accessor!(utf8, Utf8, Utf8<'_>, |c, d| Utf8::new(d, c.validity()));
    typed_accessor!(binary, Binary, Binary<'_>, |c, d| Binary::new(
        d,
        c.validity()
    ));
    typed_accessor!(
        /// Timestamps as integers in the column's unit (see its field's type).
        timestamp, Timestamp, Primitive<'_, i64>, |c, v| Primitive::new(v, c.validity()));
    typed_accessor!(
        /// Dates as days since 1970-01-01.
        date32, Date32, Primitive<'_, i32>, |c, v| Primitive::new(v, c.validity()));
    typed_accessor!(decimal128, Decimal128, Decimal128<'_>, |c, b| {
        Decimal128::new(b, c.validity())
    });
    typed_accessor!(list, List, List<'_>, |c, d| List::new(d, c));
    typed_accessor!(struct_, Struct, Struct<'_>, |c, children| Struct::new(
        children, c
    ));

    /// A batch of only the columns `names`, in that order (the data is
    /// copied): the keys to look up in a table, say.
    pub fn select(&self, names: &[&str]) -> Result<Batch, Error> {
        let mut fields = Vec::with_capacity(names.len());
        let mut arrays = Vec::new();
        let mut columns = Vec::with_capacity(names.len());
        for name in names {
            let field = self.data.schema.require(name)?;
            fields.push(field.clone());
            columns.push(crate::builder::copy_column(self.column(name)?, &mut arrays));
        }
        Ok(Batch::new(wit::Batch {
            schema: Schema::new(fields).to_wit(),
            num_rows: self.data.inner.num_rows,
            arrays,
            columns,
        }))
    }

    pub(crate) fn as_wit(&self) -> &wit::Batch {
        &self.data.inner
    }

    /// Every row, for row-at-a-time code.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> + '_ {
        (0..self.num_rows()).map(move |index| Row { batch: self, index })
    }

    pub fn row(&self, index: usize) -> Row<'_> {
        Row { batch: self, index }
    }

    /// An output that keeps every row and passes every column through.
    pub fn output(&self) -> Output {
        Output::new(self.clone())
    }

    /// Keeps the rows for which `keep` is true.
    pub fn filter(&self, keep: impl FnMut(Row<'_>) -> bool) -> Output {
        self.output().filter(keep)
    }

    /// Sets column `name` (replacing it, or adding it) to `f` of every row.
    pub fn map<V: Value>(&self, name: &str, f: impl FnMut(Row<'_>) -> V) -> Output {
        self.output().map(name, f)
    }

    /// Turns each row into as many rows as `f` yields values, each with one
    /// of them in column `name` (as Spark's `explode` does).
    pub fn flat_map<V: Value, I: IntoIterator<Item = V>>(
        &self,
        name: &str,
        f: impl FnMut(Row<'_>) -> I,
    ) -> Output {
        self.output().flat_map(name, f)
    }
}

/// One row of a batch. Accessors look columns up by name and return `None`
/// for a null; they panic if the column does not exist or has another type,
/// which is a bug that `describe` should have caught.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    batch: &'a Batch,
    index: usize,
}

macro_rules! row_accessor {
    ($name:ident, $ty:ty) => {
        pub fn $name(&self, column: &str) -> Option<$ty> {
            self.batch
                .$name(column)
                .unwrap_or_else(|e| panic!("{}", e.message()))
                .get(self.index)
        }
    };
}

impl<'a> Row<'a> {
    /// The row's position in its batch.
    pub fn index(&self) -> usize {
        self.index
    }

    row_accessor!(boolean, bool);
    row_accessor!(int32, i32);
    row_accessor!(int64, i64);
    row_accessor!(float32, f32);
    row_accessor!(float64, f64);
    row_accessor!(utf8, &'a str);
    row_accessor!(binary, &'a [u8]);
    row_accessor!(timestamp, i64);
    row_accessor!(date32, i32);
    row_accessor!(decimal128, i128);
}

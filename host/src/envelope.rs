//! A batch on its way through a pipeline: the rows, and where each came from
//! (source and offset), so a row rejected several stages later is still
//! traced to its input.

use crate::runtime::RowSelection;
use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use std::sync::{Arc, LazyLock};

static ORIGIN_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("_source", DataType::Utf8, false),
        Field::new("_offset", DataType::Int64, false),
    ]))
});

/// Rows plus their origins (a `_source` and `_offset` per row).
#[derive(Debug, Clone)]
pub struct Envelope {
    pub data: RecordBatch,
    origin: RecordBatch,
}

impl Envelope {
    pub fn new(data: RecordBatch, sources: Vec<&str>, offsets: Vec<i64>) -> Self {
        assert_eq!(data.num_rows(), offsets.len(), "one origin per row");
        let origin = RecordBatch::try_new(
            ORIGIN_SCHEMA.clone(),
            vec![
                Arc::new(StringArray::from(sources)),
                Arc::new(Int64Array::from(offsets)),
            ],
        )
        .expect("origin columns match their schema");
        Envelope { data, origin }
    }

    /// Rows whose origins are `origin`'s rows (a `_source` and an `_offset`
    /// column, as [`Envelope::origins`] gives them), one per row.
    pub fn from_parts(data: RecordBatch, origin: RecordBatch) -> Self {
        assert_eq!(data.num_rows(), origin.num_rows(), "one origin per row");
        Envelope { data, origin }
    }

    /// The columns of [`Envelope::origins`].
    pub fn origin_schema() -> SchemaRef {
        ORIGIN_SCHEMA.clone()
    }

    /// Each row's origin, as columns `_source` and `_offset`.
    pub fn origins(&self) -> &RecordBatch {
        &self.origin
    }

    pub fn num_rows(&self) -> usize {
        self.data.num_rows()
    }

    /// The source and offset of row `row`.
    pub fn origin(&self, row: usize) -> (&str, i64) {
        let sources = self
            .origin
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        let offsets = self
            .origin
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("int64");
        (sources.value(row), offsets.value(row))
    }

    /// The envelope after a stage: `data`, made of the input rows `selection` names.
    pub fn derive(&self, data: RecordBatch, selection: &RowSelection) -> Envelope {
        let origin = selection
            .apply_batch(&self.origin)
            .expect("the selection was checked against this batch");
        Envelope { data, origin }
    }
}

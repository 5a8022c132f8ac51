//! The Kafka metadata columns appended to every decoded row: `_key`,
//! `_partition`, `_offset`, `_timestamp`, and with `include_headers`
//! `_headers` (a list of key/value structs: the plugin contract has lists
//! and structs, no maps; CSV sinks cannot hold it, hence opt-in as in Spark).

use arrow::array::{
    ArrayRef, BinaryBuilder, Int32Array, Int64Array, ListBuilder, RecordBatch, StringBuilder,
    StructBuilder, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// What weir keeps of a record besides its value.
pub struct Meta {
    pub key: Option<Vec<u8>>,
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

fn header_fields() -> Fields {
    Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", DataType::Binary, true),
    ])
}

pub fn fields(headers: bool) -> Vec<Field> {
    let mut fields = vec![
        Field::new("_key", DataType::Binary, true),
        Field::new("_partition", DataType::Int32, false),
        Field::new("_offset", DataType::Int64, false),
        Field::new(
            "_timestamp",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            true,
        ),
    ];
    if headers {
        fields.push(Field::new(
            "_headers",
            DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(header_fields()),
                true,
            ))),
            false,
        ));
    }
    fields
}

/// `values` (the decoded columns) followed by the metadata columns.
pub fn schema(values: &Schema, headers: bool) -> SchemaRef {
    let mut all: Vec<Field> = values.fields().iter().map(|f| (**f).clone()).collect();
    all.extend(fields(headers));
    Arc::new(Schema::new(all))
}

/// `values` with the metadata of its rows (`meta`, one per row) appended.
pub fn append(
    values: RecordBatch,
    partition: i32,
    meta: &[&Meta],
    schema: &SchemaRef,
) -> RecordBatch {
    let n = meta.len();
    let mut keys = BinaryBuilder::with_capacity(n, n * 8);
    for m in meta {
        keys.append_option(m.key.as_deref());
    }
    let with_headers = schema.field_with_name("_headers").is_ok();
    let mut headers = ListBuilder::new(StructBuilder::from_fields(header_fields(), 0));
    for m in meta.iter().filter(|_| with_headers) {
        let entries = headers.values();
        for (k, v) in &m.headers {
            entries
                .field_builder::<StringBuilder>(0)
                .expect("key")
                .append_value(k);
            entries
                .field_builder::<BinaryBuilder>(1)
                .expect("value")
                .append_option(v.as_deref());
            entries.append(true);
        }
        headers.append(true);
    }
    let mut columns: Vec<ArrayRef> = values.columns().to_vec();
    columns.push(Arc::new(keys.finish()));
    columns.push(Arc::new(Int32Array::from(vec![partition; n])));
    columns.push(Arc::new(Int64Array::from_iter_values(
        meta.iter().map(|m| m.offset),
    )));
    columns.push(Arc::new(
        TimestampMillisecondArray::from_iter(meta.iter().map(|m| m.timestamp)).with_timezone("UTC"),
    ));
    if with_headers {
        columns.push(Arc::new(headers.finish()));
    }
    RecordBatch::try_new(schema.clone(), columns).expect("metadata columns follow the schema")
}

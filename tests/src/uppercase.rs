//! The input the `uppercase` plugin is measured and tested on (seeded
//! random rows), and its native twin: `weir bench transform` times both and
//! tests/e2e/sdk.rs checks that the plugin's output equals the native one.

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampMillisecondArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::cmp::gt_eq;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

/// The `min_score` the plugin is configured with, and the native twin uses.
pub const MIN_SCORE: f64 = 0.5;

/// The input's columns: `id, name, city, score, ts`.
pub fn input_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("city", DataType::Utf8, false),
        Field::new("score", DataType::Float64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

/// `rows` rows of seeded random data, in batches of `batch`.
pub fn generate(rows: usize, batch: usize) -> Vec<RecordBatch> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let cities = ["Seoul", "Busan", "Incheon", "Daegu", "Daejeon", "Gwangju"];
    let mut batches = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = batch.min(rows - start);
        let mut names = StringBuilder::with_capacity(n, n * 12);
        for _ in 0..n {
            if rng.random_range(0..100) == 0 {
                names.append_null();
            } else {
                let len = rng.random_range(6..14);
                let name: String = (0..len)
                    .map(|_| rng.random_range(b'a'..=b'z') as char)
                    .collect();
                names.append_value(name);
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                start as i64..(start + n) as i64,
            )),
            Arc::new(names.finish()),
            Arc::new(StringArray::from_iter_values(
                (0..n).map(|_| cities[rng.random_range(0..cities.len())]),
            )),
            Arc::new(Float64Array::from_iter_values(
                (0..n).map(|_| rng.random::<f64>()),
            )),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                (0..n).map(|i| 1_767_225_600_000 + (start + i) as i64),
            )),
        ];
        batches.push(
            RecordBatch::try_new(input_schema(), columns).expect("columns follow the schema"),
        );
        start += n;
    }
    batches
}

/// The native twin of the `uppercase` plugin.
pub fn native_uppercase(batch: &RecordBatch) -> RecordBatch {
    let keep =
        gt_eq(batch.column(3), &Float64Array::new_scalar(MIN_SCORE)).expect("score is float64");
    let kept = filter_record_batch(batch, &keep).expect("mask fits the batch");
    // The same loop as the plugin's builder: one pass into one buffer.
    let names = kept.column(1).as_string::<i32>();
    let mut offsets = Vec::with_capacity(names.len() + 1);
    offsets.push(0i32);
    let mut text: Vec<u8> = Vec::with_capacity(names.value_data().len());
    for name in names.iter() {
        match name {
            Some(n) if n.is_ascii() => text.extend(n.bytes().map(|b| b.to_ascii_uppercase())),
            Some(n) => text.extend_from_slice(n.to_uppercase().as_bytes()),
            None => {}
        }
        offsets.push(text.len() as i32);
    }
    // `new` checks the offsets and the UTF-8, as the host does for a plugin.
    let upper = StringArray::new(
        OffsetBuffer::new(offsets.into()),
        text.into(),
        names.nulls().cloned(),
    );
    let mut columns = kept.columns().to_vec();
    columns[1] = Arc::new(upper);
    RecordBatch::try_new(kept.schema(), columns).expect("same schema")
}

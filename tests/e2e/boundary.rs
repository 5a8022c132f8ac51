//! Every column type through the plugin boundary and back (the `echo` guest
//! returns each input column as a computed copy), and pass-through columns
//! coming back without a copy.

use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray, StructArray,
    TimestampMillisecondArray, TimestampNanosecondArray, UInt16Array,
};
use arrow::datatypes::{DataType, Field, Fields, Float64Type, Int32Type, Schema};
use std::sync::Arc;
use weir::runtime::{BatchOutcome, ComponentCache, Runtime, TransformPlugin};
use weir_tests::plugin;

fn runtime() -> Runtime {
    Runtime::new(ComponentCache::disabled()).unwrap()
}

fn load(name: &str, schema: Arc<Schema>) -> TransformPlugin {
    TransformPlugin::load(&runtime(), name, &plugin(name), Vec::new(), schema).unwrap()
}

/// One column of every type the contract carries, with nulls, empty and
/// long and non-ASCII values, nested lists and structs.
fn every_type() -> RecordBatch {
    let long = "ß".repeat(70_000);
    let members = Fields::from(vec![
        Field::new("label", DataType::Utf8, true),
        Field::new(
            "weights",
            DataType::List(Arc::new(Field::new("item", DataType::Float64, true))),
            true,
        ),
    ]);
    let columns: Vec<(&str, ArrayRef)> = vec![
        (
            "bool",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
                Some(false),
            ])),
        ),
        (
            "int32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                Some(0),
                None,
                Some(7),
                Some(i32::MAX),
            ])),
        ),
        (
            "int64",
            Arc::new(Int64Array::from(vec![
                Some(i64::MAX),
                None,
                Some(-1),
                Some(0),
                Some(i64::MIN),
            ])),
        ),
        (
            "float32",
            Arc::new(Float32Array::from(vec![
                Some(1.5),
                Some(f32::INFINITY),
                None,
                Some(-0.0),
                Some(3.25),
            ])),
        ),
        (
            "float64",
            Arc::new(Float64Array::from(vec![
                None,
                Some(f64::MIN_POSITIVE),
                Some(2.5),
                Some(-1e300),
                Some(0.1),
            ])),
        ),
        (
            "utf8",
            Arc::new(StringArray::from(vec![
                Some("Jöhn 東京 🚀"),
                Some(""),
                None,
                Some(long.as_str()),
                Some("plain"),
            ])),
        ),
        (
            "binary",
            Arc::new(BinaryArray::from(vec![
                Some(&b"\0\xff"[..]),
                None,
                Some(&b""[..]),
                Some(&b"abc"[..]),
                Some(&[7u8; 300][..]),
            ])),
        ),
        (
            "ts_ms",
            Arc::new(
                TimestampMillisecondArray::from(vec![
                    Some(0),
                    Some(1_767_225_600_000),
                    None,
                    Some(-5),
                    Some(1),
                ])
                .with_timezone("Asia/Seoul"),
            ),
        ),
        (
            "ts_ns",
            Arc::new(TimestampNanosecondArray::from(vec![
                Some(1),
                None,
                Some(i64::MAX),
                Some(0),
                Some(-1),
            ])),
        ),
        (
            "date",
            Arc::new(Date32Array::from(vec![
                Some(20_000),
                Some(-1),
                None,
                Some(0),
                Some(19_999),
            ])),
        ),
        (
            "decimal",
            Arc::new(
                Decimal128Array::from(vec![
                    Some(123_456),
                    None,
                    Some(-99_999_999_999_999_999),
                    Some(0),
                    Some(1),
                ])
                .with_precision_and_scale(20, 3)
                .unwrap(),
            ),
        ),
        (
            "list",
            Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
                Some(vec![Some(1), None, Some(3)]),
                None,
                Some(vec![]),
                Some(vec![Some(4)]),
                Some(vec![Some(5), Some(6)]),
            ])),
        ),
        (
            "struct",
            Arc::new(
                StructArray::try_new(
                    members,
                    vec![
                        Arc::new(StringArray::from(vec![
                            Some("a"),
                            None,
                            Some("c"),
                            Some("d"),
                            Some("é"),
                        ])),
                        Arc::new(ListArray::from_iter_primitive::<Float64Type, _, _>(vec![
                            Some(vec![Some(0.5)]),
                            None,
                            Some(vec![None, Some(1.0)]),
                            Some(vec![]),
                            Some(vec![Some(2.0)]),
                        ])),
                    ],
                    Some(vec![true, true, false, true, true].into()),
                )
                .unwrap(),
            ),
        ),
    ];
    RecordBatch::try_from_iter_with_nullable(columns.into_iter().map(|(n, a)| (n, a, true)))
        .unwrap()
}

fn echo(batch: &RecordBatch) -> RecordBatch {
    let mut echo = load("echo", batch.schema());
    match echo.process(batch) {
        BatchOutcome::Processed {
            output, rejections, ..
        } => {
            assert!(rejections.is_empty());
            output
        }
        BatchOutcome::Failed { reason } => panic!("echo failed: {reason}"),
    }
}

#[test]
fn every_column_type_survives_the_round_trip() {
    let batch = every_type();
    assert_eq!(echo(&batch), batch);
}

#[test]
fn a_sliced_batch_is_rebased_on_the_way_in() {
    // An offset that is not a multiple of 8 shifts every bitmap and offset.
    let batch = every_type().slice(1, 3);
    assert_eq!(echo(&batch), batch);
}

#[test]
fn an_empty_batch_round_trips() {
    let batch = every_type().slice(0, 0);
    let out = echo(&batch);
    assert_eq!(out.num_rows(), 0);
    assert_eq!(out.schema(), batch.schema());
}

#[test]
fn pass_through_columns_come_back_without_a_copy() {
    // `shout` computes only `name`; `id` is passed through by the host.
    let batch = RecordBatch::try_from_iter(vec![
        ("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        (
            "name",
            Arc::new(StringArray::from(vec![Some("ann"), None, Some("émile")])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mut shout = load("shout", batch.schema());
    let BatchOutcome::Processed { output, .. } = shout.process(&batch) else {
        panic!("shout failed")
    };
    let names = output
        .column(1)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(
        names.iter().collect::<Vec<_>>(),
        vec![Some("ANN"), None, Some("ÉMILE")]
    );
    let before = batch.column(0).to_data();
    let after = output.column(0).to_data();
    assert_eq!(
        before.buffers()[0].as_ptr(),
        after.buffers()[0].as_ptr(),
        "id must be the same buffer"
    );
}

#[test]
fn a_column_type_outside_the_contract_is_named() {
    let batch = RecordBatch::try_from_iter(vec![(
        "port",
        Arc::new(UInt16Array::from(vec![80u16])) as ArrayRef,
    )])
    .unwrap();
    let error = TransformPlugin::load(
        &runtime(),
        "echo",
        &plugin("echo"),
        Vec::new(),
        batch.schema(),
    )
    .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("column `port` has type UInt16"),
        "{message}"
    );
}

//! Unit tests of `decode`.

use super::*;
use crate::config::ddl::parse_schema;
use arrow::array::{AsArray, Int32Array};

fn lines(texts: &[&str]) -> Vec<Line> {
    let source: Arc<str> = Arc::from("input.csv");
    texts
        .iter()
        .enumerate()
        .map(|(i, t)| Line {
            source: source.clone(),
            offset: i as i64 + 1,
            text: t.to_string(),
            valid_utf8: true,
        })
        .collect()
}

#[test]
fn csv_keeps_good_lines_and_names_the_column_of_bad_ones() {
    let schema = parse_schema("name STRING NOT NULL, age INT, day DATE").unwrap();
    let decoder = Decoder::new(FileFormat::Csv, Some(schema), ',');
    let out = decoder.decode(lines(&[
        "Ann,31,2024-02-29",
        "Bob,abc,2024-01-01",
        "Cy,,",
        "Di,1",
        ",4,2024-01-01",
    ]));
    assert_eq!(out.batch.num_rows(), 2);
    let ages = out
        .batch
        .column(1)
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap();
    assert_eq!(ages.iter().collect::<Vec<_>>(), vec![Some(31), None]);
    let reasons: Vec<(i64, &str)> = out
        .rejected
        .iter()
        .map(|d| (d.offset, d.reason.as_str()))
        .collect();
    assert_eq!(reasons.len(), 3);
    assert_eq!(reasons[0].0, 2);
    assert!(
        reasons[0].1.contains("column `age`") && reasons[0].1.contains("\"abc\""),
        "{reasons:?}"
    );
    assert_eq!(reasons[1], (4, "expected 3 fields, found 2"));
    assert!(
        reasons[2].1.contains("column `name`") && reasons[2].1.contains("NOT NULL"),
        "{reasons:?}"
    );
    assert_eq!(
        out.rejected[0].input,
        serde_json::json!("Bob,abc,2024-01-01")
    );
}

#[test]
fn jsonl_rejects_type_mismatches_and_ignores_extra_keys() {
    let schema = parse_schema("name STRING, age BIGINT, ts TIMESTAMP").unwrap();
    let decoder = Decoder::new(FileFormat::Jsonl, Some(schema), ',');
    let out = decoder.decode(lines(&[
        r#"{"name":"Ann","age":31,"ts":"2026-01-01T00:00:01Z","extra":true}"#,
        r#"{"name":"Bob","age":"31"}"#,
        r#"not json"#,
    ]));
    assert_eq!(out.batch.num_rows(), 1);
    assert_eq!(out.batch.column(0).as_string::<i32>().value(0), "Ann");
    assert!(
        out.rejected[0]
            .reason
            .contains("column `age`: expected Int64, found \"31\""),
        "{}",
        out.rejected[0].reason
    );
    assert!(out.rejected[1].reason.starts_with("not a JSON object"));
}

#[test]
fn lines_keep_the_text_as_is() {
    let decoder = Decoder::new(FileFormat::Lines, None, ',');
    let out = decoder.decode(lines(&["Jöhn Doe, 25, Math", ""]));
    assert_eq!(
        out.batch.column(0).as_string::<i32>().value(0),
        "Jöhn Doe, 25, Math"
    );
    assert_eq!(out.batch.num_rows(), 2);
}

#[test]
fn csv_keeps_the_text_after_a_carriage_return_inside_a_line() {
    // Before, csv-core ended the record at the `\r`: "a\rb,2" became one
    // field "a" (refused: 1 field for 2) and "x,y\rz" lost "z".
    let schema = parse_schema("name STRING, note STRING").unwrap();
    let decoder = Decoder::new(FileFormat::Csv, Some(schema), ',');
    let out = decoder.decode(lines(&["a\rb,2", "x,y\rz", "\"q\rq\",w"]));
    assert!(out.rejected.is_empty(), "{:?}", out.rejected[0].reason);
    let names = out.batch.column(0).as_string::<i32>();
    let notes = out.batch.column(1).as_string::<i32>();
    assert_eq!(names.value(0), "a\rb");
    assert_eq!(notes.value(1), "y\rz");
    assert_eq!(names.value(2), "q\rq");
}

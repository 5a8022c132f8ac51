//! What a checkpoint keeps of an interval join: each side's held rows
//! (with their event times and whether they matched), the joined rows not
//! yet emitted, and both watermarks. Rows are kept as Parquet, which holds
//! every column type the sources decode to, with its Arrow type.

use super::{IntervalJoin, LEFT, RIGHT};
use crate::envelope::Envelope;
use crate::operator::StateTables;
use crate::window::WatermarkSnapshot;
use arrow::array::{AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::sync::Arc;
use std::time::Instant;

const SIDES: [&str; 2] = ["left", "right"];

pub(super) fn snapshot(join: &IntervalJoin) -> Result<StateTables, String> {
    let mut tables = StateTables::new();
    for side in [LEFT, RIGHT] {
        let (rows, times, matched) = join.sides[side].snapshot()?;
        tables.insert(format!("{}.rows", SIDES[side]), to_parquet(&rows)?);
        let held = RecordBatch::try_new(
            held_schema(),
            vec![
                Arc::new(Int64Array::from(times)),
                Arc::new(BooleanArray::from(matched)),
            ],
        )
        .map_err(|e| e.to_string())?;
        tables.insert(format!("{}.held", SIDES[side]), to_parquet(&held)?);
    }
    let (data, origin, times) = join
        .pending
        .parts(&join.output.schema(), &Envelope::origin_schema())?;
    tables.insert("waiting.rows".to_string(), to_parquet(&data)?);
    tables.insert("waiting.origin".to_string(), to_parquet(&origin)?);
    let times = RecordBatch::try_new(time_schema(), vec![Arc::new(Int64Array::from(times))])
        .map_err(|e| e.to_string())?;
    tables.insert("waiting.times".to_string(), to_parquet(&times)?);
    let watermarks = [
        join.watermarks[LEFT].snapshot(),
        join.watermarks[RIGHT].snapshot(),
    ];
    tables.insert(
        "watermarks".to_string(),
        serde_json::to_vec(&watermarks).map_err(|e| e.to_string())?,
    );
    Ok(tables)
}

pub(super) fn restore(join: &mut IntervalJoin, tables: &StateTables) -> Result<(), String> {
    let table = |name: &str| -> Result<RecordBatch, String> {
        let bytes = tables
            .get(name)
            .ok_or_else(|| format!("the checkpoint has no `{name}`"))?;
        from_parquet(bytes).map_err(|e| format!("`{name}`: {e}"))
    };
    for side in [LEFT, RIGHT] {
        let rows = table(&format!("{}.rows", SIDES[side]))?;
        let held = table(&format!("{}.held", SIDES[side]))?;
        let times: Vec<i64> = held.column(0).as_primitive::<Int64Type>().values().to_vec();
        let matched: Vec<bool> = held
            .column(1)
            .as_boolean()
            .iter()
            .map(|m| m == Some(true))
            .collect();
        if rows.num_rows() != times.len() {
            return Err(format!(
                "{} side: {} rows but {} times",
                SIDES[side],
                rows.num_rows(),
                times.len()
            ));
        }
        join.sides[side].restore(rows, &times, &matched, &join.keys[side])?;
    }
    let data = table("waiting.rows")?;
    let origin = table("waiting.origin")?;
    let times = table("waiting.times")?;
    let times = times
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec();
    // The joined rows a restart finds waiting are thrown away, and those of
    // the checkpoint taken back: both are counted, so the counts add up.
    join.counts.abandoned += join.pending.len() as u64;
    join.pending.restore(data, origin, times);
    join.counts.restored += join.pending.len() as u64;
    let bytes = tables
        .get("watermarks")
        .ok_or("the checkpoint has no `watermarks`")?;
    let [left, right]: [WatermarkSnapshot; 2] =
        serde_json::from_slice(bytes).map_err(|e| format!("`watermarks`: {e}"))?;
    let now = Instant::now();
    join.watermarks[LEFT].restore(left, now);
    join.watermarks[RIGHT].restore(right, now);
    Ok(())
}

/// Whether rows of `schema` can be checkpointed (asked when the pipeline is
/// planned, so that a snapshot cannot fail later).
pub(super) fn check_schema(schema: &SchemaRef) -> Result<(), String> {
    to_parquet(&RecordBatch::new_empty(schema.clone())).map(|_| ())
}

fn held_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("time", DataType::Int64, false),
        Field::new("matched", DataType::Boolean, false),
    ]))
}

fn time_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "time",
        DataType::Int64,
        false,
    )]))
}

fn to_parquet(batch: &RecordBatch) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut bytes, batch.schema(), None).map_err(|e| e.to_string())?;
    writer.write(batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(bytes)
}

fn from_parquet(bytes: &[u8]) -> Result<RecordBatch, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .map_err(|e| e.to_string())?;
    let schema = builder.schema().clone();
    let reader = builder.build().map_err(|e| e.to_string())?;
    let batches = reader
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    concat_batches(&schema, &batches).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{StringArray, TimestampMicrosecondArray};

    #[test]
    fn rows_keep_their_arrow_types_through_a_checkpoint() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, true),
            Field::new(
                "ts",
                DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(TimestampMicrosecondArray::from(vec![1, 2]).with_timezone("UTC")),
            ],
        )
        .unwrap();
        let back = from_parquet(&to_parquet(&batch).unwrap()).unwrap();
        assert_eq!(back, batch);
        let empty =
            from_parquet(&to_parquet(&RecordBatch::new_empty(schema.clone())).unwrap()).unwrap();
        assert_eq!(empty.schema(), schema);
        assert_eq!(empty.num_rows(), 0);
    }
}

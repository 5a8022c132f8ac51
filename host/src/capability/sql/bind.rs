//! Arrow columns bound as SQL parameters: each column is cast once to a
//! type every driver binds, then values are bound row by row, borrowed.

use super::Db;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Float32Array, Float64Array,
    Int32Array, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use arrow::compute::{CastOptions, cast_with_options, take_record_batch};
use arrow::datatypes::{DataType, Date32Type, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::database::Database;
use sqlx::query::Query;
use sqlx::{Encode, Row, Type};

enum Bound {
    Bool(BooleanArray),
    I32(Int32Array),
    I64(Int64Array),
    F32(Float32Array),
    F64(Float64Array),
    Text(StringArray),
    Bytes(BinaryArray),
    /// Microseconds since the epoch; `zoned`: an instant (TIMESTAMPTZ),
    /// otherwise a wall-clock time.
    Timestamp {
        micros: Int64Array,
        zoned: bool,
    },
    Date(Date32Array),
}

/// The parameter columns of one call, in parameter order.
pub struct Columns {
    bound: Vec<Bound>,
    /// The same columns as they came, for the COPY path.
    batch: RecordBatch,
}

impl Columns {
    pub fn new(batch: &RecordBatch, indices: &[u32]) -> Result<Self, String> {
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        let mut bound = Vec::with_capacity(indices.len());
        let mut picked = Vec::with_capacity(indices.len());
        for &i in indices {
            let Some(column) = batch.columns().get(i as usize) else {
                return Err(format!(
                    "parameter column {i} does not exist: the batch has {} columns",
                    batch.num_columns()
                ));
            };
            picked.push(i as usize);
            let name = batch.schema().field(i as usize).name().clone();
            let to = |t: &DataType| -> Result<ArrayRef, String> {
                cast_with_options(column, t, &strict)
                    .map_err(|e| format!("column `{name}` cannot be bound as {t}: {e}"))
            };
            bound.push(match column.data_type() {
                DataType::Boolean => Bound::Bool(column.as_boolean().clone()),
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::UInt8
                | DataType::UInt16 => Bound::I32(to(&DataType::Int32)?.as_primitive().clone()),
                DataType::Int64 | DataType::UInt32 | DataType::UInt64 => {
                    Bound::I64(to(&DataType::Int64)?.as_primitive().clone())
                }
                DataType::Float16 | DataType::Float32 => {
                    Bound::F32(to(&DataType::Float32)?.as_primitive().clone())
                }
                DataType::Float64 => Bound::F64(column.as_primitive().clone()),
                DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _) => {
                    Bound::Text(to(&DataType::Utf8)?.as_string::<i32>().clone())
                }
                DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                    Bound::Bytes(to(&DataType::Binary)?.as_binary::<i32>().clone())
                }
                DataType::Timestamp(_, tz) => Bound::Timestamp {
                    micros: to(&DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))?
                        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    zoned: tz.is_some(),
                },
                DataType::Date32 | DataType::Date64 => {
                    Bound::Date(to(&DataType::Date32)?.as_primitive::<Date32Type>().clone())
                }
                other => {
                    return Err(format!(
                        "column `{name}` of type {other} cannot be written to SQL; flatten or \
                         convert it in a transform"
                    ));
                }
            });
        }
        let batch = batch.project(&picked).map_err(|e| e.to_string())?;
        Ok(Columns { bound, batch })
    }

    pub fn len(&self) -> usize {
        self.bound.len()
    }

    /// Whether PostgreSQL COPY (as CSV) can carry every column.
    pub fn copyable(&self) -> bool {
        !self.bound.iter().any(|b| matches!(b, Bound::Bytes(_)))
    }

    /// The selected rows of the columns, as they came.
    pub fn select(&self, rows: &[u32]) -> Result<RecordBatch, String> {
        if rows.len() == self.batch.num_rows()
            && rows.iter().enumerate().all(|(i, &r)| i as u32 == r)
        {
            return Ok(self.batch.clone());
        }
        take_record_batch(&self.batch, &UInt32Array::from(rows.to_vec())).map_err(|e| e.to_string())
    }
}

fn opt<'a, A: Array, T>(
    array: &'a A,
    row: usize,
    value: impl FnOnce(&'a A, usize) -> T,
) -> Option<T> {
    array.is_valid(row).then(|| value(array, row))
}

fn date(days: i32) -> NaiveDate {
    DateTime::from_timestamp(days as i64 * 86_400, 0)
        .expect("a Date32 is within chrono's range")
        .date_naive()
}

/// `text` with the values of `columns` in `rows` bound, row by row.
pub fn query<'q, DB>(
    text: &'q str,
    columns: &'q Columns,
    rows: &[u32],
) -> Result<Query<'q, DB, <DB as Database>::Arguments<'q>>, sqlx::Error>
where
    DB: Database,
    Option<bool>: Encode<'q, DB> + Type<DB>,
    Option<i32>: Encode<'q, DB> + Type<DB>,
    Option<i64>: Encode<'q, DB> + Type<DB>,
    Option<f32>: Encode<'q, DB> + Type<DB>,
    Option<f64>: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    Option<&'q [u8]>: Encode<'q, DB> + Type<DB>,
    Option<NaiveDateTime>: Encode<'q, DB> + Type<DB>,
    Option<DateTime<Utc>>: Encode<'q, DB> + Type<DB>,
    Option<NaiveDate>: Encode<'q, DB> + Type<DB>,
{
    let mut q = sqlx::query::<DB>(text);
    for &row in rows {
        let row = row as usize;
        for column in &columns.bound {
            q = match column {
                Bound::Bool(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::I32(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::I64(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::F32(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::F64(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::Text(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::Bytes(a) => q.bind(opt(a, row, |a, i| a.value(i))),
                Bound::Timestamp { micros, zoned } => {
                    let instant = opt(micros, row, |a, i| a.value(i))
                        .map(|m| {
                            DateTime::from_timestamp_micros(m).ok_or_else(|| {
                                sqlx::Error::Encode(
                                    format!("timestamp {m} µs is out of range").into(),
                                )
                            })
                        })
                        .transpose()?;
                    if *zoned {
                        q.bind(instant)
                    } else {
                        q.bind(instant.map(|t| t.naive_utc()))
                    }
                }
                Bound::Date(a) => q.bind(opt(a, row, |a, i| date(a.value(i)))),
            };
        }
    }
    Ok(q)
}

/// Runs a query without parameters; values as text (the text protocols of
/// PostgreSQL and MySQL, SQLite's own conversion).
pub(super) fn query_text(
    db: &mut Db,
    statement: &str,
) -> Result<Vec<Vec<Option<String>>>, sqlx::Error> {
    fn texts<R: Row>(rows: Vec<R>) -> Result<Vec<Vec<Option<String>>>, sqlx::Error>
    where
        for<'r> Option<String>: sqlx::Decode<'r, R::Database>,
        usize: sqlx::ColumnIndex<R>,
    {
        rows.iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.try_get_unchecked::<Option<String>, _>(i))
                    .collect()
            })
            .collect()
    }
    let raw = sqlx::raw_sql(statement);
    super::block_on(async {
        match db {
            Db::Pg(c) => texts(raw.fetch_all(c).await?),
            Db::My(c) => texts(raw.fetch_all(c).await?),
            Db::Lite(c) => texts(raw.fetch_all(c).await?),
        }
    })
}

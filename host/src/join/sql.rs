//! A reference table given by a SQL query on a granted connection
//! (PostgreSQL, MySQL/MariaDB, SQLite): read whole, or asked only for the
//! keys a batch needs, all of them in one statement. Values are read into
//! the columns the table's declared schema names, whatever integer width,
//! float or timestamp flavour the database gives.

use crate::capability::ConnectionSpec;
use crate::capability::sql::{self as granted, Db, bind};
use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, SchemaRef};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sqlx::{Column, Database, Decode, Row, Type, TypeInfo, ValueRef};
use std::sync::Arc;

/// Keys per lookup statement, below every database's parameter limit.
const MAX_PARAMS: usize = 30_000;

/// Why a statement failed.
#[derive(Debug)]
pub enum Failure {
    /// The database went away or cannot be reached: trying later can work.
    Lost(String),
    /// The database refused the statement, or its result does not fit the
    /// declared schema: no retry helps.
    Refused(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Lost(e) | Failure::Refused(e) => f.write_str(e),
        }
    }
}

/// A query and the connection it runs on.
pub struct SqlTable {
    stage: String,
    spec: ConnectionSpec,
    /// `None` once the connection was lost, until it is opened again.
    db: Option<Db>,
    /// The user's SELECT, without a trailing `;`.
    query: String,
    schema: SchemaRef,
    /// Statements answered, for the summary.
    pub statements: u64,
}

impl SqlTable {
    /// Connects (retrying as the connection's `connect_attempts` allow).
    pub fn connect(
        stage: &str,
        spec: ConnectionSpec,
        query: &str,
        schema: SchemaRef,
    ) -> Result<Self, String> {
        let db = granted::open(stage, &spec).map_err(|e| e.to_string())?;
        Ok(SqlTable {
            stage: stage.to_string(),
            spec,
            db: Some(db),
            query: query.trim().trim_end_matches(';').trim_end().to_string(),
            schema,
            statements: 0,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn connection(&self) -> &str {
        &self.spec.name
    }

    /// The query's whole result.
    pub fn load(&mut self) -> Result<RecordBatch, Failure> {
        let query = self.query.clone();
        self.run(&query, None)
    }

    /// The rows whose key columns `names` equal one of the rows of `keys`
    /// (distinct keys, non-null): one statement per `MAX_PARAMS` values.
    pub fn fetch(&mut self, names: &[String], keys: &RecordBatch) -> Result<RecordBatch, Failure> {
        let columns = bind::Columns::new(keys, &(0..keys.num_columns() as u32).collect::<Vec<_>>())
            .map_err(Failure::Refused)?;
        let per_statement = (MAX_PARAMS / names.len().max(1)).max(1);
        let mut parts = Vec::new();
        let rows: Vec<u32> = (0..keys.num_rows() as u32).collect();
        for chunk in rows.chunks(per_statement) {
            let text = self.lookup_text(names, chunk.len());
            parts.push(self.run(&text, Some((&columns, chunk)))?);
        }
        arrow::compute::concat_batches(&self.schema, &parts)
            .map_err(|e| Failure::Refused(e.to_string()))
    }

    /// `SELECT * FROM (query) WHERE key IN (…)`, with a tuple of columns
    /// for a composite key, in the connection's quoting and placeholders.
    fn lookup_text(&self, names: &[String], keys: usize) -> String {
        let mysql = self.spec.url.starts_with("mysql:") || self.spec.url.starts_with("mariadb:");
        let postgres = self.spec.url.starts_with("postgres");
        let quote = |name: &str| {
            if mysql {
                format!("`{}`", name.replace('`', "``"))
            } else {
                format!("\"{}\"", name.replace('"', "\"\""))
            }
        };
        let mut next = 0;
        let mut placeholder = || {
            next += 1;
            if postgres {
                format!("${next}")
            } else {
                "?".to_string()
            }
        };
        let one = |placeholder: &mut dyn FnMut() -> String| {
            let list: Vec<String> = names.iter().map(|_| placeholder()).collect();
            if names.len() == 1 {
                list[0].clone()
            } else {
                format!("({})", list.join(", "))
            }
        };
        let tuples: Vec<String> = (0..keys).map(|_| one(&mut placeholder)).collect();
        let columns: Vec<String> = names.iter().map(|n| quote(n)).collect();
        let column = if names.len() == 1 {
            columns[0].clone()
        } else {
            format!("({})", columns.join(", "))
        };
        format!(
            "SELECT * FROM ({}) AS weir_table WHERE {column} IN ({})",
            self.query,
            tuples.join(", ")
        )
    }

    /// Runs `text`, with `params` bound, reconnecting first if the
    /// connection was lost.
    fn run(
        &mut self,
        text: &str,
        params: Option<(&bind::Columns, &[u32])>,
    ) -> Result<RecordBatch, Failure> {
        if self.db.is_none() {
            // One try: the caller decides when to try again (the next
            // refresh, or a lookup's backoff), so a database that is away
            // does not hold the pipeline for a whole connect_attempts.
            let once = ConnectionSpec {
                attempts: 1,
                ..self.spec.clone()
            };
            let db = granted::open(&self.stage, &once).map_err(|e| Failure::Lost(e.to_string()))?;
            self.db = Some(db);
        }
        let schema = self.schema.clone();
        let db = self.db.as_mut().expect("opened above");
        let result = granted::block_on(async {
            macro_rules! fetch {
                ($db:ty, $c:expr) => {{
                    let query = match params {
                        Some((columns, rows)) => bind::query::<$db>(text, columns, rows)?,
                        None => sqlx::query::<$db>(text),
                    };
                    let rows = query.fetch_all($c).await?;
                    Ok::<_, sqlx::Error>(to_batch(&rows, &schema))
                }};
            }
            match db {
                Db::Pg(c) => fetch!(sqlx::Postgres, c),
                Db::My(c) => fetch!(sqlx::MySql, c),
                Db::Lite(c) => fetch!(sqlx::Sqlite, c),
            }
        });
        match result {
            Ok(batch) => {
                self.statements += 1;
                batch.map_err(|e| {
                    Failure::Refused(format!("the query on connection `{}`: {e}", self.spec.name))
                })
            }
            Err(e) if granted::is_lost(&e) => {
                self.db = None;
                Err(Failure::Lost(format!(
                    "connection `{}` was lost: {e}",
                    self.spec.name
                )))
            }
            Err(e) => Err(Failure::Refused(format!(
                "the query on connection `{}` failed: {e}",
                self.spec.name
            ))),
        }
    }
}

/// A value read as `T` (null or not), or why it did not decode.
type Read<T> = Result<Option<T>, String>;

/// A value type one database decodes.
trait Cell<DB: Database>: for<'r> Decode<'r, DB> + Type<DB> {}
impl<DB: Database, T: for<'r> Decode<'r, DB> + Type<DB>> Cell<DB> for T {}

/// Which Rust type a declared column is read through before it is cast.
enum Family {
    Bool,
    Int,
    Float,
    Text,
    Bytes,
    Date,
    Timestamp,
}

fn family(field: &Field) -> Result<Family, String> {
    Ok(match field.data_type() {
        DataType::Boolean => Family::Bool,
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Family::Int,
        DataType::Float32 | DataType::Float64 => Family::Float,
        DataType::Utf8 => Family::Text,
        DataType::Binary => Family::Bytes,
        DataType::Date32 => Family::Date,
        DataType::Timestamp(_, _) => Family::Timestamp,
        other => {
            return Err(format!(
                "column `{}`: a SQL table cannot hold {other}",
                field.name()
            ));
        }
    })
}

/// The rows, as the columns of `schema`, found in the result by name.
fn to_batch<R>(rows: &[R], schema: &SchemaRef) -> Result<RecordBatch, String>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    bool: Cell<R::Database>,
    i16: Cell<R::Database>,
    i32: Cell<R::Database>,
    i64: Cell<R::Database>,
    f32: Cell<R::Database>,
    f64: Cell<R::Database>,
    String: Cell<R::Database>,
    Vec<u8>: Cell<R::Database>,
    NaiveDate: Cell<R::Database>,
    NaiveDateTime: Cell<R::Database>,
    DateTime<Utc>: Cell<R::Database>,
{
    // One closure for every column: its bounds are the function's.
    let column = |index: usize, field: &Field| -> Result<ArrayRef, String> {
        let unreadable = |row: &R| {
            let ty = row
                .try_get_raw(index)
                .map(|raw| raw.type_info().name().to_string())
                .unwrap_or_default();
            format!(
                "column `{}`: the database gives {ty}, which does not read as {}; CAST it in the query",
                field.name(),
                field.data_type()
            )
        };
        let values = |read: &dyn Fn(&R) -> Option<Read<i64>>| {
            rows.iter()
                .map(|r| read(r).unwrap_or_else(|| Err(unreadable(r))))
                .collect::<Result<Vec<Option<i64>>, String>>()
        };
        let read: ArrayRef = match family(field)? {
            Family::Bool => Arc::new(
                rows.iter()
                    .map(|r| {
                        get::<R, bool>(r, index)
                            .or_else(|| {
                                get::<R, i64>(r, index).map(|v| v.map(|v| v.map(|i| i != 0)))
                            })
                            .unwrap_or_else(|| Err(unreadable(r)))
                    })
                    .collect::<Result<BooleanArray, String>>()?,
            ),
            Family::Int => Arc::new(Int64Array::from(values(&|r| {
                get::<R, i64>(r, index)
                    .or_else(|| get::<R, i32>(r, index).map(|v| v.map(|v| v.map(i64::from))))
                    .or_else(|| get::<R, i16>(r, index).map(|v| v.map(|v| v.map(i64::from))))
            })?)),
            Family::Float => Arc::new(
                rows.iter()
                    .map(|r| {
                        get::<R, f64>(r, index)
                            .or_else(|| {
                                get::<R, f32>(r, index).map(|v| v.map(|v| v.map(f64::from)))
                            })
                            .or_else(|| {
                                get::<R, i64>(r, index).map(|v| v.map(|v| v.map(|i| i as f64)))
                            })
                            .unwrap_or_else(|| Err(unreadable(r)))
                    })
                    .collect::<Result<Float64Array, String>>()?,
            ),
            Family::Text => Arc::new(
                rows.iter()
                    .map(|r| get::<R, String>(r, index).unwrap_or_else(|| Err(unreadable(r))))
                    .collect::<Result<StringArray, String>>()?,
            ),
            Family::Bytes => {
                let values = rows
                    .iter()
                    .map(|r| get::<R, Vec<u8>>(r, index).unwrap_or_else(|| Err(unreadable(r))))
                    .collect::<Result<Vec<Option<Vec<u8>>>, String>>()?;
                Arc::new(BinaryArray::from_iter(values))
            }
            Family::Date => {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date");
                Arc::new(
                    rows.iter()
                        .map(|r| {
                            get::<R, NaiveDate>(r, index)
                                .map(|v| v.map(|d| d.map(|d| (d - epoch).num_days() as i32)))
                                .unwrap_or_else(|| Err(unreadable(r)))
                        })
                        .collect::<Result<Date32Array, String>>()?,
                )
            }
            Family::Timestamp => Arc::new(
                TimestampMicrosecondArray::from(values(&|r| {
                    get::<R, DateTime<Utc>>(r, index)
                        .map(|v| v.map(|t| t.map(|t| t.timestamp_micros())))
                        .or_else(|| {
                            get::<R, NaiveDateTime>(r, index)
                                .map(|v| v.map(|t| t.map(|t| t.and_utc().timestamp_micros())))
                        })
                })?)
                .with_timezone("UTC"),
            ),
        };
        // Narrowing (BIGINT to INT, microseconds to seconds) fails loudly on a
        // value that does not fit rather than turning it into a null.
        let strict = CastOptions {
            safe: false,
            ..Default::default()
        };
        cast_with_options(&read, field.data_type(), &strict)
            .map_err(|e| format!("column `{}`: {e}", field.name()))
    };
    let Some(first) = rows.first() else {
        return Ok(RecordBatch::new_empty(schema.clone()));
    };
    let names: Vec<&str> = first.columns().iter().map(|c| c.name()).collect();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let index = names
            .iter()
            .position(|n| n == field.name())
            .or_else(|| {
                names
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(field.name()))
            })
            .ok_or_else(|| {
                format!(
                    "the result has no column `{}` (it has: {})",
                    field.name(),
                    names.join(", ")
                )
            })?;
        columns.push(column(index, field)?);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())
}

/// Decodes the value at `index` as `T` if the database's type for it is
/// one `T` reads; `None` if not.
fn get<R, T>(row: &R, index: usize) -> Option<Read<T>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    T: Cell<R::Database>,
{
    let raw = match row.try_get_raw(index) {
        Ok(raw) => raw,
        Err(e) => return Some(Err(e.to_string())),
    };
    if raw.is_null() {
        return Some(Ok(None));
    }
    if !T::compatible(&raw.type_info()) {
        return None;
    }
    Some(T::decode(raw).map(Some).map_err(|e| e.to_string()))
}

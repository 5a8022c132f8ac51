//! Aggregate functions, written as Spark users write them (`"avg(age) AS
//! avg_age"`), and their accumulators. Values that must be compared or told
//! apart (min, max, first, last, count distinct) are kept in Arrow's
//! order-preserving row format, so every column type works the same way and a
//! comparison is a byte comparison.

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::buffer::NullBuffer;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema};
use arrow::row::{RowConverter, Rows, SortField};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::Arc;

pub use crate::config::aggregate::{AggregateExpr, Function, parse};

/// The running value of one aggregate for one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Acc {
    Count(i64),
    SumInt(i128),
    SumFloat(f64),
    Avg {
        sum: f64,
        count: i64,
    },
    /// Min or max, in row format; `None` until a non-null value is seen.
    Extreme(Option<Box<[u8]>>),
    Distinct(HashSet<Box<[u8]>>),
    /// Every value, for exact median and percentiles.
    Values(Vec<f64>),
    /// First or last by event time.
    Timed {
        time: i64,
        value: Option<Box<[u8]>>,
    },
}

/// An aggregate's input column for one batch, in the form its accumulator reads.
pub enum Prepared {
    Nothing,
    Validity(Option<NullBuffer>),
    Int(Int64Array),
    Float(Float64Array),
    Encoded(Rows, Option<NullBuffer>),
}

impl Prepared {
    fn valid(nulls: &Option<NullBuffer>, row: usize) -> bool {
        nulls.as_ref().is_none_or(|n| n.is_valid(row))
    }
}

/// An aggregate bound to its input schema.
pub struct Aggregate {
    pub expr: AggregateExpr,
    column: Option<usize>,
    input_type: DataType,
    output_type: DataType,
    /// For functions that keep values in row format.
    converter: Option<RowConverter>,
}

impl Aggregate {
    pub fn bind(expr: AggregateExpr, schema: &Schema) -> Result<Self, String> {
        let column = match &expr.column {
            None => None,
            Some(c) => Some(schema.index_of(c).map_err(|_| {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!(
                    "aggregate `{}`: no column `{c}` (columns: {})",
                    expr.alias,
                    names.join(", ")
                )
            })?),
        };
        let input_type = column
            .map(|i| schema.field(i).data_type().clone())
            .unwrap_or(DataType::Null);
        let numeric = input_type.is_numeric();
        let need_numeric = |what: &str| {
            if numeric {
                Ok(())
            } else {
                Err(format!(
                    "aggregate `{}`: {what} needs a numeric column, `{}` is {input_type}",
                    expr.alias,
                    expr.column.as_deref().unwrap_or("")
                ))
            }
        };
        let output_type = match &expr.function {
            Function::CountRows | Function::Count | Function::CountDistinct => DataType::Int64,
            Function::Sum => {
                need_numeric("sum")?;
                if input_type.is_integer() {
                    DataType::Int64
                } else {
                    DataType::Float64
                }
            }
            Function::Avg | Function::Median | Function::Percentile(_) => {
                need_numeric("this function")?;
                DataType::Float64
            }
            Function::Min | Function::Max | Function::First | Function::Last => input_type.clone(),
        };
        let keeps_rows = matches!(
            expr.function,
            Function::Min
                | Function::Max
                | Function::First
                | Function::Last
                | Function::CountDistinct
        );
        let converter = if keeps_rows {
            let c = RowConverter::new(vec![SortField::new(input_type.clone())]).map_err(|e| {
                format!(
                    "aggregate `{}`: cannot use a column of type {input_type}: {e}",
                    expr.alias
                )
            })?;
            Some(c)
        } else {
            None
        };
        Ok(Aggregate {
            expr,
            column,
            input_type,
            output_type,
            converter,
        })
    }

    pub fn output_field(&self) -> Field {
        Field::new(&self.expr.alias, self.output_type.clone(), true)
    }

    pub fn new_acc(&self) -> Acc {
        match self.expr.function {
            Function::CountRows | Function::Count => Acc::Count(0),
            Function::CountDistinct => Acc::Distinct(HashSet::new()),
            Function::Sum if self.output_type == DataType::Int64 => Acc::SumInt(0),
            Function::Sum => Acc::SumFloat(0.0),
            Function::Avg => Acc::Avg { sum: 0.0, count: 0 },
            Function::Min | Function::Max => Acc::Extreme(None),
            Function::Median | Function::Percentile(_) => Acc::Values(Vec::new()),
            Function::First => Acc::Timed {
                time: i64::MAX,
                value: None,
            },
            Function::Last => Acc::Timed {
                time: i64::MIN,
                value: None,
            },
        }
    }

    /// Converts this aggregate's input column of `batch` once per batch.
    pub fn prepare(&self, batch: &RecordBatch) -> Result<Prepared, String> {
        let Some(i) = self.column else {
            return Ok(Prepared::Nothing);
        };
        let column = batch.column(i);
        let fail = |e: arrow::error::ArrowError| format!("aggregate `{}`: {e}", self.expr.alias);
        Ok(match (&self.expr.function, &self.converter) {
            (Function::Count, _) => Prepared::Validity(column.logical_nulls()),
            (_, Some(converter)) => Prepared::Encoded(
                converter
                    .convert_columns(std::slice::from_ref(column))
                    .map_err(fail)?,
                column.logical_nulls(),
            ),
            (Function::Sum, _) if self.output_type == DataType::Int64 => Prepared::Int(
                cast(column, &DataType::Int64)
                    .map_err(fail)?
                    .as_primitive::<Int64Type>()
                    .clone(),
            ),
            _ => Prepared::Float(
                cast(column, &DataType::Float64)
                    .map_err(fail)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
        })
    }

    /// Adds row `row` (of event time `time`) to `acc`. Nulls are skipped, as
    /// in SQL, except by `count(*)`.
    #[inline]
    pub fn update(&self, acc: &mut Acc, input: &Prepared, row: usize, time: i64) {
        match (acc, input) {
            (Acc::Count(n), Prepared::Nothing) => *n += 1,
            (Acc::Count(n), Prepared::Validity(nulls)) => *n += Prepared::valid(nulls, row) as i64,
            (Acc::SumInt(s), Prepared::Int(a)) if a.is_valid(row) => *s += a.value(row) as i128,
            (Acc::SumFloat(s), Prepared::Float(a)) if a.is_valid(row) => *s += a.value(row),
            (Acc::Avg { sum, count }, Prepared::Float(a)) if a.is_valid(row) => {
                *sum += a.value(row);
                *count += 1;
            }
            (Acc::Values(v), Prepared::Float(a)) if a.is_valid(row) => v.push(a.value(row)),
            (Acc::Distinct(set), Prepared::Encoded(rows, nulls)) if Prepared::valid(nulls, row) => {
                let value = rows.row(row);
                if !set.contains(value.as_ref()) {
                    set.insert(value.as_ref().into());
                }
            }
            (Acc::Extreme(current), Prepared::Encoded(rows, nulls))
                if Prepared::valid(nulls, row) =>
            {
                let value = rows.row(row);
                let better = match current {
                    None => true,
                    Some(c) if self.expr.function == Function::Min => value.as_ref() < &**c,
                    Some(c) => value.as_ref() > &**c,
                };
                if better {
                    // Fixed-width values keep their length: reuse the box.
                    match current {
                        Some(c) if c.len() == value.as_ref().len() => {
                            c.copy_from_slice(value.as_ref())
                        }
                        _ => *current = Some(value.as_ref().into()),
                    }
                }
            }
            (Acc::Timed { time: t, value }, Prepared::Encoded(rows, nulls))
                if Prepared::valid(nulls, row) =>
            {
                let take = if self.expr.function == Function::First {
                    time < *t
                } else {
                    time >= *t
                };
                if take {
                    *t = time;
                    *value = Some(rows.row(row).as_ref().into());
                }
            }
            _ => {}
        }
    }

    /// Folds `other` into `acc` (session windows merge when a row bridges them).
    pub fn merge(&self, acc: &mut Acc, other: Acc) {
        match (acc, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::SumInt(a), Acc::SumInt(b)) => *a += b,
            (Acc::SumFloat(a), Acc::SumFloat(b)) => *a += b,
            (Acc::Avg { sum, count }, Acc::Avg { sum: s, count: c }) => {
                *sum += s;
                *count += c;
            }
            (Acc::Values(a), Acc::Values(b)) => a.extend(b),
            (Acc::Distinct(a), Acc::Distinct(b)) => a.extend(b),
            (Acc::Extreme(a), Acc::Extreme(Some(b))) => {
                let better = match a {
                    None => true,
                    Some(c) if self.expr.function == Function::Min => b < *c,
                    Some(c) => b > *c,
                };
                if better {
                    *a = Some(b);
                }
            }
            (
                Acc::Timed { time, value },
                Acc::Timed {
                    time: t,
                    value: Some(v),
                },
            ) => {
                let take = if self.expr.function == Function::First {
                    t < *time
                } else {
                    t >= *time
                };
                if take {
                    *time = t;
                    *value = Some(v);
                }
            }
            _ => {}
        }
    }

    /// The output column for these groups' accumulators, in order.
    pub fn finish<'a>(&self, accs: impl Iterator<Item = &'a Acc>) -> Result<ArrayRef, String> {
        let accs: Vec<&Acc> = accs.collect();
        let array: ArrayRef = match self.output_type {
            _ if self.converter.is_some() && self.expr.function != Function::CountDistinct => {
                return self.decode(&accs);
            }
            DataType::Int64 => Arc::new(Int64Array::from_iter(accs.iter().map(|acc| match acc {
                Acc::Count(n) => Some(*n),
                Acc::Distinct(set) => Some(set.len() as i64),
                Acc::SumInt(s) => match i64::try_from(*s) {
                    Ok(v) => Some(v),
                    Err(_) => {
                        tracing::warn!(aggregate = %self.expr.alias, "A sum overflows BIGINT; it is output as null.");
                        None
                    }
                },
                _ => None,
            }))),
            _ => Arc::new(Float64Array::from_iter(accs.iter().map(|acc| match acc {
                Acc::SumFloat(s) => Some(*s),
                Acc::Avg { count: 0, .. } => None,
                Acc::Avg { sum, count } => Some(sum / *count as f64),
                Acc::Values(values) => percentile(values, self.fraction()),
                _ => None,
            }))),
        };
        Ok(array)
    }

    fn fraction(&self) -> f64 {
        match self.expr.function {
            Function::Percentile(p) => p,
            _ => 0.5,
        }
    }

    /// Row-format values back to a column of the input's type.
    fn decode(&self, accs: &[&Acc]) -> Result<ArrayRef, String> {
        let converter = self
            .converter
            .as_ref()
            .expect("row-format aggregates have a converter");
        let null = arrow::array::new_null_array(&self.input_type, 1);
        let null_row = converter
            .convert_columns(&[null])
            .map_err(|e| e.to_string())?;
        let parser = converter.parser();
        let rows = accs.iter().map(|acc| match acc {
            Acc::Extreme(Some(v)) | Acc::Timed { value: Some(v), .. } => parser.parse(v),
            _ => null_row.row(0),
        });
        let mut columns = converter.convert_rows(rows).map_err(|e| e.to_string())?;
        Ok(columns.remove(0))
    }
}

/// Exact percentile with linear interpolation between closest ranks (as
/// Spark's `percentile`); `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let position = p * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    Some(sorted[low] + (position - low as f64) * (sorted[high] - sorted[low]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_interpolates_like_spark() {
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(percentile(&[5.0], 0.9), Some(5.0));
        assert_eq!(percentile(&[10.0, 0.0, 20.0], 0.25), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}

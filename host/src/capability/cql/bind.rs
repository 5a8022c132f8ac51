//! Arrow columns bound to CQL bind markers: each column is cast once (by
//! arrow's own cast kernels) to the Arrow type closest to its marker's CQL
//! type, then read row by row. A value the cast cannot carry (out of range,
//! not a number) refuses its row, naming the value and the type.

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int8Array, Int16Array, Int32Array, Int64Array, StringArray,
};
use arrow::compute::cast;
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, TimeUnit,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::value::{CqlDate, CqlDecimal, CqlTime, CqlTimestamp, CqlTimeuuid, CqlValue, CqlVarint};

/// One column, cast for one bind marker.
enum Cast {
    Bool(BooleanArray),
    TinyInt(Int8Array),
    SmallInt(Int16Array),
    Int(Int32Array),
    BigInt(Int64Array),
    Varint(Int64Array),
    Float(Float32Array),
    Double(Float64Array),
    Text(StringArray),
    Ascii(StringArray),
    Blob(BinaryArray),
    /// Milliseconds since the epoch (UTC).
    Timestamp(Int64Array),
    Date(Date32Array),
    /// Nanoseconds since midnight.
    Time(Int64Array),
    Decimal(Decimal128Array, i8),
    Uuid(StringArray),
    Timeuuid(StringArray),
    Inet(StringArray),
}

/// A column of the batch in flight, ready to give each row's CQL value.
pub struct Bound {
    /// The column as it came, to tell a null from a value the cast refused.
    original: ArrayRef,
    column: String,
    cql_type: String,
    cast: Cast,
}

impl Bound {
    /// Prepares `array` (column `column`) for a marker of type `target`;
    /// an error means no row of it could ever be bound.
    pub fn new(array: &ArrayRef, column: &str, target: &ColumnType<'_>) -> Result<Self, String> {
        let native = match target {
            ColumnType::Native(n) => n,
            other => {
                return Err(format!(
                    "column `{column}` would go to a CQL {other:?} value; only CQL's scalar \
                     types are bound (flatten the value in a transform)"
                ));
            }
        };
        let to = |t: &DataType| -> Result<ArrayRef, String> {
            cast(array, t).map_err(|e| {
                format!(
                    "column `{column}` of type {} cannot be bound as CQL {native:?}: {e}",
                    array.data_type()
                )
            })
        };
        let millis = |tz| -> Result<Int64Array, String> {
            let t = to(&DataType::Timestamp(TimeUnit::Millisecond, tz))?;
            Ok(cast(&t, &DataType::Int64)
                .map_err(|e| e.to_string())?
                .as_primitive::<Int64Type>()
                .clone())
        };
        let text = || to(&DataType::Utf8).map(|a| a.as_string::<i32>().clone());
        let cast = match native {
            NativeType::Boolean => Cast::Bool(to(&DataType::Boolean)?.as_boolean().clone()),
            NativeType::TinyInt => {
                Cast::TinyInt(to(&DataType::Int8)?.as_primitive::<Int8Type>().clone())
            }
            NativeType::SmallInt => {
                Cast::SmallInt(to(&DataType::Int16)?.as_primitive::<Int16Type>().clone())
            }
            NativeType::Int => Cast::Int(to(&DataType::Int32)?.as_primitive::<Int32Type>().clone()),
            NativeType::BigInt => {
                Cast::BigInt(to(&DataType::Int64)?.as_primitive::<Int64Type>().clone())
            }
            NativeType::Varint => {
                Cast::Varint(to(&DataType::Int64)?.as_primitive::<Int64Type>().clone())
            }
            NativeType::Float => Cast::Float(
                to(&DataType::Float32)?
                    .as_primitive::<Float32Type>()
                    .clone(),
            ),
            NativeType::Double => Cast::Double(
                to(&DataType::Float64)?
                    .as_primitive::<Float64Type>()
                    .clone(),
            ),
            NativeType::Text => Cast::Text(text()?),
            NativeType::Ascii => Cast::Ascii(text()?),
            NativeType::Blob => Cast::Blob(to(&DataType::Binary)?.as_binary::<i32>().clone()),
            NativeType::Timestamp => Cast::Timestamp(match array.data_type() {
                DataType::Timestamp(_, tz) => millis(tz.clone())?,
                _ => millis(None)?,
            }),
            NativeType::Date => {
                Cast::Date(to(&DataType::Date32)?.as_primitive::<Date32Type>().clone())
            }
            NativeType::Time => {
                let t = to(&DataType::Time64(TimeUnit::Nanosecond))?;
                Cast::Time(
                    cast(&t, &DataType::Int64)
                        .map_err(|e| e.to_string())?
                        .as_primitive::<Int64Type>()
                        .clone(),
                )
            }
            NativeType::Decimal => {
                let (precision, scale) = match array.data_type() {
                    DataType::Decimal128(p, s) => (*p, *s),
                    DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => (38, 0),
                    _ => (38, 9),
                };
                Cast::Decimal(
                    to(&DataType::Decimal128(precision, scale))?
                        .as_primitive::<Decimal128Type>()
                        .clone(),
                    scale,
                )
            }
            NativeType::Uuid => Cast::Uuid(text()?),
            NativeType::Timeuuid => Cast::Timeuuid(text()?),
            NativeType::Inet => Cast::Inet(text()?),
            other => {
                return Err(format!(
                    "column `{column}` would go to a CQL {other:?} value, which weir does not bind"
                ));
            }
        };
        Ok(Bound {
            original: array.clone(),
            column: column.to_string(),
            cql_type: format!("{native:?}").to_lowercase(),
            cast,
        })
    }

    /// The CQL value of `row` (`None` for null), or why it has none.
    pub fn value(&self, row: usize) -> Result<Option<CqlValue>, String> {
        if self.original.is_null(row) {
            return Ok(None);
        }
        let value = match &self.cast {
            Cast::Bool(a) => a.is_valid(row).then(|| CqlValue::Boolean(a.value(row))),
            Cast::TinyInt(a) => a.is_valid(row).then(|| CqlValue::TinyInt(a.value(row))),
            Cast::SmallInt(a) => a.is_valid(row).then(|| CqlValue::SmallInt(a.value(row))),
            Cast::Int(a) => a.is_valid(row).then(|| CqlValue::Int(a.value(row))),
            Cast::BigInt(a) => a.is_valid(row).then(|| CqlValue::BigInt(a.value(row))),
            Cast::Varint(a) => a.is_valid(row).then(|| {
                CqlValue::Varint(CqlVarint::from_signed_bytes_be(
                    a.value(row).to_be_bytes().to_vec(),
                ))
            }),
            Cast::Float(a) => a.is_valid(row).then(|| CqlValue::Float(a.value(row))),
            Cast::Double(a) => a.is_valid(row).then(|| CqlValue::Double(a.value(row))),
            Cast::Text(a) => a
                .is_valid(row)
                .then(|| CqlValue::Text(a.value(row).to_string())),
            Cast::Ascii(a) => (a.is_valid(row) && a.value(row).is_ascii())
                .then(|| CqlValue::Ascii(a.value(row).to_string())),
            Cast::Blob(a) => a
                .is_valid(row)
                .then(|| CqlValue::Blob(a.value(row).to_vec())),
            Cast::Timestamp(a) => a
                .is_valid(row)
                .then(|| CqlValue::Timestamp(CqlTimestamp(a.value(row)))),
            // CQL counts days from 2^31, so that the epoch is in the middle.
            Cast::Date(a) => a
                .is_valid(row)
                .then(|| CqlValue::Date(CqlDate((a.value(row) as i64 + (1i64 << 31)) as u32))),
            Cast::Time(a) => a
                .is_valid(row)
                .then(|| CqlValue::Time(CqlTime(a.value(row)))),
            Cast::Decimal(a, scale) => a.is_valid(row).then(|| {
                CqlValue::Decimal(CqlDecimal::from_signed_be_bytes_and_exponent(
                    a.value(row).to_be_bytes().to_vec(),
                    *scale as i32,
                ))
            }),
            Cast::Uuid(a) => a
                .is_valid(row)
                .then(|| uuid::Uuid::parse_str(a.value(row)).ok().map(CqlValue::Uuid))
                .flatten(),
            Cast::Timeuuid(a) => a
                .is_valid(row)
                .then(|| {
                    uuid::Uuid::parse_str(a.value(row))
                        .ok()
                        .filter(|u| u.get_version_num() == 1)
                        .map(|u| CqlValue::Timeuuid(CqlTimeuuid::from(u)))
                })
                .flatten(),
            Cast::Inet(a) => a
                .is_valid(row)
                .then(|| a.value(row).parse().ok().map(CqlValue::Inet))
                .flatten(),
        };
        value.map(Some).ok_or_else(|| {
            let shown = ArrayFormatter::try_new(self.original.as_ref(), &FormatOptions::default())
                .map(|f| f.value(row).to_string())
                .unwrap_or_default();
            format!(
                "column `{}`: the value {shown:?} does not fit CQL type {}",
                self.column, self.cql_type
            )
        })
    }
}

/// A CQL value as text, for `query`: strings as they are, other values
/// as CQL literals without their quotes (`2026-11-01`, not `'2026-11-01'`).
pub fn text(value: &CqlValue) -> String {
    match value {
        CqlValue::Text(s) | CqlValue::Ascii(s) => s.clone(),
        other => other.to_string().trim_matches('\'').to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use std::sync::Arc;

    fn native(t: NativeType) -> ColumnType<'static> {
        ColumnType::Native(t)
    }

    #[test]
    fn a_value_out_of_its_cql_range_refuses_its_row_only() {
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), None, Some(1 << 40)]));
        let bound = Bound::new(&ids, "id", &native(NativeType::Int)).unwrap();
        assert_eq!(bound.value(0).unwrap(), Some(CqlValue::Int(7)));
        assert_eq!(bound.value(1).unwrap(), None);
        assert_eq!(
            bound.value(2).unwrap_err(),
            "column `id`: the value \"1099511627776\" does not fit CQL type int"
        );
    }

    #[test]
    fn text_goes_to_ascii_uuid_and_date_columns_or_says_why_not() {
        let names: ArrayRef = Arc::new(StringArray::from(vec!["ada", "björk"]));
        let ascii = Bound::new(&names, "name", &native(NativeType::Ascii)).unwrap();
        assert_eq!(ascii.value(0).unwrap(), Some(CqlValue::Ascii("ada".into())));
        assert!(
            ascii
                .value(1)
                .unwrap_err()
                .contains("does not fit CQL type ascii")
        );

        let ids: ArrayRef = Arc::new(StringArray::from(vec![
            "67e55044-10b1-426f-9247-bb680e5fe0c8",
            "not a uuid",
        ]));
        let uuid = Bound::new(&ids, "id", &native(NativeType::Uuid)).unwrap();
        assert!(matches!(uuid.value(0).unwrap(), Some(CqlValue::Uuid(_))));
        assert!(uuid.value(1).is_err());

        let days: ArrayRef = Arc::new(StringArray::from(vec!["2026-11-20"]));
        let date = Bound::new(&days, "day", &native(NativeType::Date)).unwrap();
        // 2026-11-20 is day 20777 after 1970-01-01; CQL counts from 2^31.
        let expected = 20_777i64 + (1 << 31);
        assert_eq!(
            date.value(0).unwrap(),
            Some(CqlValue::Date(CqlDate(expected as u32)))
        );
    }

    #[test]
    fn composite_columns_are_refused_before_any_row() {
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let tuple = ColumnType::Tuple(vec![native(NativeType::BigInt)]);
        let err = Bound::new(&ids, "id", &tuple).err().unwrap();
        assert!(err.contains("only CQL's scalar types are bound"), "{err}");
    }
}

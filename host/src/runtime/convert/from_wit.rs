//! Plugin to host: the arrays a plugin returns, validated (a plugin is not
//! trusted) and then wrapped as Arrow buffers without a copy.

use super::{ConvertError, err};
use crate::contract::wit;
use arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, Float32Array,
    Float64Array, Int32Array, Int64Array, ListArray, StringArray, StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Fields};
use std::sync::Arc;

/// Takes computed arrays out of a plugin's output, each at most once.
pub struct ArrayTable {
    arrays: Vec<Option<wit::Array>>,
}

impl ArrayTable {
    pub fn new(arrays: Vec<wit::Array>) -> Self {
        ArrayTable {
            arrays: arrays.into_iter().map(Some).collect(),
        }
    }

    /// Converts array `index` to Arrow, checked against `field`.
    pub fn take(&mut self, index: u32, field: &Field) -> Result<ArrayRef, ConvertError> {
        let name = field.name();
        let array = match self.arrays.get_mut(index as usize) {
            Some(slot) => slot.take(),
            None => {
                return err(format!(
                    "column `{name}` refers to array {index}, but the output has {}",
                    self.arrays.len()
                ));
            }
        };
        let Some(array) = array else {
            return err(format!("column `{name}`: array {index} is used twice"));
        };
        self.convert(array, field)
    }

    fn convert(&mut self, array: wit::Array, field: &Field) -> Result<ArrayRef, ConvertError> {
        let name = field.name();
        let len = array.len as usize;
        let nulls = match array.validity {
            None => None,
            Some(bits) => Some(NullBuffer::new(bitmap(bits, len, name, "validity bitmap")?)),
        };
        if nulls.as_ref().is_some_and(|n| n.null_count() > 0) && !field.is_nullable() {
            return err(format!(
                "column `{name}` is declared not nullable, but the plugin returned nulls"
            ));
        }
        let mismatch = |found: &str| {
            err(format!(
                "column `{name}` was returned as {found}, but the plan declares {}",
                field.data_type()
            ))
        };
        let checked_len = |n: usize| {
            if n == len {
                Ok(())
            } else {
                err(format!(
                    "column `{name}` has {n} values but says its length is {len}"
                ))
            }
        };
        let result: ArrayRef = match (field.data_type(), array.values) {
            (DataType::Boolean, wit::Values::Boolean(bits)) => Arc::new(BooleanArray::new(
                bitmap(bits, len, name, "boolean values")?,
                nulls,
            )),
            (DataType::Int32, wit::Values::Int32(v)) => {
                checked_len(v.len())?;
                Arc::new(Int32Array::new(ScalarBuffer::from(v), nulls))
            }
            (DataType::Int64, wit::Values::Int64(v)) => {
                checked_len(v.len())?;
                Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls))
            }
            (DataType::Float32, wit::Values::Float32(v)) => {
                checked_len(v.len())?;
                Arc::new(Float32Array::new(ScalarBuffer::from(v), nulls))
            }
            (DataType::Float64, wit::Values::Float64(v)) => {
                checked_len(v.len())?;
                Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls))
            }
            (DataType::Utf8, wit::Values::Utf8(data)) => {
                let offsets = offsets(data.offsets, len, data.bytes.len(), name)?;
                let a = StringArray::try_new(offsets, Buffer::from_vec(data.bytes), nulls)
                    .map_err(|e| ConvertError(format!("column `{name}`: {e}")))?;
                Arc::new(a)
            }
            (DataType::Binary, wit::Values::Binary(data)) => {
                let offsets = offsets(data.offsets, len, data.bytes.len(), name)?;
                Arc::new(BinaryArray::new(
                    offsets,
                    Buffer::from_vec(data.bytes),
                    nulls,
                ))
            }
            (DataType::Timestamp(unit, tz), wit::Values::Timestamp(v)) => {
                checked_len(v.len())?;
                let data = arrow::array::ArrayData::builder(DataType::Timestamp(*unit, tz.clone()))
                    .len(len)
                    .add_buffer(Buffer::from_vec(v))
                    .nulls(nulls)
                    .build()
                    .map_err(|e| ConvertError(format!("column `{name}`: {e}")))?;
                arrow::array::make_array(data)
            }
            (DataType::Date32, wit::Values::Date32(v)) => {
                checked_len(v.len())?;
                Arc::new(Date32Array::new(ScalarBuffer::from(v), nulls))
            }
            (DataType::Decimal128(p, s), wit::Values::Decimal128(bytes)) => {
                checked_len(bytes.len() / 16)?;
                if bytes.len() % 16 != 0 {
                    return err(format!(
                        "column `{name}`: decimal bytes are not a multiple of 16"
                    ));
                }
                let values: Vec<i128> = bytes
                    .chunks_exact(16)
                    .map(|c| i128::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                let a = Decimal128Array::new(ScalarBuffer::from(values), nulls)
                    .with_precision_and_scale(*p, *s)
                    .map_err(|e| ConvertError(format!("column `{name}`: {e}")))?;
                Arc::new(a)
            }
            (DataType::List(item_field), wit::Values::List(list)) => {
                let item_len = list.offsets.last().copied().unwrap_or(0).max(0) as usize;
                let items = self.take(list.item, item_field)?;
                if items.len() != item_len {
                    return err(format!(
                        "column `{name}`: list offsets end at {item_len}, items have {}",
                        items.len()
                    ));
                }
                let offsets = offsets(list.offsets, len, item_len, name)?;
                let a = ListArray::try_new(item_field.clone(), offsets, items, nulls)
                    .map_err(|e| ConvertError(format!("column `{name}`: {e}")))?;
                Arc::new(a)
            }
            (DataType::Struct(members), wit::Values::Struct(children)) => {
                if children.len() != members.len() {
                    return err(format!(
                        "column `{name}` has {} members, the plan declares {}",
                        children.len(),
                        members.len()
                    ));
                }
                let arrays = children
                    .iter()
                    .zip(members.iter())
                    .map(|(&c, m)| self.take(c, m))
                    .collect::<Result<Vec<_>, _>>()?;
                if let Some(bad) = arrays.iter().find(|a| a.len() != len) {
                    return err(format!(
                        "column `{name}`: a member has {} values, the struct has {len}",
                        bad.len()
                    ));
                }
                let fields: Fields = members.clone();
                let a = StructArray::try_new(fields, arrays, nulls)
                    .map_err(|e| ConvertError(format!("column `{name}`: {e}")))?;
                Arc::new(a)
            }
            (_, values) => return mismatch(values_type_name(&values)),
        };
        Ok(result)
    }
}

fn values_type_name(values: &wit::Values) -> &'static str {
    match values {
        wit::Values::Boolean(_) => "boolean",
        wit::Values::Int32(_) => "int32",
        wit::Values::Int64(_) => "int64",
        wit::Values::Float32(_) => "float32",
        wit::Values::Float64(_) => "float64",
        wit::Values::Utf8(_) => "utf8",
        wit::Values::Binary(_) => "binary",
        wit::Values::Timestamp(_) => "timestamp",
        wit::Values::Date32(_) => "date32",
        wit::Values::Decimal128(_) => "decimal128",
        wit::Values::List(_) => "list",
        wit::Values::Struct(_) => "struct",
    }
}

/// A bitmap of `len` bits, checked long enough.
pub fn bitmap(
    bits: Vec<u8>,
    len: usize,
    column: &str,
    what: &str,
) -> Result<BooleanBuffer, ConvertError> {
    if bits.len() * 8 < len {
        return err(format!(
            "column `{column}`: {what} has {} bits for {len} rows",
            bits.len() * 8
        ));
    }
    Ok(BooleanBuffer::new(Buffer::from_vec(bits), 0, len))
}

/// Offsets checked as Arrow requires: `len + 1` of them, from 0, never
/// decreasing, ending within `data_len`.
fn offsets(
    offsets: Vec<i32>,
    len: usize,
    data_len: usize,
    column: &str,
) -> Result<OffsetBuffer<i32>, ConvertError> {
    if offsets.len() != len + 1 {
        return err(format!(
            "column `{column}` has {} offsets for {len} rows (expected {})",
            offsets.len(),
            len + 1
        ));
    }
    if offsets[0] < 0 || offsets.windows(2).any(|w| w[1] < w[0]) {
        return err(format!(
            "column `{column}`: offsets are negative or decreasing"
        ));
    }
    if offsets[len] as usize > data_len {
        return err(format!(
            "column `{column}`: offsets end at {}, past the {data_len} bytes of data",
            offsets[len]
        ));
    }
    Ok(OffsetBuffer::new(ScalarBuffer::from(offsets)))
}

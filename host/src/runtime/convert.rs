//! Arrow `RecordBatch` ⇄ the contract's columnar batch. Host to plugin is a
//! bulk copy per buffer; plugin to host validates everything (a plugin is not
//! trusted) and then wraps the lifted vectors as Arrow buffers without a copy.

use crate::contract::wit;
use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    Float32Array, Float64Array, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
    StructArray,
};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// A schema, batch or array that does not fit the contract.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ConvertError> {
    Err(ConvertError(message.into()))
}

// ---------------------------------------------------------------- schemas

pub fn schema_to_wit(schema: &Schema) -> Result<wit::Schema, ConvertError> {
    let mut fields = Vec::new();
    let columns = schema
        .fields()
        .iter()
        .map(|f| push_field(&mut fields, f))
        .collect::<Result<_, _>>()?;
    Ok(wit::Schema { fields, columns })
}

fn push_field(table: &mut Vec<wit::Field>, field: &Field) -> Result<u32, ConvertError> {
    let data_type = match field.data_type() {
        DataType::Boolean => wit::DataType::Boolean,
        DataType::Int32 => wit::DataType::Int32,
        DataType::Int64 => wit::DataType::Int64,
        DataType::Float32 => wit::DataType::Float32,
        DataType::Float64 => wit::DataType::Float64,
        DataType::Utf8 => wit::DataType::Utf8,
        DataType::Binary => wit::DataType::Binary,
        DataType::Timestamp(unit, tz) => wit::DataType::Timestamp(wit::TimestampType {
            unit: unit_to_wit(*unit),
            timezone: tz.as_ref().map(|t| t.to_string()),
        }),
        DataType::Date32 => wit::DataType::Date32,
        DataType::Decimal128(precision, scale) => wit::DataType::Decimal128(wit::DecimalType {
            precision: *precision,
            scale: *scale,
        }),
        DataType::List(item) => wit::DataType::List(push_field(table, item)?),
        DataType::Struct(members) => wit::DataType::Struct(
            members
                .iter()
                .map(|m| push_field(table, m))
                .collect::<Result<_, _>>()?,
        ),
        other => {
            return err(format!(
                "column `{}` has type {other}, which the weir:plugin contract does not carry",
                field.name()
            ));
        }
    };
    table.push(wit::Field {
        name: field.name().clone(),
        data_type,
        nullable: field.is_nullable(),
    });
    Ok((table.len() - 1) as u32)
}

pub fn schema_from_wit(schema: &wit::Schema) -> Result<SchemaRef, ConvertError> {
    let fields = schema
        .columns
        .iter()
        .map(|&i| field_from_wit(&schema.fields, i, 0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

fn field_from_wit(table: &[wit::Field], index: u32, depth: usize) -> Result<Field, ConvertError> {
    // Indices come from the plugin: a cycle must not recurse forever.
    if depth > 64 {
        return err("schema nests deeper than 64 levels (a cycle in its field indices?)");
    }
    let Some(f) = table.get(index as usize) else {
        return err(format!(
            "schema refers to field {index}, but has only {} fields",
            table.len()
        ));
    };
    let data_type = match &f.data_type {
        wit::DataType::Boolean => DataType::Boolean,
        wit::DataType::Int32 => DataType::Int32,
        wit::DataType::Int64 => DataType::Int64,
        wit::DataType::Float32 => DataType::Float32,
        wit::DataType::Float64 => DataType::Float64,
        wit::DataType::Utf8 => DataType::Utf8,
        wit::DataType::Binary => DataType::Binary,
        wit::DataType::Timestamp(t) => DataType::Timestamp(
            unit_from_wit(t.unit),
            t.timezone.as_ref().map(|z| z.as_str().into()),
        ),
        wit::DataType::Date32 => DataType::Date32,
        wit::DataType::Decimal128(d) => {
            if d.precision == 0 || d.precision > 38 || d.scale as i16 > d.precision as i16 {
                return err(format!(
                    "field `{}`: invalid decimal({}, {})",
                    f.name, d.precision, d.scale
                ));
            }
            DataType::Decimal128(d.precision, d.scale)
        }
        wit::DataType::List(item) => {
            DataType::List(Arc::new(field_from_wit(table, *item, depth + 1)?))
        }
        wit::DataType::Struct(members) => DataType::Struct(
            members
                .iter()
                .map(|&m| field_from_wit(table, m, depth + 1))
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
    };
    Ok(Field::new(&f.name, data_type, f.nullable))
}

fn unit_to_wit(unit: TimeUnit) -> wit::TimeUnit {
    match unit {
        TimeUnit::Second => wit::TimeUnit::Second,
        TimeUnit::Millisecond => wit::TimeUnit::Millisecond,
        TimeUnit::Microsecond => wit::TimeUnit::Microsecond,
        TimeUnit::Nanosecond => wit::TimeUnit::Nanosecond,
    }
}

fn unit_from_wit(unit: wit::TimeUnit) -> TimeUnit {
    match unit {
        wit::TimeUnit::Second => TimeUnit::Second,
        wit::TimeUnit::Millisecond => TimeUnit::Millisecond,
        wit::TimeUnit::Microsecond => TimeUnit::Microsecond,
        wit::TimeUnit::Nanosecond => TimeUnit::Nanosecond,
    }
}

// ------------------------------------------------------- host to plugin

/// Converts a batch for a plugin; `schema` is the batch's schema in wit form.
pub fn batch_to_wit(batch: &RecordBatch, schema: wit::Schema) -> Result<wit::Batch, ConvertError> {
    let mut arrays = Vec::with_capacity(batch.num_columns());
    let columns = batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(array, field)| push_array(&mut arrays, array.as_ref(), field.name()))
        .collect::<Result<_, _>>()?;
    Ok(wit::Batch {
        schema,
        num_rows: batch.num_rows() as u32,
        arrays,
        columns,
    })
}

fn validity_to_wit(array: &dyn Array) -> Option<Vec<u8>> {
    // `sliced` re-aligns a bitmap that starts mid-byte (a sliced array).
    array
        .nulls()
        .filter(|n| n.null_count() > 0)
        .map(|n| n.inner().sliced().as_slice().to_vec())
}

/// Offsets re-based to start at 0, and the bytes they cover.
fn var_bytes(offsets: &[i32], bytes: &[u8]) -> wit::VarBytes {
    let (first, last) = (offsets[0], offsets[offsets.len() - 1]);
    let offsets = if first == 0 {
        offsets.to_vec()
    } else {
        offsets.iter().map(|o| o - first).collect()
    };
    wit::VarBytes {
        offsets,
        bytes: bytes[first as usize..last as usize].to_vec(),
    }
}

fn push_array(
    arrays: &mut Vec<wit::Array>,
    array: &dyn Array,
    name: &str,
) -> Result<u32, ConvertError> {
    let values = match array.data_type() {
        DataType::Boolean => {
            wit::Values::Boolean(array.as_boolean().values().sliced().as_slice().to_vec())
        }
        DataType::Int32 => wit::Values::Int32(
            array
                .as_primitive::<arrow::datatypes::Int32Type>()
                .values()
                .to_vec(),
        ),
        DataType::Int64 => wit::Values::Int64(
            array
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec(),
        ),
        DataType::Float32 => wit::Values::Float32(
            array
                .as_primitive::<arrow::datatypes::Float32Type>()
                .values()
                .to_vec(),
        ),
        DataType::Float64 => wit::Values::Float64(
            array
                .as_primitive::<arrow::datatypes::Float64Type>()
                .values()
                .to_vec(),
        ),
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            wit::Values::Utf8(var_bytes(a.value_offsets(), a.values()))
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            wit::Values::Binary(var_bytes(a.value_offsets(), a.values()))
        }
        DataType::Timestamp(_, _) => {
            // Every unit stores i64; reinterpret through the raw buffer.
            let data = array.to_data();
            let values: &[i64] = &data.buffer::<i64>(0)[..array.len()];
            wit::Values::Timestamp(values.to_vec())
        }
        DataType::Date32 => wit::Values::Date32(
            array
                .as_primitive::<arrow::datatypes::Date32Type>()
                .values()
                .to_vec(),
        ),
        DataType::Decimal128(_, _) => {
            let a = array.as_primitive::<arrow::datatypes::Decimal128Type>();
            wit::Values::Decimal128(a.values().iter().flat_map(|v| v.to_le_bytes()).collect())
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            let offsets = list.value_offsets();
            let (first, last) = (offsets[0] as usize, offsets[offsets.len() - 1] as usize);
            let items = list.values().slice(first, last - first);
            let item = push_array(arrays, items.as_ref(), name)?;
            let offsets = offsets.iter().map(|o| o - first as i32).collect();
            wit::Values::List(wit::ListData { offsets, item })
        }
        DataType::Struct(_) => {
            let s = array.as_struct();
            let children = s
                .columns()
                .iter()
                .map(|c| push_array(arrays, c.as_ref(), name))
                .collect::<Result<_, _>>()?;
            wit::Values::Struct(children)
        }
        other => {
            return err(format!(
                "column `{name}` has type {other}, which the weir:plugin contract does not carry"
            ));
        }
    };
    arrays.push(wit::Array {
        len: array.len() as u32,
        validity: validity_to_wit(array),
        values,
    });
    Ok((arrays.len() - 1) as u32)
}

// ------------------------------------------------------- plugin to host

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

/// A field with another name: output columns are named by the plan.
pub fn renamed(field: &FieldRef, name: &str) -> FieldRef {
    if field.name() == name {
        field.clone()
    } else {
        Arc::new(field.as_ref().clone().with_name(name))
    }
}

/// A plan's projection checked against `input`: the input columns a plugin
/// reads (`None` is all), and the schema of what it is sent, in WIT form.
/// The same check for transforms (`describe`) and sinks (`open`).
pub fn projection(
    indices: Option<Vec<u32>>,
    input: &Schema,
    input_wit: &wit::Schema,
) -> Result<(Option<Vec<usize>>, wit::Schema), String> {
    let Some(indices) = indices else {
        return Ok((None, input_wit.clone()));
    };
    let columns = input.fields().len();
    if let Some(bad) = indices.iter().find(|&&i| i as usize >= columns) {
        return Err(format!(
            "its plan reads input column {bad}, but the input has {columns}"
        ));
    }
    let indices: Vec<usize> = indices.into_iter().map(|i| i as usize).collect();
    let projected = input.project(&indices).expect("indices checked above");
    let projected_wit =
        schema_to_wit(&projected).expect("a projection of a convertible schema converts");
    Ok((Some(indices), projected_wit))
}

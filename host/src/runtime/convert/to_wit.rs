//! Host to plugin: a batch in the contract's columnar form, one bulk copy
//! per buffer.

use super::{ConvertError, err};
use crate::contract::wit;
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::DataType;

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

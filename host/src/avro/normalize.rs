//! Avro columns as the plugin contract carries them: arrow-avro decodes
//! enums to dictionaries, uuids to 16-byte fixed binary and maps to Arrow
//! maps, which the contract has no type for; they become text, text and
//! `list<struct<key, value>>`. Types with no faithful column type (unions of
//! several types, durations) are refused when the schema is read, naming the
//! column, rather than changed silently.

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeBinaryArray, ListArray, StringBuilder, StructArray,
};
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use std::sync::Arc;

/// The schema weir uses for rows decoded with `avro`.
pub fn schema(avro: &Schema) -> Result<SchemaRef, String> {
    let fields = avro
        .fields()
        .iter()
        .map(|f| field(f, f.name()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

fn is_uuid(f: &Field) -> bool {
    f.metadata().values().any(|v| v == "uuid")
}

fn field(f: &Field, path: &str) -> Result<FieldRef, String> {
    let data_type = match f.data_type() {
        DataType::Boolean
        | DataType::Int32
        | DataType::Int64
        | DataType::Float32
        | DataType::Float64
        | DataType::Utf8
        | DataType::Binary
        | DataType::Date32
        | DataType::Timestamp(_, _)
        | DataType::Decimal128(_, _) => f.data_type().clone(),
        DataType::Int8 | DataType::Int16 => DataType::Int32,
        DataType::Time32(_) => DataType::Int32,
        DataType::Time64(_) => DataType::Int64,
        DataType::Dictionary(_, value) if **value == DataType::Utf8 => DataType::Utf8,
        DataType::FixedSizeBinary(16) if is_uuid(f) => DataType::Utf8,
        DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::List(item) => DataType::List(field(item, &format!("{path}[]"))?),
        DataType::Struct(children) => DataType::Struct(
            children
                .iter()
                .map(|c| field(c, &format!("{path}.{}", c.name())))
                .collect::<Result<Fields, _>>()?,
        ),
        DataType::Map(entries, _) => DataType::List(field(entries, &format!("{path}{{}}"))?),
        other => {
            return Err(format!(
                "column `{path}`: the Avro type decoded as {other} has no weir column type \
                 (unions of several non-null types, durations and 256-bit decimals are not supported)"
            ));
        }
    };
    Ok(Arc::new(Field::new(f.name(), data_type, f.is_nullable())))
}

/// `array` (decoded by arrow-avro) as `target` (from [`schema`]).
pub fn array(array: &ArrayRef, target: &DataType) -> ArrayRef {
    if array.data_type() == target {
        return array.clone();
    }
    match (array.data_type(), target) {
        (DataType::FixedSizeBinary(16), DataType::Utf8) => uuid_text(array.as_fixed_size_binary()),
        (DataType::List(_), DataType::List(item)) => {
            let list = array.as_list::<i32>();
            let values = self::array(list.values(), item.data_type());
            Arc::new(ListArray::new(
                item.clone(),
                list.offsets().clone(),
                values,
                list.nulls().cloned(),
            ))
        }
        (DataType::Map(_, _), DataType::List(item)) => {
            let map = array.as_map();
            let entries: ArrayRef = Arc::new(map.entries().clone());
            let values = self::array(&entries, item.data_type());
            Arc::new(ListArray::new(
                item.clone(),
                map.offsets().clone(),
                values,
                map.nulls().cloned(),
            ))
        }
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let s = array.as_struct();
            let columns = s
                .columns()
                .iter()
                .zip(fields)
                .map(|(c, f)| self::array(c, f.data_type()))
                .collect();
            Arc::new(StructArray::new(
                fields.clone(),
                columns,
                s.nulls().cloned(),
            ))
        }
        _ => {
            arrow::compute::cast(array, target).expect("schema() only maps to types arrow casts to")
        }
    }
}

fn uuid_text(bytes: &FixedSizeBinaryArray) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(bytes.len(), bytes.len() * 36);
    for value in bytes.iter() {
        match value {
            None => out.append_null(),
            Some(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                out.append_value(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[0..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..32]
                ));
            }
        }
    }
    Arc::new(out.finish())
}

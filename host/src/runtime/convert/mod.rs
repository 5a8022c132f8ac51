//! Arrow `RecordBatch` ⇄ the contract's columnar batch. Host to plugin is a
//! bulk copy per buffer; plugin to host validates everything (a plugin is not
//! trusted) and then wraps the lifted vectors as Arrow buffers without a copy.
//!
//! This module holds the schemas both ways; `to_wit` the batches sent to a
//! plugin, `from_wit` the arrays it returns.

mod from_wit;
mod to_wit;

pub use from_wit::{ArrayTable, bitmap};
pub use to_wit::batch_to_wit;

use crate::contract::wit;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
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

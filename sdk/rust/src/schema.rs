//! Schemas and plans as plugin authors write them: nested types are plain Rust
//! values here, flattened into the contract's index tables only at the boundary.

use crate::Error;
use crate::bindings::weir::plugin::types as wit;

pub use wit::TimeUnit;

/// The logical type of a column.
#[derive(Debug, Clone, PartialEq)]
pub enum DataType {
    Boolean,
    Int32,
    Int64,
    Float32,
    Float64,
    Utf8,
    Binary,
    /// Instants in UTC, in `unit`, shown in `timezone` if set.
    Timestamp {
        unit: TimeUnit,
        timezone: Option<String>,
    },
    /// Days since 1970-01-01.
    Date32,
    Decimal128 {
        precision: u8,
        scale: i8,
    },
    List(Box<Field>),
    Struct(Vec<Field>),
}

/// A named, typed column.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub data_type: DataType,
    pub nullable: bool,
}

impl Field {
    pub fn new(name: impl Into<String>, data_type: DataType, nullable: bool) -> Self {
        Field {
            name: name.into(),
            data_type,
            nullable,
        }
    }
}

/// The columns of a batch, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Schema {
    pub fields: Vec<Field>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Self {
        Schema { fields }
    }

    /// The position of the column called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Like [`Schema::field`], with an error naming the columns that exist.
    pub fn require(&self, name: &str) -> Result<&Field, Error> {
        self.field(name).ok_or_else(|| {
            let names: Vec<&str> = self.fields.iter().map(|f| f.name.as_str()).collect();
            Error::new(format!(
                "input has no column `{name}` (it has: {})",
                names.join(", ")
            ))
        })
    }

    /// Replaces the column of the same name in place, or appends it.
    pub fn with(mut self, field: Field) -> Self {
        match self.index_of(&field.name) {
            Some(i) => self.fields[i] = field,
            None => self.fields.push(field),
        }
        self
    }

    /// Removes the column called `name`, if there is one.
    pub fn without(mut self, name: &str) -> Self {
        self.fields.retain(|f| f.name != name);
        self
    }

    pub(crate) fn from_wit(schema: &wit::Schema) -> Schema {
        let fields = schema
            .columns
            .iter()
            .map(|&i| field_from_wit(&schema.fields, i))
            .collect();
        Schema { fields }
    }

    pub(crate) fn to_wit(&self) -> wit::Schema {
        let mut fields = Vec::new();
        let columns = self
            .fields
            .iter()
            .map(|f| push_field(&mut fields, f))
            .collect();
        wit::Schema { fields, columns }
    }
}

fn field_from_wit(table: &[wit::Field], index: u32) -> Field {
    let f = &table[index as usize];
    let data_type = match &f.data_type {
        wit::DataType::Boolean => DataType::Boolean,
        wit::DataType::Int32 => DataType::Int32,
        wit::DataType::Int64 => DataType::Int64,
        wit::DataType::Float32 => DataType::Float32,
        wit::DataType::Float64 => DataType::Float64,
        wit::DataType::Utf8 => DataType::Utf8,
        wit::DataType::Binary => DataType::Binary,
        wit::DataType::Timestamp(t) => DataType::Timestamp {
            unit: t.unit,
            timezone: t.timezone.clone(),
        },
        wit::DataType::Date32 => DataType::Date32,
        wit::DataType::Decimal128(d) => DataType::Decimal128 {
            precision: d.precision,
            scale: d.scale,
        },
        wit::DataType::List(item) => DataType::List(Box::new(field_from_wit(table, *item))),
        wit::DataType::Struct(members) => {
            DataType::Struct(members.iter().map(|&m| field_from_wit(table, m)).collect())
        }
    };
    Field {
        name: f.name.clone(),
        data_type,
        nullable: f.nullable,
    }
}

/// Appends `field` and its children to the flat table; returns its index.
fn push_field(table: &mut Vec<wit::Field>, field: &Field) -> u32 {
    let data_type = match &field.data_type {
        DataType::Boolean => wit::DataType::Boolean,
        DataType::Int32 => wit::DataType::Int32,
        DataType::Int64 => wit::DataType::Int64,
        DataType::Float32 => wit::DataType::Float32,
        DataType::Float64 => wit::DataType::Float64,
        DataType::Utf8 => wit::DataType::Utf8,
        DataType::Binary => wit::DataType::Binary,
        DataType::Timestamp { unit, timezone } => wit::DataType::Timestamp(wit::TimestampType {
            unit: *unit,
            timezone: timezone.clone(),
        }),
        DataType::Date32 => wit::DataType::Date32,
        DataType::Decimal128 { precision, scale } => wit::DataType::Decimal128(wit::DecimalType {
            precision: *precision,
            scale: *scale,
        }),
        DataType::List(item) => wit::DataType::List(push_field(table, item)),
        DataType::Struct(members) => {
            wit::DataType::Struct(members.iter().map(|m| push_field(table, m)).collect())
        }
    };
    table.push(wit::Field {
        name: field.name.clone(),
        data_type,
        nullable: field.nullable,
    });
    (table.len() - 1) as u32
}

/// What a transform will output for an input schema, and which input columns
/// it needs to see.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub output: Schema,
    /// Names of the input columns `process` reads; `None` reads them all.
    /// Columns the transform does not read can still be passed through.
    pub reads: Option<Vec<String>>,
}

impl Plan {
    /// Output columns `output`, reading every input column.
    pub fn new(output: Schema) -> Self {
        Plan {
            output,
            reads: None,
        }
    }

    /// Reads only the named input columns: the host sends nothing else.
    pub fn reads(mut self, columns: &[&str]) -> Self {
        self.reads = Some(columns.iter().map(|c| c.to_string()).collect());
        self
    }

    pub(crate) fn to_wit(&self, input: &Schema) -> Result<wit::Plan, Error> {
        let projection = match &self.reads {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| input.require(n).map(|_| input.index_of(n).unwrap() as u32))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(wit::Plan {
            output: self.output.to_wit(),
            projection,
        })
    }
}

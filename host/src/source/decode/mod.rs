//! Decoders from lines of text to Arrow batches: `lines` (the text itself),
//! `csv` and `jsonl` against a declared schema. A line that does not fit goes
//! to the dead-letter with a reason naming the column; the others are kept.

pub mod avro;

use crate::config::FileFormat;
use crate::operator::DeadLetter;
use arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder,
    Float32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondBuilder, TimestampMillisecondBuilder, TimestampNanosecondBuilder,
    TimestampSecondBuilder,
};
use arrow::compute::kernels::cast_utils::{Parser, parse_decimal, string_to_timestamp_nanos};
use arrow::datatypes::{DataType, Date32Type, Decimal128Type, Field, Schema, SchemaRef, TimeUnit};
use std::sync::Arc;

/// One line of input and where it came from.
pub struct Line {
    pub source: Arc<str>,
    /// 1-based line number in its file.
    pub offset: i64,
    pub text: String,
    /// False if the bytes were not UTF-8 (`text` is then a lossy rendering).
    pub valid_utf8: bool,
}

/// A decoded batch: the rows kept (with their lines' origins) and the lines refused.
pub struct Decoded {
    pub batch: RecordBatch,
    pub origins: Vec<(Arc<str>, i64)>,
    pub rejected: Vec<DeadLetter>,
}

pub struct Decoder {
    format: FileFormat,
    schema: SchemaRef,
    delimiter: u8,
}

/// Splits one CSV line into its fields. The csv-core parser is built once
/// per batch and reset for each line: building one compiles its DFA, which
/// costs far more than parsing a line (a parser per line took 87 % of a
/// CSV pipeline's time).
struct CsvSplitter {
    reader: csv_core::Reader,
    text: Vec<u8>,
    ends: Vec<usize>,
}

impl CsvSplitter {
    fn new(delimiter: u8) -> Self {
        CsvSplitter {
            // A line comes without its line break (the source cuts at `\n`
            // and strips a trailing `\r`), so only `\n` may end a record: by
            // default csv-core also ends one at a `\r`, and the text after a
            // `\r` inside a line was lost.
            reader: csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
            text: vec![0; 256],
            ends: vec![0; 32],
        }
    }

    /// The line's fields; an empty line has none.
    fn split(&mut self, line: &str) -> Vec<&str> {
        use csv_core::ReadRecordResult as R;
        self.reader.reset();
        let (mut input, mut out, mut end) = (line.as_bytes(), 0, 0);
        loop {
            let (result, nin, nout, nend) =
                self.reader
                    .read_record(input, &mut self.text[out..], &mut self.ends[end..]);
            input = &input[nin..];
            out += nout;
            end += nend;
            match result {
                // An empty input next tells the parser the line is over.
                R::InputEmpty => continue,
                R::OutputFull => self.text.resize(self.text.len() * 2, 0),
                R::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                R::Record | R::End => break,
            }
        }
        let text = &self.text[..out];
        let mut start = 0;
        self.ends[..end]
            .iter()
            .map(|&e| {
                let field = &text[start..e];
                start = e;
                // Fields are cut from valid UTF-8 at ASCII delimiters and quotes.
                std::str::from_utf8(field).expect("a field of a UTF-8 line is UTF-8")
            })
            .collect()
    }
}

/// A field's value parsed from text or JSON, before it is appended.
enum Parsed<'a> {
    Null,
    Bool(bool),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Str(std::borrow::Cow<'a, str>),
    I128(i128),
}

impl Parsed<'_> {
    fn into_owned(self) -> Parsed<'static> {
        match self {
            Parsed::Str(s) => Parsed::Str(std::borrow::Cow::Owned(s.into_owned())),
            Parsed::Null => Parsed::Null,
            Parsed::Bool(v) => Parsed::Bool(v),
            Parsed::I32(v) => Parsed::I32(v),
            Parsed::I64(v) => Parsed::I64(v),
            Parsed::F32(v) => Parsed::F32(v),
            Parsed::F64(v) => Parsed::F64(v),
            Parsed::I128(v) => Parsed::I128(v),
        }
    }
}

impl Decoder {
    pub fn new(format: FileFormat, schema: Option<Schema>, delimiter: char) -> Self {
        let schema = match format {
            FileFormat::Lines => Schema::new(vec![Field::new("value", DataType::Utf8, false)]),
            _ => schema.expect("csv and jsonl have a declared schema (checked by the config)"),
        };
        Decoder {
            format,
            schema: Arc::new(schema),
            delimiter: delimiter as u8,
        }
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn stage(&self) -> &'static str {
        self.format.stage()
    }

    pub fn decode(&self, lines: Vec<Line>) -> Decoded {
        let mut builders: Vec<Box<dyn ArrayBuilder>> = self
            .schema
            .fields()
            .iter()
            .map(|f| make_builder(f.data_type(), lines.len()))
            .collect();
        let mut origins = Vec::with_capacity(lines.len());
        let mut rejected = Vec::new();
        let mut csv = CsvSplitter::new(self.delimiter);
        for line in lines {
            let parsed = match self.format {
                _ if !line.valid_utf8 => Err("line is not valid UTF-8".to_string()),
                FileFormat::Lines => Ok(vec![Parsed::Str(line.text.as_str().into())]),
                FileFormat::Csv => self.parse_csv(&mut csv, &line.text),
                FileFormat::Jsonl => self.parse_json(&line.text),
                FileFormat::Parquet => unreachable!("Parquet is read by columns, not lines"),
            };
            match parsed {
                Ok(values) => {
                    for ((builder, value), field) in
                        builders.iter_mut().zip(values).zip(self.schema.fields())
                    {
                        append(builder.as_mut(), field.data_type(), value);
                    }
                    origins.push((line.source, line.offset));
                }
                Err(reason) => rejected.push(DeadLetter {
                    stage: self.stage().to_string(),
                    reason,
                    source: line.source.to_string(),
                    offset: line.offset,
                    input: serde_json::Value::String(line.text),
                }),
            }
        }
        let columns: Vec<ArrayRef> = builders.iter_mut().map(|b| b.finish()).collect();
        let batch =
            RecordBatch::try_new(self.schema.clone(), columns).expect("builders follow the schema");
        Decoded {
            batch,
            origins,
            rejected,
        }
    }

    fn parse_csv(&self, csv: &mut CsvSplitter, text: &str) -> Result<Vec<Parsed<'static>>, String> {
        let record = csv.split(text);
        if record.is_empty() {
            return Err("line is empty".to_string());
        }
        let fields = self.schema.fields();
        if record.len() != fields.len() {
            return Err(format!(
                "expected {} fields, found {}",
                fields.len(),
                record.len()
            ));
        }
        fields
            .iter()
            .zip(record.iter())
            .map(|(field, raw)| {
                // As in Spark, an empty field is null, whatever its type.
                if raw.is_empty() {
                    return null_or_error(field);
                }
                // The record is local: its text must be owned.
                parse_text(field, raw).map(Parsed::into_owned)
            })
            .collect()
    }

    fn parse_json(&self, text: &str) -> Result<Vec<Parsed<'static>>, String> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
        self.schema
            .fields()
            .iter()
            .map(|field| match object.get(field.name()) {
                None | Some(serde_json::Value::Null) => null_or_error(field),
                Some(value) => parse_json_value(field, value),
            })
            .collect()
    }
}

fn null_or_error<'a>(field: &Field) -> Result<Parsed<'a>, String> {
    if field.is_nullable() {
        Ok(Parsed::Null)
    } else {
        Err(format!(
            "column `{}` is missing or empty, and it is NOT NULL",
            field.name()
        ))
    }
}

fn type_error(field: &Field, value: &str) -> String {
    format!(
        "column `{}`: {value:?} is not a valid {}",
        field.name(),
        field.data_type()
    )
}

fn parse_text<'a>(field: &Field, raw: &'a str) -> Result<Parsed<'a>, String> {
    let text = raw.trim();
    let bad = || type_error(field, raw);
    Ok(match field.data_type() {
        DataType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Parsed::Bool(true),
            "false" => Parsed::Bool(false),
            _ => return Err(bad()),
        },
        DataType::Int32 => Parsed::I32(text.parse().map_err(|_| bad())?),
        DataType::Int64 => Parsed::I64(text.parse().map_err(|_| bad())?),
        DataType::Float32 => Parsed::F32(text.parse().map_err(|_| bad())?),
        DataType::Float64 => Parsed::F64(text.parse().map_err(|_| bad())?),
        DataType::Utf8 | DataType::Binary => Parsed::Str(raw.into()),
        DataType::Date32 => Parsed::I32(Date32Type::parse(text).ok_or_else(bad)?),
        DataType::Timestamp(unit, _) => {
            let nanos = string_to_timestamp_nanos(text).map_err(|_| bad())?;
            Parsed::I64(match unit {
                TimeUnit::Second => nanos.div_euclid(1_000_000_000),
                TimeUnit::Millisecond => nanos.div_euclid(1_000_000),
                TimeUnit::Microsecond => nanos.div_euclid(1_000),
                TimeUnit::Nanosecond => nanos,
            })
        }
        DataType::Decimal128(p, s) => {
            // Arrow would round extra decimal places away; losing digits
            // silently is not ours to decide, so the row is refused.
            if fraction_digits(text) > (*s).max(0) as usize {
                return Err(format!(
                    "column `{}`: {raw:?} has more decimal places than {} keeps",
                    field.name(),
                    field.data_type()
                ));
            }
            Parsed::I128(parse_decimal::<Decimal128Type>(text, *p, *s).map_err(|_| bad())?)
        }
        other => {
            return Err(format!(
                "column `{}`: type {other} cannot be decoded from text",
                field.name()
            ));
        }
    })
}

/// Significant digits after the decimal point (trailing zeros are exact).
fn fraction_digits(text: &str) -> usize {
    if text.contains(['e', 'E']) {
        return 0;
    }
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.trim_end_matches('0').len())
}

fn parse_json_value(field: &Field, value: &serde_json::Value) -> Result<Parsed<'static>, String> {
    use serde_json::Value as J;
    let bad = || {
        format!(
            "column `{}`: expected {}, found {value}",
            field.name(),
            field.data_type()
        )
    };
    Ok(match (field.data_type(), value) {
        (DataType::Boolean, J::Bool(b)) => Parsed::Bool(*b),
        (DataType::Int32, J::Number(n)) => Parsed::I32(
            n.as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(bad)?,
        ),
        (DataType::Int64, J::Number(n)) => Parsed::I64(n.as_i64().ok_or_else(bad)?),
        (DataType::Float32, J::Number(n)) => Parsed::F32(n.as_f64().ok_or_else(bad)? as f32),
        (DataType::Float64, J::Number(n)) => Parsed::F64(n.as_f64().ok_or_else(bad)?),
        (DataType::Utf8 | DataType::Binary, J::String(s)) => Parsed::Str(s.clone().into()),
        // Dates, timestamps and decimals arrive as text (or numbers) in JSON.
        (
            DataType::Date32 | DataType::Timestamp(_, _) | DataType::Decimal128(_, _),
            J::String(s),
        ) => match parse_text(field, s)? {
            Parsed::Str(_) => return Err(bad()),
            parsed => parsed.into_owned(),
        },
        (DataType::Timestamp(_, _), J::Number(n)) => Parsed::I64(n.as_i64().ok_or_else(bad)?),
        (DataType::Decimal128(p, s), J::Number(n)) => Parsed::I128(
            parse_decimal::<Decimal128Type>(&n.to_string(), *p, *s).map_err(|_| bad())?,
        ),
        _ => return Err(bad()),
    })
}

fn make_builder(data_type: &DataType, capacity: usize) -> Box<dyn ArrayBuilder> {
    match data_type {
        DataType::Boolean => Box::new(BooleanBuilder::with_capacity(capacity)),
        DataType::Int32 => Box::new(Int32Builder::with_capacity(capacity)),
        DataType::Int64 => Box::new(Int64Builder::with_capacity(capacity)),
        DataType::Float32 => Box::new(Float32Builder::with_capacity(capacity)),
        DataType::Float64 => Box::new(Float64Builder::with_capacity(capacity)),
        DataType::Utf8 => Box::new(StringBuilder::with_capacity(capacity, capacity * 16)),
        DataType::Binary => Box::new(BinaryBuilder::with_capacity(capacity, capacity * 16)),
        DataType::Date32 => Box::new(Date32Builder::with_capacity(capacity)),
        DataType::Timestamp(unit, tz) => match unit {
            TimeUnit::Second => Box::new(
                TimestampSecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Millisecond => Box::new(
                TimestampMillisecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Microsecond => Box::new(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
            TimeUnit::Nanosecond => Box::new(
                TimestampNanosecondBuilder::with_capacity(capacity).with_timezone_opt(tz.clone()),
            ),
        },
        DataType::Decimal128(p, s) => Box::new(
            Decimal128Builder::with_capacity(capacity)
                .with_precision_and_scale(*p, *s)
                .expect("precision and scale checked when the schema was parsed"),
        ),
        other => unreachable!("the DDL parser yields no {other}"),
    }
}

fn append(builder: &mut dyn ArrayBuilder, data_type: &DataType, value: Parsed<'_>) {
    macro_rules! put {
        ($b:ty, $v:expr) => {
            builder
                .as_any_mut()
                .downcast_mut::<$b>()
                .expect("builder made for this type")
                .append_option($v)
        };
    }
    macro_rules! null_or {
        ($variant:ident) => {
            match value {
                Parsed::$variant(v) => Some(v),
                _ => None,
            }
        };
    }
    match data_type {
        DataType::Boolean => put!(BooleanBuilder, null_or!(Bool)),
        DataType::Int32 => put!(Int32Builder, null_or!(I32)),
        DataType::Int64 => put!(Int64Builder, null_or!(I64)),
        DataType::Float32 => put!(Float32Builder, null_or!(F32)),
        DataType::Float64 => put!(Float64Builder, null_or!(F64)),
        DataType::Utf8 => put!(StringBuilder, null_or!(Str)),
        DataType::Binary => put!(
            BinaryBuilder,
            null_or!(Str).map(|s| s.into_owned().into_bytes())
        ),
        DataType::Date32 => put!(Date32Builder, null_or!(I32)),
        DataType::Timestamp(TimeUnit::Second, _) => put!(TimestampSecondBuilder, null_or!(I64)),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            put!(TimestampMillisecondBuilder, null_or!(I64))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            put!(TimestampMicrosecondBuilder, null_or!(I64))
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            put!(TimestampNanosecondBuilder, null_or!(I64))
        }
        DataType::Decimal128(_, _) => put!(Decimal128Builder, null_or!(I128)),
        other => unreachable!("the DDL parser yields no {other}"),
    }
}

#[cfg(test)]
mod tests;

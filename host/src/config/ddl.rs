//! Declared schemas in the DDL Spark users already write:
//! `"symbol STRING, ts TIMESTAMP, price DECIMAL(10,2), volume BIGINT NOT NULL"`.

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

/// Parses a schema; columns are nullable unless marked `NOT NULL`.
pub fn parse_schema(ddl: &str) -> Result<Schema, String> {
    let mut fields = Vec::new();
    for column in split_top_level(ddl) {
        let column = column.trim();
        if column.is_empty() {
            return Err(format!("empty column definition in {ddl:?}"));
        }
        let (name, rest) = column.split_once(char::is_whitespace).ok_or_else(|| {
            format!("column {column:?} needs a name and a type, e.g. \"age INT\"")
        })?;
        let rest = rest.trim();
        let upper = rest.to_ascii_uppercase();
        let (type_text, nullable) = match upper.strip_suffix("NOT NULL") {
            Some(t) => (&rest[..t.len()], false),
            None => (rest, true),
        };
        let data_type =
            parse_type(type_text.trim()).map_err(|e| format!("column `{name}`: {e}"))?;
        if fields.iter().any(|f: &Field| f.name() == name) {
            return Err(format!("column `{name}` is declared twice"));
        }
        fields.push(Field::new(name, data_type, nullable));
    }
    Ok(Schema::new(fields))
}

fn split_top_level(text: &str) -> Vec<&str> {
    let (mut parts, mut depth, mut start) = (Vec::new(), 0i32, 0);
    for (i, c) in text.char_indices() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// One type name: Spark SQL's names, with Arrow's common aliases.
pub fn parse_type(text: &str) -> Result<DataType, String> {
    let upper = text.to_ascii_uppercase().replace(' ', "");
    let simple = match upper.as_str() {
        "BOOLEAN" | "BOOL" => Some(DataType::Boolean),
        "INT" | "INTEGER" | "INT32" => Some(DataType::Int32),
        "BIGINT" | "LONG" | "INT64" => Some(DataType::Int64),
        "FLOAT" | "REAL" | "FLOAT32" => Some(DataType::Float32),
        "DOUBLE" | "FLOAT64" => Some(DataType::Float64),
        "STRING" | "VARCHAR" | "TEXT" | "UTF8" => Some(DataType::Utf8),
        "BINARY" | "BYTES" => Some(DataType::Binary),
        "DATE" => Some(DataType::Date32),
        // Spark's TIMESTAMP is microseconds in UTC.
        "TIMESTAMP" | "TIMESTAMP(US)" => Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )),
        "TIMESTAMP(S)" => Some(DataType::Timestamp(TimeUnit::Second, Some("UTC".into()))),
        "TIMESTAMP(MS)" => Some(DataType::Timestamp(
            TimeUnit::Millisecond,
            Some("UTC".into()),
        )),
        "TIMESTAMP(NS)" => Some(DataType::Timestamp(
            TimeUnit::Nanosecond,
            Some("UTC".into()),
        )),
        _ => None,
    };
    if let Some(t) = simple {
        return Ok(t);
    }
    if let Some(args) = upper
        .strip_prefix("DECIMAL(")
        .and_then(|r| r.strip_suffix(')'))
    {
        let (p, s) = args
            .split_once(',')
            .ok_or("DECIMAL needs (precision, scale)")?;
        let precision: u8 = p
            .parse()
            .map_err(|_| format!("bad DECIMAL precision {p:?}"))?;
        let scale: i8 = s.parse().map_err(|_| format!("bad DECIMAL scale {s:?}"))?;
        if precision == 0 || precision > 38 || scale as i16 > precision as i16 {
            return Err(format!(
                "DECIMAL({precision},{scale}) is out of range (precision 1..=38, scale <= precision)"
            ));
        }
        return Ok(DataType::Decimal128(precision, scale));
    }
    Err(format!(
        "unknown type {text:?}; use BOOLEAN, INT, BIGINT, FLOAT, DOUBLE, STRING, BINARY, DATE, TIMESTAMP or DECIMAL(p,s)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spark_ddl_with_nullability_and_decimals() {
        let s = parse_schema(
            "symbol STRING NOT NULL, ts TIMESTAMP, price DECIMAL(10, 2), volume bigint",
        )
        .unwrap();
        assert_eq!(s.field(0).data_type(), &DataType::Utf8);
        assert!(!s.field(0).is_nullable());
        assert_eq!(
            s.field(1).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        assert_eq!(s.field(2).data_type(), &DataType::Decimal128(10, 2));
        assert_eq!(s.field(3).data_type(), &DataType::Int64);
        assert!(s.field(3).is_nullable());
    }

    #[test]
    fn names_the_column_with_a_bad_type() {
        let e = parse_schema("a INT, b NUMBERISH").unwrap_err();
        assert!(e.contains("column `b`") && e.contains("NUMBERISH"), "{e}");
        assert!(parse_schema("a INT, a INT").unwrap_err().contains("twice"));
        assert!(
            parse_schema("justaname")
                .unwrap_err()
                .contains("needs a name and a type")
        );
    }
}

//! The CQL the Cassandra sink needs: identifier quoting, column types for
//! create-table-if-missing, the keyspace and table DDL, and the INSERT.

use weir_sink::DataType;

type Column = (String, DataType, bool);

/// A name as CQL reads it: plain lower-case names as they are (CQL folds
/// unquoted names to lower case), anything else double-quoted.
pub fn quote(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// The CQL type `create_table` gives a column.
pub fn column_type(data_type: &DataType) -> Result<&'static str, String> {
    Ok(match data_type {
        DataType::Boolean => "boolean",
        DataType::Int32 => "int",
        DataType::Int64 => "bigint",
        DataType::Float32 => "float",
        DataType::Float64 => "double",
        DataType::Utf8 => "text",
        DataType::Binary => "blob",
        // CQL timestamps hold milliseconds: finer digits are dropped.
        DataType::Timestamp(_) => "timestamp",
        DataType::Date32 => "date",
        DataType::Decimal128(_) => "decimal",
        DataType::List(_) | DataType::Struct(_) => {
            return Err(
                "lists and structs cannot be written to CQL tables yet; flatten them in a \
                 transform"
                    .into(),
            );
        }
    })
}

pub fn create_keyspace(keyspace: &str, replication: &str) -> String {
    format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {replication}",
        quote(keyspace)
    )
}

/// `CREATE TABLE IF NOT EXISTS`, the primary key `((partition...), clustering...)`:
/// the first `partition` key columns make the partition key.
pub fn create_table(
    table: &str,
    columns: &[Column],
    keys: &[u32],
    partition: usize,
) -> Result<String, String> {
    let mut parts = Vec::new();
    for (name, data_type, _) in columns {
        parts.push(format!("{} {}", quote(name), column_type(data_type)?));
    }
    let names = |which: &[u32]| -> String {
        which
            .iter()
            .map(|&i| quote(&columns[i as usize].0))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (partition_keys, clustering) = keys.split_at(partition);
    let mut primary = format!("({})", names(partition_keys));
    if !clustering.is_empty() {
        primary.push_str(", ");
        primary.push_str(&names(clustering));
    }
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {table} ({}, PRIMARY KEY ({primary}))",
        parts.join(", ")
    ))
}

/// `INSERT INTO table (columns in `order`) VALUES (?, ...)`.
pub fn insert(table: &str, columns: &[Column], order: &[u32]) -> String {
    let names: Vec<String> = order
        .iter()
        .map(|&i| quote(&columns[i as usize].0))
        .collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        vec!["?"; names.len()].join(", ")
    )
}

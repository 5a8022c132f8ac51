//! Hive-style partition folders: `key=value/` per partition column, with
//! values escaped as Hive does and nulls as `__HIVE_DEFAULT_PARTITION__`.

use std::collections::BTreeMap;
use weir_sink::{Batch, DataType, Schema, Values};

pub struct Partitioner {
    /// Partition columns: name and index in the input.
    keys: Vec<(String, u32)>,
    indices: Vec<u32>,
}

impl Partitioner {
    pub fn new(input: &Schema, names: &[String]) -> Result<Self, String> {
        let columns = weir_sink::columns(input);
        let mut keys = Vec::new();
        for name in names {
            let index = weir_sink::column_index(input, name)
                .map_err(|e| format!("config key `partition_by`: {e}"))?;
            let data_type = &columns[index as usize].1;
            if !matches!(
                data_type,
                DataType::Utf8
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::Date32
                    | DataType::Boolean
            ) {
                return Err(format!(
                    "config key `partition_by`: column `{name}` is not a string, integer, \
                     boolean or date column; derive one (e.g. a date) in a transform"
                ));
            }
            keys.push((name.clone(), index));
        }
        if keys.len() == columns.len() && !keys.is_empty() {
            return Err(
                "config key `partition_by`: every column is a partition column, so the files \
                 would hold nothing"
                    .to_string(),
            );
        }
        let indices = keys.iter().map(|(_, i)| *i).collect();
        Ok(Partitioner { keys, indices })
    }

    /// The input columns the partitioner reads.
    pub fn columns(&self) -> &[u32] {
        &self.indices
    }

    /// Row indices by folder (`k=v/…/`, or "" without partition columns).
    /// The batch holds only the partition columns, in `columns()` order.
    pub fn group(&self, batch: &Batch) -> Result<BTreeMap<String, Vec<u32>>, String> {
        let n = batch.num_rows as usize;
        let mut groups: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        if self.keys.is_empty() {
            groups.insert(String::new(), (0..n as u32).collect());
            return Ok(groups);
        }
        let mut folders = vec![String::new(); n];
        for (position, (name, _)) in self.keys.iter().enumerate() {
            let array = &batch.arrays[batch.columns[position] as usize];
            for (row, folder) in folders.iter_mut().enumerate() {
                let valid = array
                    .validity
                    .as_ref()
                    .is_none_or(|bits| bits[row / 8] & (1 << (row % 8)) != 0);
                let value = if valid {
                    escape(&value_text(&array.values, row))
                } else {
                    "__HIVE_DEFAULT_PARTITION__".to_string()
                };
                folder.push_str(name);
                folder.push('=');
                folder.push_str(&value);
                folder.push('/');
            }
        }
        for (row, folder) in folders.into_iter().enumerate() {
            groups.entry(folder).or_default().push(row as u32);
        }
        Ok(groups)
    }
}

fn value_text(values: &Values, row: usize) -> String {
    match values {
        Values::Utf8(v) => {
            let (start, end) = (v.offsets[row] as usize, v.offsets[row + 1] as usize);
            String::from_utf8_lossy(&v.bytes[start..end]).into_owned()
        }
        Values::Int32(v) => v[row].to_string(),
        Values::Int64(v) => v[row].to_string(),
        Values::Boolean(bits) => (bits[row / 8] & (1 << (row % 8)) != 0).to_string(),
        Values::Date32(v) => show_date(v[row]),
        _ => unreachable!("partition column types are checked at open"),
    }
}

/// Days since 1970-01-01 as `YYYY-MM-DD` (Howard Hinnant's civil_from_days).
fn show_date(days: i32) -> String {
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Escapes what Hive escapes in partition values, so a value cannot make a
/// folder of its own (`/`) or be read as another key (`=`).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_control()
            || matches!(
                c,
                '"' | '#' | '%' | '\'' | '*' | '/' | ':' | '=' | '?' | '\\' | '{' | '[' | ']' | '^'
            )
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    if out == "." || out == ".." {
        out = out.replace('.', "%2E");
    }
    out
}

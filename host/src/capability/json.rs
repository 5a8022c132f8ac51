//! Arrow rows as JSON values: how the Kafka capability encodes a JSON record
//! and how the dead-letter shows the row it refused.

use arrow::array::RecordBatch;

/// Rows of `batch` as JSON objects, for dead letters of plugin stages.
pub fn rows_as_json(batch: &RecordBatch) -> Vec<serde_json::Value> {
    let mut buffer = Vec::new();
    let written = {
        let mut writer = arrow::json::LineDelimitedWriter::new(&mut buffer);
        writer.write(batch).and_then(|_| writer.finish())
    };
    match written {
        Ok(()) => buffer
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap_or(serde_json::Value::Null))
            .collect(),
        // A type the JSON writer cannot render: say so rather than lose the row.
        Err(e) => vec![
            serde_json::Value::String(format!("(row not renderable as JSON: {e})"));
            batch.num_rows()
        ],
    }
}

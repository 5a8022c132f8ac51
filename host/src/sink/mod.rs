//! Sinks: where rows end up. For now native CSV, JSON Lines and stdout
//! writers; the sandboxed sink contract replaces them in its own issue.

mod file;
mod kafka;

pub use file::{CsvSink, JsonlSink, StdoutSink};

use crate::config::SinkConfig;
use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink `{sink}`: cannot write {target}: {source}")]
    Io {
        sink: String,
        target: String,
        source: std::io::Error,
    },
    #[error("sink `{sink}`: {message}")]
    Encode { sink: String, message: String },
    #[error("sink `{sink}` cannot take this pipeline's rows: {message}")]
    Schema { sink: String, message: String },
}

pub trait Sink: Send {
    fn name(&self) -> &str;
    /// Where rows go, for the run summary.
    fn target(&self) -> String;
    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError>;
    /// Makes everything written so far durable (called at the end of a run).
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Checks, before anything is opened, that a sink can encode `schema`.
pub fn check(config: &SinkConfig, schema: &Schema) -> Result<(), SinkError> {
    let nested = schema
        .fields()
        .iter()
        .find(|f| matches!(f.data_type(), DataType::List(_) | DataType::Struct(_)));
    if let SinkConfig::Kafka(c) = config {
        return kafka::check(c, schema).map_err(|message| SinkError::Schema {
            sink: c.name.clone(),
            message,
        });
    }
    if let (SinkConfig::Csv(c), Some(f)) = (config, nested) {
        return Err(SinkError::Schema {
            sink: c.name.clone(),
            message: format!(
                "CSV cannot hold column `{}` of type {}; use a jsonl sink",
                f.name(),
                f.data_type()
            ),
        });
    }
    Ok(())
}

pub fn open(config: &SinkConfig, schema: &Schema) -> Result<Box<dyn Sink>, SinkError> {
    check(config, schema)?;
    Ok(match config {
        SinkConfig::Csv(c) => Box::new(CsvSink::open(c, schema)?),
        SinkConfig::Jsonl(c) => Box::new(JsonlSink::open(c)?),
        SinkConfig::Stdout(c) => Box::new(StdoutSink::new(&c.name)),
        SinkConfig::Kafka(c) => Box::new(kafka::KafkaSink::open(c, schema)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CsvSinkConfig;
    use arrow::datatypes::Field;
    use std::sync::Arc;

    #[test]
    fn csv_refuses_nested_columns_naming_them() {
        let config = SinkConfig::Csv(CsvSinkConfig {
            name: "out".into(),
            path: "x.csv".into(),
            header: true,
            delimiter: ',',
        });
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "tags",
                DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
                true,
            ),
        ]);
        let err = check(&config, &schema).unwrap_err().to_string();
        assert!(
            err.contains("sink `out`") && err.contains("column `tags`") && err.contains("jsonl"),
            "{err}"
        );
    }
}

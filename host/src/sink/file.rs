//! Native file writers: CSV and JSON Lines into one file (truncated at the
//! start of a run), and JSON Lines on stdout.

use super::{Sink, SinkError};
use crate::config::{CsvSinkConfig, JsonlSinkConfig};
use arrow::array::RecordBatch;
use arrow::datatypes::{Schema, SchemaRef};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

fn create(sink: &str, path: &Path) -> Result<BufWriter<File>, SinkError> {
    let io = |source| SinkError::Io {
        sink: sink.to_string(),
        target: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    Ok(BufWriter::new(File::create(path).map_err(io)?))
}

pub struct CsvSink {
    name: String,
    path: String,
    /// Taken at `flush`, which ends the sink's run. Writes straight to the
    /// file: arrow's writer buffers and flushes once per batch, so rows are
    /// visible as soon as their batch is written.
    writer: Option<arrow::csv::Writer<File>>,
    schema: SchemaRef,
    wrote_any: bool,
}

impl CsvSink {
    pub fn open(config: &CsvSinkConfig, schema: &Schema) -> Result<Self, SinkError> {
        let file = create(&config.name, &config.path)?
            .into_inner()
            .map_err(|e| SinkError::Io {
                sink: config.name.clone(),
                target: config.path.display().to_string(),
                source: e.into_error(),
            })?;
        let writer = arrow::csv::WriterBuilder::new()
            .with_header(config.header)
            .with_delimiter(config.delimiter as u8)
            .build(file);
        Ok(CsvSink {
            name: config.name.clone(),
            path: config.path.display().to_string(),
            writer: Some(writer),
            schema: Arc::new(schema.clone()),
            wrote_any: false,
        })
    }
}

impl Sink for CsvSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn target(&self) -> String {
        self.path.clone()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.wrote_any = true;
        let Some(writer) = self.writer.as_mut() else {
            return Err(SinkError::Encode {
                sink: self.name.clone(),
                message: "written after flush".to_string(),
            });
        };
        writer.write(batch).map_err(|e| SinkError::Encode {
            sink: self.name.clone(),
            message: e.to_string(),
        })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        if !self.wrote_any {
            // An empty result still gets its header.
            self.write(&RecordBatch::new_empty(self.schema.clone()))?;
        }
        let io = |source| SinkError::Io {
            sink: self.name.clone(),
            target: self.path.clone(),
            source,
        };
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        writer.into_inner().sync_all().map_err(io)
    }
}

pub struct JsonlSink {
    name: String,
    path: String,
    writer: arrow::json::LineDelimitedWriter<BufWriter<File>>,
}

impl JsonlSink {
    pub fn open(config: &JsonlSinkConfig) -> Result<Self, SinkError> {
        let file = create(&config.name, &config.path)?;
        Ok(JsonlSink {
            name: config.name.clone(),
            path: config.path.display().to_string(),
            writer: arrow::json::LineDelimitedWriter::new(file),
        })
    }
}

impl Sink for JsonlSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn target(&self) -> String {
        self.path.clone()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.writer.write(batch).map_err(|e| SinkError::Encode {
            sink: self.name.clone(),
            message: e.to_string(),
        })?;
        // Rows become visible batch by batch (durable only at `flush`).
        self.writer
            .get_mut()
            .flush()
            .map_err(|source| SinkError::Io {
                sink: self.name.clone(),
                target: self.path.clone(),
                source,
            })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            sink: self.name.clone(),
            target: self.path.clone(),
            source,
        };
        let file = self.writer.get_mut();
        file.flush().map_err(io)?;
        file.get_ref().sync_all().map_err(io)
    }
}

pub struct StdoutSink {
    name: String,
}

impl StdoutSink {
    pub fn new(name: &str) -> Self {
        StdoutSink {
            name: name.to_string(),
        }
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn target(&self) -> String {
        "stdout".to_string()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        let stdout = std::io::stdout();
        let mut writer = arrow::json::LineDelimitedWriter::new(stdout.lock());
        writer
            .write(batch)
            .and_then(|_| writer.finish())
            .map_err(|e| SinkError::Encode {
                sink: self.name.clone(),
                message: e.to_string(),
            })
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        std::io::stdout().flush().map_err(|source| SinkError::Io {
            sink: self.name.clone(),
            target: "stdout".to_string(),
            source,
        })
    }
}

//! The dead-letter: every row a decoder or a plugin refuses lands here with
//! the stage, the reason, where it came from and the input it was.

pub use crate::capability::json::rows_as_json;
use crate::config::DeadLetterConfig;
use serde::Serialize;
use std::io::Write;

/// One refused row.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DeadLetter {
    /// `decode:<format>` or `transform:<name>`.
    pub stage: String,
    pub reason: String,
    /// The file (or other source) and the offset in it (line number for files).
    pub source: String,
    pub offset: i64,
    /// The raw record for a decoder; the row as it entered the stage for a plugin.
    pub input: serde_json::Value,
}

/// Where dead letters are written (JSON Lines).
pub struct DeadLetterWriter {
    out: Box<dyn Write + Send>,
    pub target: String,
    pub written: u64,
}

impl DeadLetterWriter {
    pub fn open(config: &DeadLetterConfig) -> std::io::Result<Self> {
        let (out, target): (Box<dyn Write + Send>, String) = match config {
            DeadLetterConfig::Stderr => (Box::new(std::io::stderr()), "stderr".to_string()),
            DeadLetterConfig::Kafka {
                brokers,
                topic,
                properties,
            } => {
                let producer =
                    crate::capability::kafka::producer::KafkaProducer::new(brokers, properties)
                        .map_err(std::io::Error::other)?;
                (
                    Box::new(KafkaLetters {
                        producer,
                        topic: topic.clone(),
                        line: Vec::new(),
                    }),
                    format!("kafka topic {topic}"),
                )
            }
            DeadLetterConfig::Jsonl { path } => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let file = std::fs::File::create(path)?;
                (
                    Box::new(std::io::BufWriter::new(file)),
                    path.display().to_string(),
                )
            }
        };
        Ok(DeadLetterWriter {
            out,
            target,
            written: 0,
        })
    }

    pub fn write(&mut self, letter: &DeadLetter) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, letter)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Dead letters to a Kafka topic: each line written becomes one record;
/// `flush` waits until the broker has them all.
struct KafkaLetters {
    producer: crate::capability::kafka::producer::KafkaProducer,
    topic: String,
    line: Vec<u8>,
}

impl Write for KafkaLetters {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for part in buf.split_inclusive(|&b| b == b'\n') {
            match part.strip_suffix(b"\n") {
                Some(end) => {
                    self.line.extend_from_slice(end);
                    self.producer
                        .send(&self.topic, None, &self.line, &[])
                        .map_err(std::io::Error::other)?;
                    self.line.clear();
                }
                None => self.line.extend_from_slice(part),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.producer.flush().map_err(std::io::Error::other)
    }
}

//! The dead-letter: every row a decoder or a plugin refuses lands here with
//! the stage, the reason, where it came from and the input it was.

use crate::capability::in_place::{Resume, open_in_place};
pub use crate::capability::json::rows_as_json;
use crate::config::DeadLetterConfig;
use crate::observe::letters::LetterLog;
use crate::operator::DeadLetter;
use std::io::Write;
use std::path::PathBuf;

/// Where dead letters are written (JSON Lines).
pub struct DeadLetterWriter {
    out: Box<dyn Write + Send>,
    /// A JSON Lines file: its path and the bytes it holds once flushed, so
    /// a checkpoint can record its length and a resumed run cut it back.
    file: Option<(PathBuf, u64)>,
    pub target: String,
    pub written: u64,
    /// The newest letters, for the console.
    log: LetterLog,
}

impl DeadLetterWriter {
    /// Opens the dead-letter; a JSON Lines file is kept (cut back to its
    /// length at the checkpoint a run resumes from, see [`Resume`]) rather
    /// than emptied, so the letters of committed epochs survive a restart.
    pub fn open(
        config: &DeadLetterConfig,
        resume: Resume,
        log: LetterLog,
    ) -> std::io::Result<Self> {
        let mut file = None;
        let (out, target): (Box<dyn Write + Send>, String) = match config {
            DeadLetterConfig::Stderr => (Box::new(std::io::stderr()), "stderr".to_string()),
            DeadLetterConfig::Kafka {
                brokers,
                topic,
                properties,
                ..
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
                let (handle, len) = open_in_place(path, resume)?;
                file = Some((path.clone(), len));
                (
                    Box::new(std::io::BufWriter::new(handle)),
                    path.display().to_string(),
                )
            }
        };
        Ok(DeadLetterWriter {
            out,
            file,
            target,
            written: 0,
            log,
        })
    }

    pub fn write(&mut self, letter: &DeadLetter) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(letter)?;
        line.push(b'\n');
        self.out.write_all(&line)?;
        if let Some((_, len)) = &mut self.file {
            *len += line.len() as u64;
        }
        self.written += 1;
        self.log.record(
            &letter.stage,
            &letter.reason,
            &letter.source,
            letter.offset,
            &letter.input,
        );
        Ok(())
    }

    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// The bytes of the dead-letter file, flushed (for a checkpoint); `None`
    /// for a dead-letter that is not a file.
    pub fn length(&mut self) -> std::io::Result<Option<u64>> {
        self.out.flush()?;
        Ok(self.file.as_ref().map(|(_, len)| *len))
    }

    /// Goes back to the length a checkpoint recorded, as a retried epoch
    /// starts over from it: the letters written since are written again.
    pub fn rewind(&mut self, resume: Resume) -> std::io::Result<()> {
        let Some((path, _)) = &self.file else {
            return Ok(());
        };
        self.out.flush()?;
        let path = path.clone();
        let (handle, len) = open_in_place(&path, resume)?;
        self.out = Box::new(std::io::BufWriter::new(handle));
        self.file = Some((path, len));
        Ok(())
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

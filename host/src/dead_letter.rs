//! The dead-letter: every row a decoder or a plugin refuses lands here with
//! the stage, the reason, where it came from and the input it was. A
//! Kafka dead-letter may be exactly-once: each epoch's letters in one
//! transaction, committed with the epoch, as the exactly-once Kafka sink's
//! records are (capability/kafka/epochs.rs).

use crate::capability::in_place::{Resume, open_in_place};
pub use crate::capability::json::rows_as_json;
use crate::capability::kafka::epochs;
use crate::capability::kafka::producer::KafkaProducer;
use crate::config::{DeadLetterConfig, Delivery};
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
    /// An exactly-once Kafka dead-letter's transactions.
    transactions: Option<Transactions>,
}

impl Transactions {
    /// A failed call as an error: `PermissionDenied`, which no retry
    /// mends, once another producer of the id fenced this one (the pipeline
    /// runs twice), as the exactly-once sink stops then too.
    fn refused(&self, fenced: bool, message: String) -> std::io::Error {
        match self.producer.fatal().or(fenced.then_some(message.clone())) {
            Some(fatal) => std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "the dead-letter's transactional id `{}` was taken over by another producer \
                     (is the pipeline running twice?): {fatal}",
                    self.id
                ),
            ),
            None => std::io::Error::other(message),
        }
    }
}

/// The letters of each epoch in one transaction, with an epoch marker.
struct Transactions {
    producer: std::sync::Arc<KafkaProducer>,
    id: String,
    /// The newest epoch whose letters Kafka has: a replay of it or of an
    /// older one writes none.
    committed: Option<u64>,
    epoch: u64,
    open: bool,
}

impl DeadLetterWriter {
    /// Opens the dead-letter; a JSON Lines file is kept (cut back to its
    /// length at the checkpoint a run resumes from, see [`Resume`]) rather
    /// than emptied, so the letters of committed epochs survive a restart.
    pub fn open(
        config: &DeadLetterConfig,
        pipeline: &str,
        resume: Resume,
        log: LetterLog,
    ) -> std::io::Result<Self> {
        let mut file = None;
        let mut transactions = None;
        let (out, target): (Box<dyn Write + Send>, String) = match config {
            DeadLetterConfig::Stderr => (Box::new(std::io::stderr()), "stderr".to_string()),
            DeadLetterConfig::Kafka {
                brokers,
                topic,
                properties,
                delivery,
                ..
            } => {
                let producer = std::sync::Arc::new(
                    match delivery {
                        Delivery::AtLeastOnce => KafkaProducer::new(brokers, properties),
                        Delivery::ExactlyOnce => {
                            let id = format!("weir:{pipeline}/dead_letter");
                            KafkaProducer::transactional(brokers, properties, &id)
                        }
                    }
                    .map_err(std::io::Error::other)?,
                );
                if let Some(id) = producer.transactional_id() {
                    let committed = epochs::committed(brokers, properties, id)
                        .map_err(std::io::Error::other)?;
                    transactions = Some(Transactions {
                        producer: producer.clone(),
                        id: id.to_string(),
                        committed,
                        epoch: 0,
                        open: false,
                    });
                }
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
            transactions,
        })
    }

    pub fn write(&mut self, letter: &DeadLetter) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(letter)?;
        line.push(b'\n');
        match &mut self.transactions {
            // A replayed epoch whose letters Kafka has: they are not sent
            // again (but still counted, as the first run counted them).
            Some(t) if t.committed.is_some_and(|c| t.epoch <= c) => {}
            Some(t) => {
                if !t.open {
                    t.producer
                        .begin()
                        .map_err(|e| t.refused(e.fenced, e.message))?;
                    t.open = true;
                }
                if let Err(e) = self.out.write_all(&line) {
                    return Err(t.refused(false, e.to_string()));
                }
            }
            None => self.out.write_all(&line)?,
        }
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
        let flushed = self.out.flush();
        match (&self.transactions, flushed) {
            (Some(t), Err(e)) => Err(t.refused(false, e.to_string())),
            (_, flushed) => flushed,
        }
    }

    /// The pipeline is now in `epoch` (at its start, after a restart, after
    /// each commit): an exactly-once dead-letter writes its letters in a
    /// transaction of that epoch, or none if Kafka has the epoch already.
    /// Kafka having letters of a later epoch than `epoch` means the
    /// checkpoints are not this dead-letter's (deleted, or another run's):
    /// an error, rather than letters silently skipped.
    pub fn begin_epoch(&mut self, epoch: u64) -> std::io::Result<()> {
        let Some(t) = &mut self.transactions else {
            return Ok(());
        };
        if let Some(committed) = t.committed.filter(|&c| c > epoch) {
            return Err(std::io::Error::other(format!(
                "Kafka has the letters of epoch {committed} under `{}` (in {}), but the checkpoints resume at epoch {epoch}: \
                 they are another run's or were deleted; delete the marker or use another pipeline name",
                t.id,
                epochs::TOPIC
            )));
        }
        t.epoch = epoch;
        Ok(())
    }

    /// The epoch's checkpoint is durable: an exactly-once dead-letter
    /// commits its letters with the epoch's marker.
    pub fn commit_epoch(&mut self, epoch: u64) -> std::io::Result<()> {
        if !self.transactions.as_ref().is_some_and(|t| t.open) {
            return Ok(());
        }
        self.flush()?;
        let t = self.transactions.as_mut().expect("a transaction is open");
        t.producer
            .send(
                epochs::TOPIC,
                Some(t.id.as_bytes()),
                &epochs::marker(epoch),
                &[],
            )
            .map_err(|e| t.refused(false, e))?;
        t.producer
            .commit()
            .map_err(|e| t.refused(e.fenced, e.message))?;
        t.open = false;
        t.committed = Some(epoch);
        Ok(())
    }

    /// The epoch is abandoned: its letters are never committed (its retry
    /// writes them again).
    pub fn abort_epoch(&mut self) {
        if let Some(t) = self.transactions.as_mut().filter(|t| t.open) {
            t.open = false;
            if let Err(e) = t.producer.abort() {
                tracing::warn!(reason = %e.message, "Could not abort the dead-letter's Kafka transaction; its records are never committed.");
            }
        }
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
    producer: std::sync::Arc<KafkaProducer>,
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

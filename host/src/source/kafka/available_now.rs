//! --available-now: the end offsets each assigned partition has at the
//! start of the run, and whether they have all been read.

use super::KafkaSource;
use super::offsets::Partition;
use crate::source::SourceError;
use rdkafka::Offset;
use rdkafka::consumer::Consumer;
use std::collections::HashMap;
use std::time::{Duration, Instant};

pub(super) struct AvailableNow {
    /// High watermark of each assigned partition at start.
    pub(super) ends: HashMap<Partition, i64>,
    /// Where each partition started (committed offset, or the low watermark).
    pub(super) starts: HashMap<Partition, i64>,
    /// When the last record arrived: past the ends, an idle poll also ends the run.
    pub(super) last_record: Instant,
}

/// How long an --available-now run waits for more records once every
/// partition reports having reached its start-time end (see docs/kafka.md:
/// Tansu's memory engine can report an end offset below the true end).
pub(super) const IDLE_END: Duration = Duration::from_millis(1500);

impl KafkaSource {
    /// --available-now: once assigned, where each partition ends now.
    pub(super) fn available_now_ends(&mut self) -> Result<(), SourceError> {
        if self.end.is_some() {
            return Ok(());
        }
        let assignment = self
            .consumer
            .assignment()
            .map_err(|e| SourceError::Config(format!("kafka: {e}")))?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let committed = self
            .consumer
            .committed_offsets(assignment.clone(), self.connect_timeout)
            .unwrap_or(assignment.clone());
        let mut ends = HashMap::new();
        let mut starts = HashMap::new();
        for e in committed.elements() {
            let partition = (e.topic().to_string(), e.partition());
            let (low, high) = self
                .consumer
                .fetch_watermarks(e.topic(), e.partition(), self.connect_timeout)
                .map_err(|err| {
                    SourceError::Config(format!(
                        "kafka: cannot read the end offsets of {}/{}: {err}",
                        e.topic(),
                        e.partition()
                    ))
                })?;
            let start = match (self.positions.get(&partition), e.offset()) {
                (Some(&resumed), _) => resumed,
                (None, Offset::Offset(o)) => o,
                _ => low,
            };
            ends.insert(partition.clone(), high);
            starts.insert(partition, start);
        }
        tracing::info!(ends = ?ends, "--available-now: reading up to these end offsets.");
        self.end = Some(AvailableNow {
            ends,
            starts,
            last_record: Instant::now(),
        });
        Ok(())
    }

    /// Whether an --available-now run has read everything there was at its start.
    pub(super) fn reached_end(&self) -> bool {
        let Some(end) = &self.end else { return false };
        let reached = end.ends.iter().all(|(p, high)| {
            let start = end.starts.get(p).copied().unwrap_or(0);
            let read = self.positions.get(p).copied().unwrap_or(0);
            start.max(read) >= *high
        });
        reached && end.last_record.elapsed() >= IDLE_END
    }
}

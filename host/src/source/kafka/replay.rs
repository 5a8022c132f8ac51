//! Queueing decoded batches and replaying an epoch: a replayed epoch's
//! batches are exactly the records its checkpoint mark names, in order.

use super::KafkaSource;
use super::offsets::Partition;
use super::poll::Polled;
use crate::source::{SourceBatch, SourceError};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Instant;

impl KafkaSource {
    /// Decodes a partition's polled records into a batch waiting to be emitted.
    pub(super) fn queue(
        &mut self,
        partition: Partition,
        records: Vec<Polled>,
    ) -> Result<(), SourceError> {
        let first = records.first().expect("a partition polled has records");
        let last = records.last().expect("a partition polled has records");
        let range = (first.meta.offset, last.meta.offset);
        let batch = self.decode(&partition, records)?;
        self.queued.push_back((partition, range, batch));
        Ok(())
    }

    /// The next batch of a replayed epoch: exactly the records the mark
    /// says, of its partition, polling (and holding others') until they
    /// are all here. After the last one, what is held is queued as usual.
    pub(super) fn next_replayed(&mut self) -> Result<SourceBatch, SourceError> {
        let mark = *self.replay.front().expect("called during a replay");
        let partition = self
            .watermark_ids
            .iter()
            .find(|(_, id)| **id == mark.partition)
            .map(|(p, _)| p.clone())
            .ok_or_else(|| {
                SourceError::Restore(format!(
                    "the replayed epoch names partition id {} that its start position lacks",
                    mark.partition
                ))
            })?;
        while self.held.get(&partition).map_or(0, VecDeque::len) < mark.records as usize {
            if self.mode.stop.load(Ordering::Relaxed) {
                return Err(SourceError::Restore(
                    "stopped before the replayed epoch was read again".to_string(),
                ));
            }
            for (p, records) in self.poll()? {
                self.held.entry(p).or_default().extend(records);
            }
        }
        self.replay.pop_front();
        let records: Vec<Polled> = self
            .held
            .get_mut(&partition)
            .expect("checked above")
            .drain(..mark.records as usize)
            .collect();
        let range = (
            records.first().map_or(0, |r| r.meta.offset),
            records.last().map_or(0, |r| r.meta.offset),
        );
        let batch = self.decode(&partition, records)?;
        if self.replay.is_empty() {
            let mut held: Vec<_> = std::mem::take(&mut self.held).into_iter().collect();
            held.sort_by(|a, b| a.0.cmp(&b.0));
            for (p, records) in held {
                if !records.is_empty() {
                    self.queue(p, records.into())?;
                }
            }
        }
        Ok(self.emit(partition, range, batch))
    }

    /// Hands a batch to the pipeline: its offsets are now emitted.
    pub(super) fn emit(
        &mut self,
        partition: Partition,
        (first, last): (i64, i64),
        batch: SourceBatch,
    ) -> SourceBatch {
        self.offsets
            .lock()
            .expect("not poisoned")
            .emit(partition.clone(), last);
        self.first.entry(partition.clone()).or_insert(first);
        self.positions.insert(partition, last + 1);
        if let Some(end) = &mut self.end {
            end.last_record = Instant::now();
        }
        batch
    }
}

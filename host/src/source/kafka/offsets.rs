//! Offsets weir tracks per partition: emitted (handed to the pipeline, not
//! yet written) and written (safe to commit to the group). Shared with the
//! rebalance callbacks, which run inside `poll`.

use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;

pub type Partition = (String, i32);

#[derive(Default)]
pub struct Offsets {
    /// Next offset to read, per partition, of the batch being written.
    emitted: HashMap<Partition, i64>,
    /// Next offset to read, per partition, of what has been written.
    written: HashMap<Partition, i64>,
    /// Written but not yet committed to the group.
    dirty: bool,
    /// Partitions revoked since the source last looked.
    revoked: Vec<Partition>,
    /// Bumped at each revocation: data polled before it may be stale.
    pub generation: u64,
    /// The source is being dropped (the run failed or stopped): what was
    /// handed but not written must be read again by the next owner.
    pub leaving: bool,
}

impl Offsets {
    /// The pipeline now holds records of `partition` up to `last`.
    pub fn emit(&mut self, partition: Partition, last: i64) {
        self.emitted.insert(partition, last + 1);
    }

    /// Everything emitted has been written.
    pub fn written(&mut self) {
        if !self.emitted.is_empty() {
            self.dirty = true;
        }
        self.written.extend(self.emitted.drain());
    }

    /// Written offsets not yet committed, as a list to commit (then clean).
    pub fn take_commit(&mut self) -> Option<TopicPartitionList> {
        if !std::mem::take(&mut self.dirty) {
            return None;
        }
        Some(self.list(self.written.keys().cloned().collect::<Vec<_>>().as_slice()))
    }

    /// Every written offset, to commit at the end of a run.
    pub fn written_all(&self) -> TopicPartitionList {
        self.list(self.written.keys().cloned().collect::<Vec<_>>().as_slice())
    }

    /// What the pipeline holds of `partitions`, written or still in the
    /// open epoch: on a revocation the new owner starts after it, as the
    /// pipeline commits it with its epoch.
    pub fn handed_list(&self, partitions: &[Partition]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            let handed = self.emitted.get(p).filter(|_| !self.leaving);
            if let Some(&next) = handed.or_else(|| self.written.get(p)) {
                list.add_partition_offset(&p.0, p.1, Offset::Offset(next))
                    .expect("a valid offset");
            }
        }
        list
    }

    fn list(&self, partitions: &[Partition]) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            if let Some(&next) = self.written.get(p) {
                list.add_partition_offset(&p.0, p.1, Offset::Offset(next))
                    .expect("a valid offset");
            }
        }
        list
    }

    pub fn revoke(&mut self, partitions: Vec<Partition>) {
        for p in &partitions {
            self.written.remove(p);
            self.emitted.remove(p);
        }
        self.revoked.extend(partitions);
        self.generation += 1;
    }

    pub fn take_revoked(&mut self) -> Vec<Partition> {
        std::mem::take(&mut self.revoked)
    }
}

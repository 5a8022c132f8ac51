//! The rows one side of an interval join holds: each kept until no row of
//! the other side can match it any more, found by key and event time,
//! dropped in event-time order.

use crate::join::table::FastMap;
use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::SchemaRef;
use arrow::row::{RowConverter, Rows};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

/// A held row: its arrival number orders rows of equal event time.
type Slot = (i64, u64);

/// Where a held row's values are: a kept batch and a row of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RowRef {
    pub batch: u64,
    pub row: u32,
}

#[derive(Debug)]
struct Held {
    /// `None` for a null key, which matches nothing.
    key: Option<Box<[u8]>>,
    at: RowRef,
    matched: bool,
}

pub(super) struct Side {
    schema: SchemaRef,
    /// Kept batches by id, with how many of their rows are still held.
    batches: FastMap<u64, (RecordBatch, usize)>,
    next_batch: u64,
    held: BTreeMap<Slot, Held>,
    by_key: FastMap<Box<[u8]>, BTreeSet<Slot>>,
    next_seq: u64,
}

/// A row that left the side: where it is, and whether it ever matched.
pub(super) struct Evicted {
    pub time: i64,
    pub at: RowRef,
    pub matched: bool,
}

impl Side {
    pub fn new(schema: SchemaRef) -> Self {
        Side {
            schema,
            batches: FastMap::default(),
            next_batch: 0,
            held: BTreeMap::new(),
            by_key: FastMap::default(),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Keeps `batch` while its rows are held; rows are added with [`Side::hold`].
    pub fn keep(&mut self, batch: RecordBatch) -> u64 {
        let id = self.next_batch;
        self.next_batch += 1;
        self.batches.insert(id, (batch, 0));
        id
    }

    /// Holds row `at` with event time `time` and key `key`.
    pub fn hold(&mut self, time: i64, key: Option<&[u8]>, at: RowRef, matched: bool) {
        let slot = (time, self.next_seq);
        self.next_seq += 1;
        let key: Option<Box<[u8]>> = key.map(Into::into);
        if let Some(k) = &key {
            self.by_key.entry(k.clone()).or_default().insert(slot);
        }
        self.batches.get_mut(&at.batch).expect("kept").1 += 1;
        self.held.insert(slot, Held { key, at, matched });
    }

    /// Drops a kept batch none of whose rows were held.
    pub fn release_if_unused(&mut self, batch: u64) {
        if self.batches.get(&batch).is_some_and(|(_, n)| *n == 0) {
            self.batches.remove(&batch);
        }
    }

    /// The held rows with key `key` and event time in `[from, to]`, with
    /// their times; with `mark`, each is marked matched.
    pub fn probe(&mut self, key: &[u8], from: i64, to: i64, mark: bool) -> Vec<(i64, RowRef)> {
        let Some(slots) = self.by_key.get(key) else {
            return Vec::new();
        };
        let range = (Bound::Included((from, 0)), Bound::Included((to, u64::MAX)));
        let found: Vec<Slot> = slots.range(range).copied().collect();
        found
            .into_iter()
            .map(|slot| {
                let held = self.held.get_mut(&slot).expect("indexed rows are held");
                held.matched |= mark;
                (slot.0, held.at)
            })
            .collect()
    }

    /// Lets go of every row with event time before `before`, oldest first.
    pub fn evict_before(&mut self, before: i64) -> Vec<Evicted> {
        let kept = self.held.split_off(&(before, 0));
        let gone = std::mem::replace(&mut self.held, kept);
        let mut evicted = Vec::with_capacity(gone.len());
        for (slot, held) in gone {
            if let Some(key) = &held.key {
                let slots = self.by_key.get_mut(key).expect("held keys are indexed");
                slots.remove(&slot);
                if slots.is_empty() {
                    self.by_key.remove(key);
                }
            }
            evicted.push(Evicted {
                time: slot.0,
                at: held.at,
                matched: held.matched,
            });
        }
        evicted
    }

    /// Forgets batches with no held rows left, once `evicted` rows were
    /// taken out of them (call after the evicted rows were copied).
    pub fn release(&mut self, evicted: &[Evicted]) {
        for e in evicted {
            let entry = self.batches.get_mut(&e.at.batch).expect("kept");
            entry.1 -= 1;
            if entry.1 == 0 {
                self.batches.remove(&e.at.batch);
            }
        }
    }

    /// The values of `rows`, in order, as one batch.
    pub fn gather(&self, rows: &[RowRef]) -> Result<RecordBatch, String> {
        if rows.is_empty() {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        }
        let mut ids: Vec<u64> = rows.iter().map(|r| r.batch).collect();
        ids.sort_unstable();
        ids.dedup();
        let batches: Vec<&RecordBatch> = ids.iter().map(|id| &self.batches[id].0).collect();
        let indices: Vec<(usize, usize)> = rows
            .iter()
            .map(|r| {
                let at = ids.binary_search(&r.batch).expect("listed");
                (at, r.row as usize)
            })
            .collect();
        interleave_record_batch(&batches, &indices).map_err(|e| e.to_string())
    }

    /// Every held row in event-time order, with its time and whether it
    /// matched, for a checkpoint.
    pub fn snapshot(&self) -> Result<(RecordBatch, Vec<i64>, Vec<bool>), String> {
        let rows: Vec<RowRef> = self.held.values().map(|h| h.at).collect();
        let batch = self.gather(&rows)?;
        let times = self.held.keys().map(|s| s.0).collect();
        let matched = self.held.values().map(|h| h.matched).collect();
        Ok((batch, times, matched))
    }

    /// Holds the rows of a snapshot again, their keys encoded by `keys`.
    pub fn restore(
        &mut self,
        batch: RecordBatch,
        times: &[i64],
        matched: &[bool],
        keys: &Keys,
    ) -> Result<(), String> {
        *self = Side::new(self.schema.clone());
        let encoded = keys.encode(&batch)?;
        let id = self.keep(batch);
        for (row, (&time, &matched)) in times.iter().zip(matched).enumerate() {
            let key = encoded.key(row);
            let at = RowRef {
                batch: id,
                row: row as u32,
            };
            self.hold(time, key.as_deref(), at, matched);
        }
        self.release_if_unused(id);
        Ok(())
    }
}

/// How one side's key columns are found and encoded, so that equal keys of
/// the two sides encode to equal bytes.
pub(super) struct Keys {
    columns: Vec<usize>,
    converter: RowConverter,
}

/// A batch's keys: each row's bytes, `None` where a key column is null.
pub(super) struct Encoded {
    rows: Rows,
    live: Vec<bool>,
}

impl Encoded {
    pub fn key(&self, row: usize) -> Option<Box<[u8]>> {
        self.live[row].then(|| self.rows.row(row).as_ref().into())
    }
}

impl Keys {
    pub fn new(columns: Vec<usize>, converter: RowConverter) -> Self {
        Keys { columns, converter }
    }

    pub fn encode(&self, batch: &RecordBatch) -> Result<Encoded, String> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = self
            .converter
            .convert_columns(&arrays)
            .map_err(|e| e.to_string())?;
        let live = (0..batch.num_rows())
            .map(|row| crate::join::table::live(&arrays, row))
            .collect();
        Ok(Encoded { rows, live })
    }
}

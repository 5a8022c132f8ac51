//! Which files the files source reads next, and which it has read: new
//! files from each listing wait in a backlog, are queued `max_files` at a
//! time, and once read are remembered until they are `max_age` older than
//! the newest file read (Spark's `maxFileAge`), so what a checkpoint keeps
//! stays bounded however many files the place ever held.

use super::listing::Found;
use crate::source::SeenFile;
use std::collections::{HashSet, VecDeque};

pub struct FileQueue {
    max_files: usize,
    max_age_ms: i64,
    /// Files queued, in name order: what a checkpoint records.
    pub pending: VecDeque<SeenFile>,
    /// Files a listing found beyond `max_files`: queued when `pending`
    /// empties; not in a checkpoint (the next run's listing finds them).
    pub backlog: VecDeque<SeenFile>,
    /// Every file queued, open or read and not yet forgotten.
    seen: HashSet<String>,
    /// Files read to their end, in order.
    pub read: Vec<SeenFile>,
    /// Files modified before this are taken as read.
    pub forget_before: i64,
    /// Old files a listing found unseen and skipped (each is warned once).
    skipped_old: HashSet<String>,
    /// Bytes of the files queued by this run, for progress.
    pub bytes_queued: u64,
}

impl FileQueue {
    pub fn new(max_files: usize, max_age_ms: i64) -> Self {
        FileQueue {
            max_files,
            max_age_ms,
            pending: VecDeque::new(),
            backlog: VecDeque::new(),
            seen: HashSet::new(),
            read: Vec::new(),
            forget_before: i64::MIN,
            skipped_old: HashSet::new(),
            bytes_queued: 0,
        }
    }

    /// Adds the files of a listing not seen before to the backlog.
    pub fn listed(&mut self, found: Vec<Found>) {
        for Found {
            name,
            size,
            modified_ms,
        } in found
        {
            if self.seen.contains(&name) {
                continue;
            }
            if modified_ms < self.forget_before {
                if self.skipped_old.insert(name.clone()) {
                    tracing::warn!(file = %name, "A new file is older than max_file_age before the newest file read; it is taken as read and skipped (set max_file_age to read it).");
                }
                continue;
            }
            self.seen.insert(name.clone());
            self.bytes_queued += size;
            self.backlog.push_back(SeenFile {
                name,
                modified_ms,
                size,
            });
        }
    }

    /// Queues up to `max_files` files from the backlog once the queue is empty.
    pub fn refill(&mut self) {
        if self.pending.is_empty() {
            let take = self.backlog.len().min(self.max_files);
            self.pending.extend(self.backlog.drain(..take));
        }
    }

    /// Whether nothing is queued or waiting.
    pub fn drained(&self) -> bool {
        self.pending.is_empty() && self.backlog.is_empty()
    }

    /// `file` was read to its end (or given up as unreadable); `open` is
    /// the file being read, if any, which must not be forgotten.
    pub fn finished(&mut self, file: SeenFile, open: Option<&SeenFile>) {
        self.read.push(file);
        self.forget_old(open);
    }

    /// Forgets read files modified long before the newest one read; never
    /// past a file still to read.
    fn forget_old(&mut self, open: Option<&SeenFile>) {
        let Some(newest) = self.read.iter().map(|f| f.modified_ms).max() else {
            return;
        };
        let unread = self
            .pending
            .iter()
            .chain(&self.backlog)
            .chain(open)
            .map(|f| f.modified_ms)
            .min()
            .unwrap_or(i64::MAX);
        let bound = newest.saturating_sub(self.max_age_ms).min(unread);
        if bound <= self.forget_before {
            return;
        }
        self.forget_before = bound;
        let seen = &mut self.seen;
        self.read.retain(|f| {
            let keep = f.modified_ms >= bound;
            if !keep {
                seen.remove(&f.name);
            }
            keep
        });
    }

    /// Back to where a checkpoint stood (`open`: the file being read then).
    pub fn restore(
        &mut self,
        read: &[SeenFile],
        pending: &[SeenFile],
        forget_before: i64,
        open: Option<&SeenFile>,
    ) {
        self.read = read.to_vec();
        self.pending = pending.iter().cloned().collect();
        self.forget_before = forget_before;
        self.seen = read
            .iter()
            .chain(pending)
            .chain(open)
            .map(|f| f.name.clone())
            .collect();
        self.backlog.clear();
        self.bytes_queued = pending.iter().chain(open).map(|f| f.size).sum();
    }
}

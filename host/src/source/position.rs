//! Where a source stands, as a checkpoint records it, and the marks that
//! let a replay cut an epoch's batches exactly as they were first cut.

use serde::{Deserialize, Serialize};

/// Enough to resume reading right after the last batch a source returned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Position {
    Files {
        /// Files read to their end, in the order they were read (those
        /// modified before `forget_before` are forgotten).
        read: Vec<SeenFile>,
        /// The file being read and the last line (or Parquet row) returned
        /// from it.
        current: Option<(SeenFile, i64)>,
        /// Files queued, not yet opened, in order.
        pending: Vec<SeenFile>,
        /// Files modified before this (ms since the Unix epoch) are taken
        /// as read: the bound on `read`, after Spark's `maxFileAge`.
        forget_before: i64,
    },
    Generator {
        emitted: u64,
        /// Where the seeded random stream stands.
        word_pos: u128,
    },
    Kafka {
        partitions: Vec<KafkaPartition>,
    },
    /// Several named sources, each where it stands, in the pipeline's order.
    Merged(Vec<Position>),
}

/// A file the files source has queued or read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenFile {
    /// A local path, or an object's URL.
    pub name: String,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaPartition {
    pub topic: String,
    pub partition: i32,
    /// The next offset to read.
    pub next: i64,
    /// The first offset this run read (or resumed at).
    pub first: i64,
    /// The id windows keep this partition's watermark under.
    pub watermark_id: i32,
}

impl Position {
    /// Where the source stands, in a few words, for the console's list of
    /// epochs: `3 files read, a.csv at line 120`, `events/0 at 500, …`.
    pub fn describe(&self) -> String {
        const SHOWN: usize = 4;
        match self {
            Position::Files { read, current, .. } => {
                let mut text = format!("{} files read", read.len());
                if let Some((file, line)) = current {
                    text.push_str(&format!(", {} at line {line}", file.name));
                }
                text
            }
            Position::Generator { emitted, .. } => format!("{emitted} records generated"),
            Position::Kafka { partitions } => {
                let mut parts: Vec<String> = partitions
                    .iter()
                    .take(SHOWN)
                    .map(|p| format!("{}/{} at {}", p.topic, p.partition, p.next))
                    .collect();
                if partitions.len() > SHOWN {
                    parts.push(format!("{} more partitions", partitions.len() - SHOWN));
                }
                parts.join(", ")
            }
            Position::Merged(each) => each
                .iter()
                .map(Position::describe)
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    /// The start of an epoch as it should be recorded: `self` as captured at
    /// the epoch's start, plus where the partitions first read during the
    /// epoch began (from `now`, the position at the epoch's end).
    pub fn completed_with(mut self, now: &Position) -> Position {
        if let (Position::Merged(each), Position::Merged(later)) = (&mut self, now) {
            let completed = std::mem::take(each)
                .into_iter()
                .zip(later)
                .map(|(start, now)| start.completed_with(now))
                .collect();
            return Position::Merged(completed);
        }
        if let (Position::Kafka { partitions }, Position::Kafka { partitions: later }) =
            (&mut self, now)
        {
            for p in later {
                if !partitions
                    .iter()
                    .any(|q| q.topic == p.topic && q.partition == p.partition)
                {
                    partitions.push(KafkaPartition {
                        next: p.first,
                        ..p.clone()
                    });
                }
            }
        }
        self
    }
}

/// One batch of an epoch: its source partition and how many records it
/// held (decoded or refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub partition: i32,
    pub records: u64,
}

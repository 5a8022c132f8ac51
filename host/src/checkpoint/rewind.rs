//! Files written in place (the dead-letter file, single-file CSV and JSON
//! Lines sinks) and how a resumed run treats them: each checkpoint records
//! their lengths at its barrier (the dead-letter's in [`FileMarks`], the
//! sinks' in the `sinks` operator's state), and a run resuming from it cuts
//! them back to those lengths before appending, so the rows of committed
//! epochs stay and those of the epoch being replayed are written once.

use crate::capability::in_place::Resume;
use serde::{Deserialize, Serialize};

/// Lengths in bytes of the files the coordinator writes in place, at a
/// barrier.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMarks {
    /// The dead-letter file (JSON Lines dead-letters only).
    pub dead_letter: Option<u64>,
}

/// Where a run goes back to: nothing (a fresh run), the marks of the
/// checkpoint it resumes from, or a checkpoint without marks.
#[derive(Debug, Clone, Default)]
pub enum Rewind {
    #[default]
    Fresh,
    To(FileMarks),
    Unknown,
}

impl Rewind {
    /// For a run resuming from `base` (`None`: from the beginning).
    pub fn from_base(base: Option<&super::Checkpoint>) -> Rewind {
        match base {
            None => Rewind::Fresh,
            Some(checkpoint) => match &checkpoint.files {
                Some(marks) => Rewind::To(marks.clone()),
                None => Rewind::Unknown,
            },
        }
    }

    pub fn dead_letter(&self) -> Resume {
        match self {
            Rewind::Fresh => Resume::Fresh,
            Rewind::To(marks) => Resume::At(marks.dead_letter.unwrap_or(0)),
            Rewind::Unknown => Resume::Append,
        }
    }
}

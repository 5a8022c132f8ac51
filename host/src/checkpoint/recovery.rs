//! Choosing where to resume. The newest valid checkpoint wins; a corrupt or
//! partial one is skipped with a warning. If the sinks may not all have
//! committed the newest epoch (the process died between the checkpoint and
//! the `committed` record), that epoch is replayed from the one before it,
//! batch for batch, and sinks that had committed it skip it.

use super::format::Checkpoint;
use super::store::{Store, StoreError};

/// Where a run resumes.
#[derive(Debug, Default)]
pub struct Recovery {
    /// The state to load (window, plugins) and, without a replay, the source
    /// position to resume at.
    pub base: Option<Checkpoint>,
    /// An epoch to replay first: from its `start` to its `end`, in its batches.
    pub replay: Option<Checkpoint>,
    /// The number of the first new epoch after the replay.
    pub next_epoch: u64,
    /// Why checkpoints were skipped, for the log and `weir checkpoints list`.
    pub skipped: Vec<(u64, String)>,
}

pub fn recover(store: &Store) -> Result<Recovery, StoreError> {
    let epochs = store.epochs()?;
    let committed = store.committed()?;
    let mut skipped = Vec::new();
    // Epochs past the newest valid one may have reached the sinks before
    // their checkpoint broke: new epochs get numbers beyond all of them, so
    // no sink skips new rows as already committed.
    let next_after_all = epochs.last().map_or(1, |e| e + 1).max(committed + 1);
    let mut valid = Vec::new();
    for &epoch in epochs.iter().rev() {
        match store.read(epoch) {
            Ok(checkpoint) => {
                valid.push(checkpoint);
                if valid.len() == 2 {
                    break;
                }
            }
            Err(reason) => {
                tracing::warn!(epoch, %reason, "Skipping a checkpoint that cannot be used.");
                skipped.push((epoch, reason));
            }
        }
    }
    let mut valid = valid.into_iter();
    let Some(newest) = valid.next() else {
        return Ok(Recovery {
            next_epoch: next_after_all,
            skipped,
            ..Recovery::default()
        });
    };
    let broken_newer = !skipped.is_empty() && skipped[0].0 > newest.epoch;
    if committed >= newest.epoch || broken_newer {
        if broken_newer {
            tracing::warn!(
                epoch = newest.epoch,
                "Resuming from an older checkpoint: rows of the epochs after it may be written again."
            );
        }
        return Ok(Recovery {
            base: Some(newest),
            replay: None,
            next_epoch: next_after_all,
            skipped,
        });
    }
    // The newest epoch may be half committed: replay it on the state of the
    // one before (none for epoch 1: it started from nothing).
    let previous = valid.next().filter(|c| c.epoch + 1 == newest.epoch);
    if previous.is_none() && newest.epoch > 1 {
        tracing::warn!(
            epoch = newest.epoch,
            "The checkpoint before the newest is missing: resuming after the newest without replaying it; a sink that had not committed it lacks its rows."
        );
        return Ok(Recovery {
            base: Some(newest),
            replay: None,
            next_epoch: next_after_all,
            skipped,
        });
    }
    Ok(Recovery {
        base: previous,
        replay: Some(newest),
        next_epoch: next_after_all,
        skipped,
    })
}

//! Checkpoints: what a pipeline needs to resume after a crash as if it had
//! not stopped. Each epoch ends with a barrier at a batch boundary; the
//! checkpoint then holds the source's position, window state, plugin state
//! and versions, and the list of the epoch's batches, so that the epoch can
//! be replayed batch for batch if its sinks had not all committed it.

mod coordinator;
mod format;
mod recovery;
pub mod rewind;
pub mod show;
mod store;

pub use coordinator::{Barrier, Coordinator, EpochError};
pub use format::{Checkpoint, FormatError, OperatorSnapshot, StateTable};
pub use recovery::{Recovery, recover};
pub use rewind::{FileMarks, Rewind};
pub use store::{Store, StoreError};

/// Test hook: `WEIR_CRASH_AT=POINT` (the first time) or `POINT:EPOCH` kills
/// the process with SIGKILL when an epoch's end reaches POINT (points:
/// `before-pre-commit`, `after-pre-commit`, `mid-write`, `after-write`,
/// `after-commit`), so the crash tests stop it exactly where a random kill
/// rarely lands.
pub fn crash_point(point: &str, epoch: u64) {
    static AT: std::sync::OnceLock<Option<(String, Option<u64>)>> = std::sync::OnceLock::new();
    let at = AT.get_or_init(|| {
        let text = std::env::var("WEIR_CRASH_AT").ok()?;
        Some(match text.split_once(':') {
            Some((point, epoch)) => (point.to_string(), Some(epoch.parse().ok()?)),
            None => (text, None),
        })
    });
    if let Some((p, e)) = at
        && p == point
        && e.is_none_or(|e| e == epoch)
    {
        eprintln!("WEIR_CRASH_AT: killing the process at {point} of epoch {epoch}");
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be handled, so
        // nothing runs after it, exactly like an outside `kill -9`.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}

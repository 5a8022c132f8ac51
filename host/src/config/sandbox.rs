//! What a plugin's sandbox grants beyond the contract, and what a failed
//! batch does to the pipeline.

use serde::Deserialize;

/// An ambient capability a pipeline may grant a plugin. Without grants a
/// plugin has no files, sockets or environment, and its clocks stand still
/// at the Unix epoch, so its output depends on its input and state alone
/// (a batch replayed after a crash gives the same rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Grant {
    /// The host's wall and monotonic clocks.
    Clock,
}

/// What happens when a plugin fails a batch (an error, a trap, a limit,
/// an output that breaks the contract).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorPolicy {
    /// The batch's rows go to the dead-letter with the reason; the next
    /// batch runs on a fresh instance if the plugin trapped.
    #[default]
    DeadLetter,
    /// The batch's rows go to the dead-letter, then the pipeline stops
    /// cleanly: what was written before is flushed, the exit code says failure.
    Stop,
}

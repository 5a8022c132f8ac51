//! `[checkpoint]`: how often an epoch ends and where checkpoints are kept.
//! Without the table a pipeline still commits its sinks every epoch, but
//! keeps no checkpoint: a restart resumes from the Kafka group's offsets
//! (at least once) or from the start of its files.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// How often an epoch ends with a checkpoint, e.g. "5s" or "500ms".
    #[serde(default = "default_interval")]
    pub interval: String,
    /// A directory (relative to the pipeline file) or an object store URL
    /// (`s3://bucket/prefix`, `gs://…`, `az://…`, `file:///…`). The default
    /// is `.weir/NAME/checkpoints` beside the pipeline file.
    pub location: Option<String>,
    /// How many checkpoints to keep (at least 2: a replay needs the one
    /// before the newest).
    #[serde(default = "default_keep")]
    pub keep: usize,
}

fn default_interval() -> String {
    "5s".to_string()
}

fn default_keep() -> usize {
    3
}

/// The epoch interval of a pipeline without `[checkpoint]`.
pub const DEFAULT_INTERVAL_MS: u64 = 5_000;

impl CheckpointConfig {
    pub fn interval_ms(&self) -> Result<u64, String> {
        let micros = super::duration::parse_micros(&self.interval)
            .map_err(|e| format!("key `checkpoint.interval`: {e}"))?;
        if micros < 1_000 {
            return Err("key `checkpoint.interval`: at least 1ms".to_string());
        }
        Ok(micros as u64 / 1_000)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.interval_ms()?;
        if self.keep < 2 {
            return Err(format!(
                "key `checkpoint.keep`: at least 2 (a replay needs the checkpoint before the newest), got {}",
                self.keep
            ));
        }
        Ok(())
    }
}

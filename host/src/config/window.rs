//! The `[window]` table: event-time windows and aggregates, checked as far
//! as can be without the input schema (the window operator checks the rest).

use super::duration;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    #[serde(rename = "type")]
    pub kind: WindowKind,
    /// Tumbling and sliding windows: their length ("1 minute").
    pub size: Option<String>,
    /// Sliding windows: how far apart they start ("15 minutes").
    pub slide: Option<String>,
    /// Session windows: the silence that ends a session ("30 minutes").
    pub gap: Option<String>,
    /// The event-time column (a TIMESTAMP), or "processing" for the time rows
    /// arrive. Global windows need none.
    pub time: Option<String>,
    /// How far behind the latest event time the watermark trails.
    #[serde(default = "default_watermark")]
    pub watermark: String,
    /// A source partition silent this long (since its last record, or since
    /// it was assigned) stops holding the watermark back: "1 minute" unless
    /// set; "never" waits for every partition however long it is silent.
    pub idle_timeout: Option<String>,
    #[serde(default)]
    pub group_by: Vec<String>,
    /// Spark-style: "count(*) AS trades", "avg(age) AS avg_age", "percentile(age, 0.9) AS p90".
    pub aggregates: Vec<String>,
    #[serde(default)]
    pub output: OutputMode,
    #[serde(default)]
    pub late: LatePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowKind {
    Tumbling,
    Sliding,
    Session,
    Global,
}

/// When aggregate rows are emitted, as in Spark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutputMode {
    /// Each window once, when the watermark passes its end.
    #[default]
    Append,
    /// The groups a batch changed, after every batch.
    Update,
    /// Every group after every batch (global windows only).
    Complete,
}

/// What happens to rows whose windows have closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LatePolicy {
    /// Dropped and counted in the run summary, as Spark does.
    #[default]
    Drop,
    /// Sent to the dead-letter with the watermark they missed.
    DeadLetter,
}

fn default_watermark() -> String {
    "0s".to_string()
}

/// How long a partition may be silent before it stops holding the
/// watermark back, unless `idle_timeout` says otherwise: Flink's example
/// value, long enough for a partition produced a little later than the others.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// An `idle_timeout` as a duration; `None` for "never".
pub(super) fn idle_timeout(text: Option<&str>) -> Result<Option<Duration>, String> {
    match text {
        None => Ok(Some(DEFAULT_IDLE_TIMEOUT)),
        Some("never") => Ok(None),
        Some(text) => match duration::parse_micros(text)? {
            micros if micros > 0 => Ok(Some(Duration::from_micros(micros as u64))),
            _ => Err("must be longer than zero, or \"never\"".to_string()),
        },
    }
}

impl WindowConfig {
    /// `idle_timeout` as a duration; `None` for "never".
    pub fn idle_timeout(&self) -> Result<Option<Duration>, String> {
        idle_timeout(self.idle_timeout.as_deref())
    }

    /// Checks everything that does not need the input schema; errors start
    /// with the key, for the caller to prefix with `window.`.
    pub(super) fn validate(&self) -> Result<(), String> {
        let check = |key: &str, value: &Option<String>, wanted: bool| -> Result<(), String> {
            match (value, wanted) {
                (Some(text), true) => match duration::parse_micros(text) {
                    Ok(micros) if micros > 0 => Ok(()),
                    Ok(_) => Err(format!("{key}`: must be longer than zero")),
                    Err(e) => Err(format!("{key}`: {e}")),
                },
                (None, true) => Err(format!("{key}`: a {:?} window needs it", self.kind)),
                (Some(_), false) => Err(format!("{key}`: a {:?} window has none", self.kind)),
                (None, false) => Ok(()),
            }
        };
        use WindowKind::*;
        check("size", &self.size, matches!(self.kind, Tumbling | Sliding))?;
        check("slide", &self.slide, self.kind == Sliding)?;
        check("gap", &self.gap, self.kind == Session)?;
        if self.kind != Global && self.time.is_none() {
            return Err("time`: name the event-time column, or \"processing\"".to_string());
        }
        duration::parse_micros(&self.watermark).map_err(|e| format!("watermark`: {e}"))?;
        self.idle_timeout()
            .map_err(|e| format!("idle_timeout`: {e}"))?;
        if self.output == OutputMode::Complete && self.kind != Global {
            return Err(
                "output`: complete output keeps every group forever; it is for global windows"
                    .to_string(),
            );
        }
        if self.aggregates.is_empty() {
            return Err(
                "aggregates`: list at least one, e.g. [\"count(*) AS events\"]".to_string(),
            );
        }
        for (i, a) in self.aggregates.iter().enumerate() {
            super::aggregate::parse(a).map_err(|e| format!("aggregates[{i}]`: {e}"))?;
        }
        Ok(())
    }
}

//! `[[sources]]` and `[interval_join]`: a pipeline that reads two named
//! sources and matches their rows whose keys are equal and whose event
//! times are within a bound, as Flink's interval join and Spark's
//! stream–stream join with a time-range condition do.

use super::join::JoinKind;
use super::{LatePolicy, SourceConfig, duration};
use serde::Deserialize;
use std::time::Duration;

/// One of several sources, named so that a join can say which is which.
#[derive(Debug, Clone, Deserialize)]
pub struct NamedSource {
    pub name: String,
    #[serde(flatten)]
    pub config: SourceConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntervalJoinConfig {
    /// The stage's name, in logs, counts and the dead-letter.
    #[serde(default = "default_name")]
    pub name: String,
    /// The `[[sources]]` whose rows are kept (all of them, with `left`).
    pub left: String,
    /// The `[[sources]]` matched against them.
    pub right: String,
    /// The left source's key columns.
    pub on: Vec<String>,
    /// The right source's key columns, in the same order; `on` if unset.
    pub right_on: Option<Vec<String>>,
    /// Each side's event-time column (a TIMESTAMP).
    pub left_time: String,
    /// The right side's; `left_time` if unset.
    pub right_time: Option<String>,
    /// A right row matches a left row when `right_time - left_time` lies in
    /// `[lower, upper]`: `["0s", "1 hour"]`, `["-5 minutes", "5 minutes"]`.
    pub between: [String; 2],
    #[serde(default)]
    pub kind: JoinKind,
    /// How far behind each side's newest event time its watermark trails.
    #[serde(default = "default_watermark")]
    pub watermark: String,
    /// A partition silent this long stops holding its side's watermark:
    /// "1 minute" unless set; "never" waits for it however long.
    pub idle_timeout: Option<String>,
    /// Rows older than their side's watermark: dropped (counted) or sent to
    /// the dead-letter.
    #[serde(default)]
    pub late: LatePolicy,
}

fn default_name() -> String {
    "interval_join".to_string()
}

fn default_watermark() -> String {
    "0s".to_string()
}

/// The bound, in microseconds, of `right_time - left_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub lower: i64,
    pub upper: i64,
}

impl IntervalJoinConfig {
    pub fn right_on(&self) -> &[String] {
        self.right_on.as_deref().unwrap_or(&self.on)
    }

    pub fn right_time(&self) -> &str {
        self.right_time.as_deref().unwrap_or(&self.left_time)
    }

    pub fn bounds(&self) -> Result<Bounds, String> {
        let signed = |text: &str| -> Result<i64, String> {
            match text.trim().strip_prefix('-') {
                Some(rest) => duration::parse_micros(rest).map(|m| -m),
                None => duration::parse_micros(text),
            }
        };
        let lower = signed(&self.between[0]).map_err(|e| format!("between[0]`: {e}"))?;
        let upper = signed(&self.between[1]).map_err(|e| format!("between[1]`: {e}"))?;
        if lower > upper {
            return Err(format!(
                "between`: the lower bound {:?} is after the upper bound {:?}",
                self.between[0], self.between[1]
            ));
        }
        Ok(Bounds { lower, upper })
    }

    pub fn delay(&self) -> Result<i64, String> {
        duration::parse_micros(&self.watermark).map_err(|e| format!("watermark`: {e}"))
    }

    /// `idle_timeout` as a duration; `None` for "never".
    pub fn idle_timeout(&self) -> Result<Option<Duration>, String> {
        super::window::idle_timeout(self.idle_timeout.as_deref())
            .map_err(|e| format!("idle_timeout`: {e}"))
    }

    /// Checks what needs no schema against the declared `sources`; errors
    /// start with the key, for the caller to prefix with `interval_join.`.
    pub(super) fn validate(&self, sources: &[NamedSource]) -> Result<(), String> {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        for (key, name) in [("left", &self.left), ("right", &self.right)] {
            if !names.contains(&name.as_str()) {
                return Err(format!(
                    "{key}`: no [[sources]] is named {name:?} (named: {})",
                    names.join(", ")
                ));
            }
        }
        if self.left == self.right {
            return Err("right`: join two different sources".to_string());
        }
        if names.len() != 2 {
            return Err(format!(
                "left`: an interval join reads two sources, and {} are declared; \
                 a pipeline joins two streams",
                names.len()
            ));
        }
        if self.on.is_empty() {
            return Err("on`: name the key columns, e.g. on = [\"ad_id\"]".to_string());
        }
        if self.right_on().len() != self.on.len() {
            return Err(format!(
                "right_on`: {} key columns for the right side, {} in `on`",
                self.right_on().len(),
                self.on.len()
            ));
        }
        self.bounds()?;
        self.delay()?;
        self.idle_timeout()?;
        Ok(())
    }
}

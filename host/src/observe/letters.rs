//! The dead letters a running pipeline wrote, as the web console and
//! `/status` show them: the newest few in full (their input cut short) and
//! a count per stage and reason. Shared between the dead-letter writer and
//! the status board; bounded in letters and in distinct reasons, since a
//! reason can name a row's value and so be new for every row.

use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Letters kept in full.
const RECENT: usize = 50;
/// Distinct (stage, reason) pairs counted apart; the rest are counted
/// under their stage with the reason `(other reasons)`.
const REASONS: usize = 200;
/// Bytes of a letter's input kept (as JSON text).
const INPUT_BYTES: usize = 1024;

/// One dead letter, as the console lists it.
#[derive(Debug, Clone, Serialize)]
pub struct RecentLetter {
    /// When it was written, seconds since the Unix epoch.
    pub at: f64,
    pub stage: String,
    pub reason: String,
    pub source: String,
    pub offset: i64,
    /// The input as JSON text, cut at about 1 KiB.
    pub input: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReasonCount {
    pub stage: String,
    pub reason: String,
    pub count: u64,
}

#[derive(Debug, Default)]
struct Letters {
    recent: VecDeque<RecentLetter>,
    counts: BTreeMap<(String, String), u64>,
}

/// The log of dead letters, shared.
#[derive(Debug, Clone, Default)]
pub struct LetterLog(Arc<Mutex<Letters>>);

impl LetterLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Letters> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(
        &self,
        stage: &str,
        reason: &str,
        source: &str,
        offset: i64,
        input: &serde_json::Value,
    ) {
        let letter = RecentLetter {
            at: super::unix_now(),
            stage: stage.to_string(),
            reason: reason.to_string(),
            source: source.to_string(),
            offset,
            input: cut_json(input),
        };
        let mut letters = self.lock();
        super::keep_newest(&mut letters.recent, letter, RECENT);
        let key = (stage.to_string(), reason.to_string());
        let key = if letters.counts.contains_key(&key) || letters.counts.len() < REASONS {
            key
        } else {
            (stage.to_string(), "(other reasons)".to_string())
        };
        *letters.counts.entry(key).or_default() += 1;
    }
}

/// `input` as JSON text, cut at about [`INPUT_BYTES`]: serialising stops
/// there, so a huge input is not written out a second time in full (the
/// dead-letter itself already has it).
fn cut_json(input: &serde_json::Value) -> String {
    /// A writer that takes the first bytes and then refuses the rest.
    struct Prefix(Vec<u8>);
    impl std::io::Write for Prefix {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = INPUT_BYTES.saturating_sub(self.0.len());
            self.0.extend_from_slice(&buf[..buf.len().min(room)]);
            if buf.len() > room {
                return Err(std::io::Error::other("cut"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut prefix = Prefix(Vec::with_capacity(64));
    let whole = serde_json::to_writer(&mut prefix, input).is_ok();
    // A cut can fall inside a character.
    let text = String::from_utf8_lossy(&prefix.0)
        .trim_end_matches('\u{fffd}')
        .to_string();
    if whole { text } else { format!("{text}…") }
}

impl Serialize for LetterLog {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            /// Newest first.
            recent: Vec<&'a RecentLetter>,
            /// Most frequent first.
            by_reason: Vec<ReasonCount>,
        }
        let letters = self.lock();
        let mut by_reason: Vec<ReasonCount> = letters
            .counts
            .iter()
            .map(|((stage, reason), &count)| ReasonCount {
                stage: stage.clone(),
                reason: reason.clone(),
                count,
            })
            .collect();
        by_reason.sort_by_key(|r| std::cmp::Reverse(r.count));
        Shown {
            recent: letters.recent.iter().rev().collect(),
            by_reason,
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_counted_by_reason_and_the_newest_kept_cut_short() {
        let log = LetterLog::default();
        for i in 0..(RECENT + 10) {
            log.record(
                "transform:clean",
                "bad age",
                "a.csv",
                i as i64,
                &serde_json::json!({}),
            );
        }
        log.record(
            "decode:csv",
            "3 fields, expected 4",
            "b.csv",
            7,
            &serde_json::json!("x".repeat(5000)),
        );
        let json = serde_json::to_value(&log).unwrap();
        let recent = json["recent"].as_array().unwrap();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0]["source"], "b.csv");
        let cut = recent[0]["input"].as_str().unwrap();
        assert!(cut.len() < 1100 && cut.starts_with("\"xxx") && cut.ends_with('…'));
        assert_eq!(recent[1]["input"], "{}");
        assert_eq!(json["by_reason"][0]["count"], RECENT as u64 + 10);
        assert_eq!(json["by_reason"][1]["reason"], "3 fields, expected 4");
    }

    #[test]
    fn distinct_reasons_are_bounded() {
        let log = LetterLog::default();
        for i in 0..(REASONS + 50) {
            log.record(
                "transform:t",
                &format!("value {i} is bad"),
                "s",
                0,
                &serde_json::json!({}),
            );
        }
        let json = serde_json::to_value(&log).unwrap();
        let by_reason = json["by_reason"].as_array().unwrap();
        assert_eq!(by_reason.len(), REASONS + 1);
        assert_eq!(by_reason[0]["reason"], "(other reasons)");
        assert_eq!(by_reason[0]["count"], 50);
    }
}

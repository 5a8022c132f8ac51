//! The last minutes of a running pipeline, one sample a second: the web
//! console draws its throughput and latency charts from it. Sampled from
//! the status board by the admin server, so the pipeline pays nothing for
//! it; kept in a fixed ring, so it never grows.

use super::keep_newest;
use super::status::PipelineStatus;
use serde::Serialize;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Samples kept: ten minutes at one a second.
pub const KEPT: usize = 600;

/// The running totals at one moment; rates are differences between samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub records_read: u64,
    pub rows_out: u64,
    pub dead_lettered: u64,
    /// Rows behind the watermark, dropped or dead-lettered.
    pub late: u64,
    /// The window's watermark, milliseconds since the Unix epoch.
    pub watermark_ms: Option<i64>,
    /// Records in the Kafka partitions not read yet, summed.
    pub kafka_lag: Option<i64>,
    /// How long the newest committed epoch took to commit, milliseconds.
    pub commit_ms: Option<f64>,
}

impl Sample {
    pub fn of(status: &PipelineStatus, at: f64) -> Sample {
        let counts = &status.counts;
        let window = counts.window.as_ref();
        let lags: Vec<i64> = status
            .progress
            .partitions
            .iter()
            .filter_map(|p| p.lag)
            .collect();
        Sample {
            at,
            records_read: counts.records_read,
            rows_out: counts.rows_out,
            dead_lettered: counts.dead_lettered,
            late: window.map_or(0, |w| w.late_dropped + w.late_dead_lettered),
            watermark_ms: window.and_then(|w| w.watermark_ms),
            kafka_lag: (!lags.is_empty()).then(|| lags.iter().sum()),
            commit_ms: status.checkpoints.newest_commit_ms(),
        }
    }
}

/// The ring of samples, shared between the sampler and the readers.
#[derive(Debug, Clone, Default)]
pub struct History(Arc<Mutex<VecDeque<Sample>>>);

impl History {
    pub fn push(&self, sample: Sample) {
        let mut ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        keep_newest(&mut ring, sample, KEPT);
    }

    /// The samples taken after `since` (seconds since the Unix epoch),
    /// oldest first.
    pub fn since(&self, since: f64) -> Vec<Sample> {
        let ring = self.0.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter().filter(|s| s.at > since).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_newest_samples_and_serves_those_after_a_time() {
        let history = History::default();
        for i in 0..(KEPT + 5) {
            history.push(Sample {
                at: i as f64,
                ..Sample::default()
            });
        }
        let all = history.since(-1.0);
        assert_eq!(all.len(), KEPT);
        assert_eq!(all[0].at, 5.0);
        let newest = history.since((KEPT + 2) as f64);
        assert_eq!(newest.len(), 2);
        assert_eq!(newest[0].at, (KEPT + 3) as f64);
    }
}

//! The watermark: the event time up to which the input is taken to be
//! complete. Each source partition's is its maximum event time seen minus the
//! delay; the pipeline's is the minimum over partitions, skipping partitions
//! idle for longer than the idle timeout. It never goes back.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct WatermarkTracker {
    delay: i64,
    idle_timeout: Option<Duration>,
    partitions: BTreeMap<i32, Partition>,
    watermark: i64,
}

#[derive(Debug)]
struct Partition {
    max_event_time: i64,
    last_seen: Instant,
}

/// What a checkpoint keeps of the watermark.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatermarkSnapshot {
    pub watermark: i64,
    pub max_event_times: BTreeMap<i32, i64>,
}

impl WatermarkTracker {
    pub fn new(delay: i64, idle_timeout: Option<Duration>) -> Self {
        WatermarkTracker {
            delay,
            idle_timeout,
            partitions: BTreeMap::new(),
            watermark: i64::MIN,
        }
    }

    /// `i64::MIN` until the first event.
    pub fn current(&self) -> i64 {
        self.watermark
    }

    /// Records that `partition` delivered events up to `max_event_time`.
    pub fn observe(&mut self, partition: i32, max_event_time: i64, now: Instant) {
        let p = self.partitions.entry(partition).or_insert(Partition {
            max_event_time,
            last_seen: now,
        });
        p.max_event_time = p.max_event_time.max(max_event_time);
        p.last_seen = now;
    }

    /// Recomputes the watermark from the partitions not idle at `now`.
    pub fn advance(&mut self, now: Instant) -> i64 {
        let active = self
            .partitions
            .values()
            .filter(|p| {
                self.idle_timeout
                    .is_none_or(|idle| now.duration_since(p.last_seen) <= idle)
            })
            .map(|p| p.max_event_time.saturating_sub(self.delay))
            .min();
        if let Some(candidate) = active {
            self.watermark = self.watermark.max(candidate);
        }
        self.watermark
    }

    /// Takes the input as complete: every window can close.
    pub fn flush(&mut self) {
        self.watermark = i64::MAX;
    }

    pub fn snapshot(&self) -> WatermarkSnapshot {
        WatermarkSnapshot {
            watermark: self.watermark,
            max_event_times: self
                .partitions
                .iter()
                .map(|(k, p)| (*k, p.max_event_time))
                .collect(),
        }
    }

    pub fn restore(&mut self, snapshot: WatermarkSnapshot, now: Instant) {
        self.watermark = snapshot.watermark;
        self.partitions = snapshot
            .max_event_times
            .into_iter()
            .map(|(k, max_event_time)| {
                (
                    k,
                    Partition {
                        max_event_time,
                        last_seen: now,
                    },
                )
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slowest_partition_holds_the_watermark_until_it_goes_idle() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(10, Some(Duration::from_secs(60)));
        w.observe(0, 100, start);
        w.observe(1, 50, start);
        assert_eq!(w.advance(start), 40);
        w.observe(0, 200, start + Duration::from_secs(61));
        assert_eq!(
            w.advance(start + Duration::from_secs(61)),
            190,
            "partition 1 is idle"
        );
        w.observe(1, 60, start + Duration::from_secs(62));
        assert_eq!(
            w.advance(start + Duration::from_secs(62)),
            190,
            "a watermark never goes back"
        );
    }

    #[test]
    fn without_events_there_is_no_watermark() {
        let mut w = WatermarkTracker::new(0, None);
        assert_eq!(w.advance(Instant::now()), i64::MIN);
    }
}

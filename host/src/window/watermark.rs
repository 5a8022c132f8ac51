//! The watermark: the event time up to which the input is taken to be
//! complete. Each source partition's is its maximum event time seen minus the
//! delay; the pipeline's is the minimum over partitions, as in Flink:
//!
//! - a partition the source announces as assigned, but that has delivered
//!   nothing yet, holds the watermark where it is (a slow partition's first
//!   records are not late because another partition was read first);
//! - a partition silent for longer than the idle timeout (since its last
//!   record, or since it was assigned) stops holding it back; once every
//!   partition is idle, the watermark is the minimum over those that
//!   delivered;
//! - a revoked partition stops counting.
//!
//! It never goes back.

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
    /// `None`: assigned, nothing delivered yet.
    max_event_time: Option<i64>,
    /// The last record, or the assignment if none came since.
    last_seen: Instant,
}

/// What a checkpoint keeps of the watermark. Partitions assigned but silent
/// are not kept: a restarted source announces its assignment again.
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

    /// The source's partitions are now `assigned` (watermark ids): new ones
    /// hold the watermark until they deliver or go idle, and those no longer
    /// assigned stop counting.
    pub fn assign(&mut self, assigned: &[i32], now: Instant) {
        self.partitions.retain(|id, _| assigned.contains(id));
        for &id in assigned {
            self.partitions.entry(id).or_insert(Partition {
                max_event_time: None,
                last_seen: now,
            });
        }
    }

    /// Records that `partition` delivered events up to `max_event_time`.
    pub fn observe(&mut self, partition: i32, max_event_time: i64, now: Instant) {
        let p = self.partitions.entry(partition).or_insert(Partition {
            max_event_time: None,
            last_seen: now,
        });
        p.max_event_time = Some(
            p.max_event_time
                .map_or(max_event_time, |m| m.max(max_event_time)),
        );
        p.last_seen = now;
    }

    /// Recomputes the watermark from the partitions not idle at `now`.
    pub fn advance(&mut self, now: Instant) -> i64 {
        let mut active = self
            .partitions
            .values()
            .filter(|p| !self.idle(p, now))
            .peekable();
        let bound = if active.peek().is_some() {
            // An active partition that has delivered nothing holds it here.
            active
                .map(|p| p.max_event_time)
                .try_fold(i64::MAX, |min, t| t.map(|t| min.min(t)))
        } else {
            self.partitions
                .values()
                .filter_map(|p| p.max_event_time)
                .min()
        };
        if let Some(max_event_time) = bound {
            self.watermark = self
                .watermark
                .max(max_event_time.saturating_sub(self.delay));
        }
        self.watermark
    }

    /// Each partition's own watermark (its newest event time less the
    /// delay; `None` before it delivered), and whether it is idle at `now`
    /// (idle partitions do not hold the watermark back).
    pub fn partitions(&self, now: Instant) -> Vec<(i32, Option<i64>, bool)> {
        self.partitions
            .iter()
            .map(|(&id, p)| {
                let watermark = p.max_event_time.map(|t| t.saturating_sub(self.delay));
                (id, watermark, self.idle(p, now))
            })
            .collect()
    }

    /// Whether `p` has delivered nothing for longer than the idle timeout.
    fn idle(&self, p: &Partition, now: Instant) -> bool {
        self.idle_timeout
            .is_some_and(|timeout| now.duration_since(p.last_seen) > timeout)
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
                .filter_map(|(k, p)| Some((*k, p.max_event_time?)))
                .collect(),
        }
    }

    /// Back to `snapshot`; partitions announced as assigned since, and not
    /// in it, keep holding the watermark.
    pub fn restore(&mut self, snapshot: WatermarkSnapshot, now: Instant) {
        self.watermark = snapshot.watermark;
        self.partitions.retain(|_, p| p.max_event_time.is_none());
        for (k, max_event_time) in snapshot.max_event_times {
            self.partitions.insert(
                k,
                Partition {
                    max_event_time: Some(max_event_time),
                    last_seen: now,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn the_slowest_partition_holds_the_watermark_until_it_goes_idle() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(10, Some(MINUTE));
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
        w.assign(&[0, 1], Instant::now());
        assert_eq!(w.advance(Instant::now()), i64::MIN);
    }

    #[test]
    fn an_assigned_partition_that_delivered_nothing_holds_the_watermark_until_idle() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut w = WatermarkTracker::new(10, Some(MINUTE));
        w.assign(&[0, 1, 2], start);
        w.observe(0, 1_000, at(1));
        w.observe(1, 900, at(1));
        assert_eq!(w.advance(at(1)), i64::MIN, "partition 2 has not delivered");
        // Partition 2's first records come seconds later, from the same time.
        w.observe(2, 500, at(5));
        assert_eq!(w.advance(at(5)), 490);
        w.observe(2, 2_000, at(6));
        assert_eq!(w.advance(at(6)), 890, "the minimum over all three");
    }

    #[test]
    fn a_silent_partition_stops_holding_after_the_idle_timeout_since_its_assignment() {
        let start = Instant::now();
        let at = |s: u64| start + Duration::from_secs(s);
        let mut w = WatermarkTracker::new(0, Some(MINUTE));
        w.assign(&[0, 1], start);
        w.observe(0, 100, at(30));
        assert_eq!(w.advance(at(59)), i64::MIN);
        assert_eq!(w.advance(at(61)), 100, "partition 1 went idle");
        // Every partition idle: the minimum over those that delivered.
        w.assign(&[0, 1, 2], at(70));
        w.observe(2, 50, at(70));
        assert_eq!(w.advance(at(200)), 100, "never back");
        w.observe(0, 300, at(201));
        w.observe(2, 250, at(201));
        assert_eq!(w.advance(at(202)), 250);
    }

    #[test]
    fn without_an_idle_timeout_a_silent_partition_holds_the_watermark_forever() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(0, None);
        w.assign(&[0, 1], start);
        w.observe(0, 100, start);
        assert_eq!(w.advance(start + Duration::from_secs(3600)), i64::MIN);
    }

    #[test]
    fn a_revoked_partition_stops_counting_and_a_new_one_holds() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(0, Some(MINUTE));
        w.assign(&[0, 1, 2], start);
        w.observe(0, 100, start);
        w.observe(1, 200, start);
        w.observe(2, 50, start);
        assert_eq!(w.advance(start), 50);
        // Another member takes partition 2; this one keeps 0 and 1.
        w.assign(&[0, 1], start);
        w.observe(0, 150, start);
        assert_eq!(w.advance(start), 150);
        // Partition 3 is handed over: nothing closes until it delivers.
        w.assign(&[0, 1, 3], start);
        w.observe(0, 400, start);
        w.observe(1, 400, start);
        assert_eq!(w.advance(start), 150);
        w.observe(3, 300, start);
        assert_eq!(w.advance(start), 300);
    }

    #[test]
    fn a_restore_keeps_what_delivered_and_the_announced_assignment() {
        let start = Instant::now();
        let mut w = WatermarkTracker::new(0, Some(MINUTE));
        w.assign(&[0, 1], start);
        w.observe(0, 100, start);
        let snapshot = w.snapshot();
        assert_eq!(snapshot.max_event_times, BTreeMap::from([(0, 100)]));
        let mut restored = WatermarkTracker::new(0, Some(MINUTE));
        restored.assign(&[0, 1], start);
        restored.restore(snapshot, start);
        assert_eq!(restored.advance(start), i64::MIN, "partition 1 still holds");
        restored.observe(1, 80, start);
        assert_eq!(restored.advance(start), 80);
    }
}

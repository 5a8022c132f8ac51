//! What a running pipeline tells the people who watch it: the counters of
//! every stage, the status board the admin server reads, the Prometheus
//! rendering of it, and the run summary printed at the end.

pub mod epochs;
pub mod history;
pub mod letters;
pub mod metrics;
pub mod progress;
pub mod status;
pub mod summary;

/// Now, in seconds since the Unix epoch, as the console's records stamp it.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// Appends `item` to a ring that keeps the newest `kept`.
pub fn keep_newest<T>(ring: &mut std::collections::VecDeque<T>, item: T, kept: usize) {
    if ring.len() == kept {
        ring.pop_front();
    }
    ring.push_back(item);
}

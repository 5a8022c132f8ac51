//! Window state, owned by the host: the accumulators of every open group,
//! evicted as the watermark passes. It snapshots to bytes with a version tag,
//! so checkpoints can store it and a restart can restore it.
//!
//! Memory: each open group holds its key (in Arrow row format, about the
//! size of the key values) and one accumulator per aggregate, about 40 bytes
//! each, except `count_distinct` (every distinct value) and `median` /
//! `percentile` (every value, 8 bytes each). Open groups are about
//! (windows open at once) × (keys per window); a sliding window keeps
//! size / slide windows open per key, plus those inside the watermark delay.

use super::aggregate::Acc;
use super::watermark::WatermarkSnapshot;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Group keys in Arrow row format.
pub type Key = Box<[u8]>;

/// Maps of the window state: keys are our own row bytes, so a fast
/// non-cryptographic hash is safe (and SipHash was a sixth of the time).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// A key's session: from its first event to its last event plus the gap.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub start: i64,
    pub end: i64,
    pub accs: Vec<Acc>,
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowState {
    /// Tumbling and sliding windows: by window start, then by key.
    pub windows: BTreeMap<i64, FastMap<Key, Vec<Acc>>>,
    /// Session windows: each key's open sessions.
    pub sessions: FastMap<Key, Vec<Session>>,
    /// The global window: by key.
    pub global: FastMap<Key, Vec<Acc>>,
    pub watermark: Option<WatermarkSnapshot>,
}

/// Bumped whenever the layout above changes; a snapshot of another version
/// is refused, never misread.
pub const STATE_VERSION: u8 = 1;

impl WindowState {
    pub fn open_groups(&self) -> usize {
        self.windows.values().map(FastMap::len).sum::<usize>()
            + self.sessions.values().map(Vec::len).sum::<usize>()
            + self.global.len()
    }

    pub fn snapshot(&self) -> Vec<u8> {
        let mut bytes = vec![STATE_VERSION];
        bytes.extend(postcard::to_stdvec(self).expect("window state serialises"));
        bytes
    }

    pub fn restore(bytes: &[u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&STATE_VERSION, body)) => {
                postcard::from_bytes(body).map_err(|e| format!("window state is corrupt: {e}"))
            }
            Some((version, _)) => Err(format!(
                "window state has version {version}, this weir reads version {STATE_VERSION}"
            )),
            None => Err("window state is empty".to_string()),
        }
    }
}

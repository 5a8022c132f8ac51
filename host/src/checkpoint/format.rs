//! The checkpoint file: a magic tag, a format version, a SHA-256 of the body
//! and the body (postcard). A file that is short, tampered with or written
//! by another format version is refused with the reason, never trusted.

use crate::source::{Mark, Position};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MAGIC: &[u8; 8] = b"WEIRCKPT";
/// Bumped when the body's layout changes; older files are then refused.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = MAGIC.len() + 2 + 32;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub pipeline: String,
    pub epoch: u64,
    /// Wall-clock time of the barrier, ms since the Unix epoch.
    pub taken_at_ms: i64,
    /// Where the source stood when the epoch began…
    pub start: Position,
    /// …and at its barrier: reading resumes here.
    pub end: Position,
    /// The epoch's batches in order, so a replay cuts the same batches.
    pub batches: Vec<Mark>,
    /// The window operator's state at the barrier (as bytes, not a
    /// sequence of numbers: postcard then copies it whole).
    #[serde(with = "serde_bytes")]
    pub window: Option<Vec<u8>>,
    pub plugins: Vec<PluginSnapshot>,
    /// Aggregate rows the window had emitted (the next one's `_offset`).
    pub emitted: i64,
    /// Lengths of the files written in place at the barrier; `None` in
    /// checkpoints of older weirs. Encoded after the body (see `encode`),
    /// so that checkpoints stay readable both ways.
    #[serde(skip)]
    pub files: Option<super::FileMarks>,
}

/// A transform's key-value state and the build that wrote it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginSnapshot {
    pub name: String,
    pub sha256: String,
    pub state: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a weir checkpoint (too short or wrong magic)")]
    NotACheckpoint,
    #[error("written by checkpoint format {0}; this weir reads format {FORMAT_VERSION}")]
    Version(u16),
    #[error("checksum mismatch: the file is corrupt or was cut short")]
    Checksum,
    #[error("body cannot be read: {0}")]
    Body(String),
}

impl Checkpoint {
    pub fn encode(&self) -> Vec<u8> {
        // The body, then the file marks: a reader that does not know them
        // stops after the body (postcard ignores what follows).
        let mut body = postcard::to_stdvec(self).expect("a checkpoint serialises");
        if let Some(files) = &self.files {
            body.extend(postcard::to_stdvec(files).expect("file marks serialise"));
        }
        let mut bytes = Vec::with_capacity(HEADER + body.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&Sha256::digest(&body));
        bytes.extend_from_slice(&body);
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Result<Checkpoint, FormatError> {
        if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
            return Err(FormatError::NotACheckpoint);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(FormatError::Version(version));
        }
        let body = &bytes[HEADER..];
        if Sha256::digest(body).as_slice() != &bytes[10..HEADER] {
            return Err(FormatError::Checksum);
        }
        let (mut checkpoint, rest) = postcard::take_from_bytes::<Checkpoint>(body)
            .map_err(|e| FormatError::Body(e.to_string()))?;
        if !rest.is_empty() {
            checkpoint.files = Some(
                postcard::from_bytes(rest)
                    .map_err(|e| FormatError::Body(format!("its file lengths: {e}")))?,
            );
        }
        Ok(checkpoint)
    }

    /// Bytes of state held: window plus plugin key-value state.
    pub fn state_bytes(&self) -> usize {
        let plugins: usize = self
            .plugins
            .iter()
            .flat_map(|p| p.state.iter())
            .map(|(k, v)| k.len() + v.len())
            .sum();
        self.window.as_ref().map_or(0, Vec::len) + plugins
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Checkpoint {
        Checkpoint {
            pipeline: "p".into(),
            epoch: 7,
            taken_at_ms: 1,
            start: Position::Generator {
                emitted: 0,
                word_pos: 0,
            },
            end: Position::Generator {
                emitted: 10,
                word_pos: 99,
            },
            batches: vec![Mark {
                partition: 0,
                records: 10,
            }],
            window: Some(vec![1, 2, 3]),
            plugins: vec![PluginSnapshot {
                name: "t".into(),
                sha256: "ab".into(),
                state: BTreeMap::from([("k".to_string(), vec![9])]),
            }],
            emitted: 4,
            files: None,
        }
    }

    #[test]
    fn file_marks_round_trip_and_older_checkpoints_have_none() {
        let mut with = sample();
        with.files = Some(crate::checkpoint::FileMarks {
            dead_letter: Some(120),
            sinks: BTreeMap::from([(
                "out".to_string(),
                BTreeMap::from([("out.csv".to_string(), 77)]),
            )]),
        });
        let back = Checkpoint::decode(&with.encode()).unwrap();
        assert_eq!(back.files, with.files);
        // A checkpoint written before file marks existed: the body alone.
        assert_eq!(Checkpoint::decode(&sample().encode()).unwrap().files, None);
    }

    #[test]
    fn round_trips() {
        let back = Checkpoint::decode(&sample().encode()).unwrap();
        assert_eq!(back.epoch, 7);
        assert_eq!(back.end, sample().end);
        assert_eq!(back.state_bytes(), 3 + 2);
    }

    #[test]
    fn refuses_a_flipped_byte_a_short_file_and_another_version() {
        let bytes = sample().encode();
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(
            Checkpoint::decode(&flipped),
            Err(FormatError::Checksum)
        ));
        assert!(matches!(
            Checkpoint::decode(&bytes[..bytes.len() - 5]),
            Err(FormatError::Checksum)
        ));
        assert!(matches!(
            Checkpoint::decode(&bytes[..4]),
            Err(FormatError::NotACheckpoint)
        ));
        let mut other = bytes;
        other[8] = 9;
        assert!(matches!(
            Checkpoint::decode(&other),
            Err(FormatError::Version(9))
        ));
    }
}

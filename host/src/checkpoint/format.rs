//! The checkpoint file: a magic tag, a format version, a SHA-256 of the body
//! and the body (postcard). A file that is short, tampered with or written
//! by another format version is refused with the reason, never trusted.

use crate::source::{Mark, Position};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const MAGIC: &[u8; 8] = b"WEIRCKPT";
/// Bumped when the body's layout changes; older files are then refused.
/// 2: each operator's state under its stage name (1 had window and plugin
/// state in fields of their own).
pub const FORMAT_VERSION: u16 = 3;
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
    /// The state of every operator that keeps any, in pipeline order.
    pub operators: Vec<OperatorSnapshot>,
    /// Lengths of the files written in place at the barrier (see
    /// `checkpoint::rewind`); `None` in checkpoints of older weirs. Encoded
    /// after the body (see `encode`), so checkpoints stay readable both ways.
    #[serde(skip)]
    pub files: Option<super::FileMarks>,
}

/// A transform's key-value state and the build that wrote it.
/// One operator's state, as [`crate::operator::Operator::snapshot`] gave it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OperatorSnapshot {
    /// The stage's name (`transform:NAME`, `window`).
    pub name: String,
    /// The build that made the state: a plugin's SHA-256.
    pub build: Option<String>,
    pub tables: BTreeMap<String, StateTable>,
}

/// One state table's bytes (as bytes, not a sequence of numbers: postcard
/// then copies them whole).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateTable(#[serde(with = "serde_bytes")] pub Vec<u8>);

impl OperatorSnapshot {
    pub fn state_bytes(&self) -> usize {
        self.tables.iter().map(|(k, v)| k.len() + v.0.len()).sum()
    }
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
        self.operators
            .iter()
            .map(OperatorSnapshot::state_bytes)
            .sum()
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
            operators: vec![OperatorSnapshot {
                name: "transform:t".into(),
                build: Some("ab".into()),
                tables: BTreeMap::from([("k".to_string(), StateTable(vec![9]))]),
            }],
            files: None,
        }
    }

    #[test]
    fn file_marks_round_trip_and_older_checkpoints_have_none() {
        let mut with = sample();
        with.files = Some(crate::checkpoint::FileMarks {
            dead_letter: Some(120),
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
        assert_eq!(back.state_bytes(), 1 + 1);
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

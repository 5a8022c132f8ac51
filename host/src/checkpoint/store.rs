//! Where checkpoints are kept: a local directory (the default), or object
//! storage (`s3://…`, `gs://…`, `az://…`, `file://…`, opened as every
//! object-store URL is, with the pipeline's `[storage]` options) so that
//! hosts of a cluster share them. Files are named by epoch; a
//! `committed` object records the newest epoch every sink has committed.

use super::crash_point;
use super::format::Checkpoint;
use crate::config::StorageOptions;
use crate::storage::{self, Location};
use object_store::{ObjectStoreExt, PutPayload};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("checkpoint store {location}: {message}")]
    Io { location: String, message: String },
}

pub enum Store {
    Local(PathBuf),
    Object(Location),
}

const COMMITTED: &str = "committed";

fn file_name(epoch: u64) -> String {
    format!("epoch-{epoch:020}.ckpt")
}

fn epoch_of(name: &str) -> Option<u64> {
    name.strip_prefix("epoch-")?
        .strip_suffix(".ckpt")?
        .parse()
        .ok()
}

impl Store {
    /// `location` is an object-store URL, or a directory (resolved against
    /// the pipeline's folder when the config was loaded).
    pub fn open(location: &str, options: &StorageOptions) -> Result<Store, StoreError> {
        let error = |message: String| StoreError::Io {
            location: location.to_string(),
            message,
        };
        if !storage::is_url(std::path::Path::new(location)) {
            std::fs::create_dir_all(location).map_err(|e| error(e.to_string()))?;
            return Ok(Store::Local(PathBuf::from(location)));
        }
        if let Some(dir) = location.strip_prefix("file://") {
            // object_store's local store wants the directory to exist.
            std::fs::create_dir_all(dir).map_err(|e| error(e.to_string()))?;
        }
        storage::open(location, options)
            .map(Store::Object)
            .map_err(|e| error(e.to_string()))
    }

    pub fn location(&self) -> String {
        match self {
            Store::Local(dir) => dir.display().to_string(),
            Store::Object(place) => place.url.clone(),
        }
    }

    fn error(&self, message: impl ToString) -> StoreError {
        StoreError::Io {
            location: self.location(),
            message: message.to_string(),
        }
    }

    /// Writes the checkpoint so that it is either whole or absent: a
    /// temporary file, synced, renamed, and the directory synced (object
    /// stores make a put atomic themselves).
    /// Writes `checkpoint` durably; returns its size in bytes.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, StoreError> {
        let bytes = checkpoint.encode();
        let size = bytes.len() as u64;
        let name = file_name(checkpoint.epoch);
        match self {
            Store::Local(dir) => {
                let temporary = dir.join(format!(".{name}.tmp"));
                let write = || -> std::io::Result<()> {
                    let mut file = std::fs::File::create(&temporary)?;
                    let half = bytes.len() / 2;
                    file.write_all(&bytes[..half])?;
                    crash_point("mid-write", checkpoint.epoch);
                    file.write_all(&bytes[half..])?;
                    file.sync_all()?;
                    std::fs::rename(&temporary, dir.join(&name))?;
                    std::fs::File::open(dir)?.sync_all()
                };
                write().map_err(|e| {
                    // A full disk must not stay full of a half-written file.
                    let _ = std::fs::remove_file(&temporary);
                    self.error(format!("cannot write {}: {e}", temporary.display()))
                })?;
            }
            Store::Object(_) => self.put(&name, bytes)?,
        }
        Ok(size)
    }

    /// Epochs with a checkpoint file, oldest first (whether valid or not).
    pub fn epochs(&self) -> Result<Vec<u64>, StoreError> {
        let mut epochs: Vec<u64> = match self {
            Store::Local(dir) => std::fs::read_dir(dir)
                .map_err(|e| self.error(e))?
                .filter_map(|entry| entry.ok()?.file_name().to_str().and_then(epoch_of))
                .collect(),
            Store::Object(place) => {
                storage::block_on(place.store.list_with_delimiter(Some(&place.prefix)))
                    .map_err(|e| self.error(e))?
                    .objects
                    .iter()
                    .filter_map(|o| o.location.filename().and_then(epoch_of))
                    .collect()
            }
        };
        epochs.sort_unstable();
        Ok(epochs)
    }

    /// Reads and checks one checkpoint; `Err` says why it cannot be used.
    pub fn read(&self, epoch: u64) -> Result<Checkpoint, String> {
        let bytes = self
            .get(&file_name(epoch))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "missing".to_string())?;
        let checkpoint = Checkpoint::decode(&bytes).map_err(|e| e.to_string())?;
        if checkpoint.epoch != epoch {
            return Err(format!(
                "the file of epoch {epoch} holds epoch {}",
                checkpoint.epoch
            ));
        }
        Ok(checkpoint)
    }

    /// The newest epoch every sink committed (0 before the first).
    pub fn committed(&self) -> Result<u64, StoreError> {
        Ok(self
            .get(COMMITTED)?
            .and_then(|b| String::from_utf8(b).ok()?.trim().parse().ok())
            .unwrap_or(0))
    }

    /// Records that every sink committed `epoch`. Losing this write is
    /// safe: the epoch is then replayed and the sinks skip it.
    pub fn set_committed(&self, epoch: u64) -> Result<(), StoreError> {
        let bytes = format!("{epoch}\n").into_bytes();
        match self {
            Store::Local(dir) => {
                let temporary = dir.join(".committed.tmp");
                std::fs::write(&temporary, bytes)
                    .and_then(|()| std::fs::rename(&temporary, dir.join(COMMITTED)))
                    .map_err(|e| {
                        let _ = std::fs::remove_file(&temporary);
                        self.error(format!("cannot write {}: {e}", temporary.display()))
                    })
            }
            Store::Object(_) => self.put(COMMITTED, bytes),
        }
    }

    /// Deletes all but the newest `keep` checkpoints.
    pub fn prune(&self, keep: usize) -> Result<(), StoreError> {
        let epochs = self.epochs()?;
        let old = epochs.len().saturating_sub(keep);
        for epoch in &epochs[..old] {
            let name = file_name(*epoch);
            match self {
                Store::Local(dir) => {
                    std::fs::remove_file(dir.join(name)).map_err(|e| self.error(e))?
                }
                Store::Object(place) => storage::block_on(
                    place
                        .store
                        .delete(&place.prefix.clone().join(name.as_str())),
                )
                .map_err(|e| self.error(e))?,
            }
        }
        Ok(())
    }

    /// The raw bytes of a checkpoint file (for `weir checkpoints` and tests).
    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Store::Local(dir) => match std::fs::read(dir.join(name)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(self.error(e)),
            },
            Store::Object(place) => storage::block_on(async {
                match place.store.get(&place.prefix.clone().join(name)).await {
                    Ok(result) => result.bytes().await.map(|b| Some(b.to_vec())),
                    Err(object_store::Error::NotFound { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
                .map_err(|e| self.error(e))
            }),
        }
    }

    fn put(&self, name: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        let Store::Object(place) = self else {
            unreachable!("local writes go through a temporary file")
        };
        storage::block_on(
            place
                .store
                .put(&place.prefix.clone().join(name), PutPayload::from(bytes)),
        )
        .map(|_| ())
        .map_err(|e| self.error(e))
    }
}

impl crate::error::Classified for StoreError {
    /// The store is a directory or a bucket: failing to read or write it is
    /// its service's failure, which may pass.
    fn domain(&self) -> crate::error::ErrorDomain {
        crate::error::ErrorDomain::External
    }

    fn retry(&self) -> crate::error::Retry {
        crate::error::Retry::Helps
    }
}

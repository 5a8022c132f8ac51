//! Where the files source finds its files: one local file, a local
//! directory, or the objects under a prefix of an object store. A listing
//! names each file (a local path, or the object's URL) with its size and
//! modification time; opening one gives its bytes, decompressed if the
//! files are.

use super::super::SourceError;
use crate::config::{Compression, StorageOptions};
use crate::storage::{self, Location, Place};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A file found by a listing.
#[derive(Debug, Clone)]
pub struct Found {
    pub name: String,
    pub size: u64,
    /// Milliseconds since the Unix epoch.
    pub modified_ms: i64,
}

/// The source's place: a local file or directory (which must exist), or
/// an object-store prefix.
pub struct Listing(Place);

impl Listing {
    pub fn open(path: &Path, options: &StorageOptions) -> Result<Listing, SourceError> {
        let place = Place::open(path, options).map_err(|e| SourceError::Config(e.to_string()))?;
        if let Place::Local(path) = &place
            && !path.exists()
        {
            return Err(SourceError::Missing {
                path: path.display().to_string(),
            });
        }
        Ok(Listing(place))
    }

    pub fn describe(&self) -> String {
        self.0.describe()
    }

    /// The files there now, in name order. Hidden files and folders (`.x`)
    /// and those starting with `_` (`_SUCCESS`, `_temporary`) are skipped, as
    /// Spark and Hadoop skip them.
    pub fn list(&self) -> Result<Vec<Found>, SourceError> {
        let mut found = match &self.0 {
            Place::Local(path) => list_local(path)?,
            Place::Object(place) => list_objects(place)?,
        };
        found.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(found)
    }

    /// A reader of the file's lines, decompressed as `compression` says.
    pub fn lines(
        &self,
        name: &str,
        compression: Compression,
    ) -> Result<Box<dyn BufRead + Send>, SourceError> {
        let raw: Box<dyn Read + Send> = match &self.0 {
            Place::Local(_) => Box::new(std::fs::File::open(name).map_err(|e| io(name, e))?),
            Place::Object(place) => {
                let key = key_of(place, name);
                let result =
                    storage::block_on(place.store.get(&key)).map_err(|e| object_error(name, e))?;
                Box::new(ObjectRead {
                    name: name.to_string(),
                    stream: result.into_stream(),
                    chunk: Bytes::new(),
                })
            }
        };
        let compression = match compression {
            Compression::Auto if name.ends_with(".gz") => Compression::Gzip,
            Compression::Auto if name.ends_with(".zst") || name.ends_with(".zstd") => {
                Compression::Zstd
            }
            Compression::Auto => Compression::None,
            other => other,
        };
        const BUFFER: usize = 256 * 1024;
        Ok(match compression {
            Compression::Gzip => Box::new(BufReader::with_capacity(
                BUFFER,
                flate2::read::MultiGzDecoder::new(BufReader::new(raw)),
            )),
            Compression::Zstd => Box::new(BufReader::with_capacity(
                BUFFER,
                zstd::Decoder::new(raw).map_err(|e| io(name, e))?,
            )),
            _ => Box::new(BufReader::with_capacity(BUFFER, raw)),
        })
    }

    /// The whole file, for a format read by random access (Parquet).
    pub fn bytes(&self, name: &str) -> Result<Bytes, SourceError> {
        match &self.0 {
            Place::Local(_) => std::fs::read(name)
                .map(Bytes::from)
                .map_err(|e| io(name, e)),
            Place::Object(place) => {
                let key = key_of(place, name);
                storage::block_on(async { place.store.get(&key).await?.bytes().await })
                    .map_err(|e| object_error(name, e))
            }
        }
    }
}

/// The key of the object a listing named `name` (its URL).
fn key_of(place: &Location, name: &str) -> ObjectPath {
    let base = place.url.trim_end_matches('/');
    let relative = name.strip_prefix(base).unwrap_or(name);
    storage::child(&place.prefix, relative)
}

fn io(name: &str, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: name.to_string(),
        source,
    }
}

/// A failed request: an I/O error when trying again may help (the store is
/// down), a refusal otherwise (no such bucket, credentials refused).
fn object_error(name: &str, error: object_store::Error) -> SourceError {
    if storage::retryable(&error) {
        SourceError::Unavailable {
            path: name.to_string(),
            message: error.to_string(),
        }
    } else {
        SourceError::Config(format!("cannot read {name}: {error}"))
    }
}

fn visible(name: &str) -> bool {
    !name.starts_with('.') && !name.starts_with('_')
}

fn list_local(path: &Path) -> Result<Vec<Found>, SourceError> {
    let shown = path.display().to_string();
    let found = |path: &Path, meta: std::fs::Metadata| Found {
        name: path.display().to_string(),
        size: meta.len(),
        modified_ms: meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_millis() as i64),
    };
    if !path.is_dir() {
        let meta = std::fs::metadata(path).map_err(|e| io(&shown, e))?;
        return Ok(vec![found(path, meta)]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| io(&shown, e))? {
        let entry = entry.map_err(|e| io(&shown, e))?;
        let path = entry.path();
        let name_visible = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(visible);
        // A file removed between the listing and here is not there.
        if let Ok(meta) = std::fs::metadata(&path)
            && name_visible
            && meta.is_file()
        {
            files.push(found(&path, meta));
        }
    }
    Ok(files)
}

/// Every object under the prefix, folders included; a URL naming one
/// object lists that object.
fn list_objects(place: &Location) -> Result<Vec<Found>, SourceError> {
    let found = |meta: &object_store::ObjectMeta| Found {
        name: place.url_of(&meta.location),
        size: meta.size,
        modified_ms: meta.last_modified.timestamp_millis(),
    };
    let objects: Vec<object_store::ObjectMeta> =
        storage::block_on(place.store.list(Some(&place.prefix)).collect::<Vec<_>>())
            .into_iter()
            .collect::<Result<_, _>>()
            .map_err(|e| object_error(&place.url, e))?;
    if objects.is_empty() && !place.url.ends_with('/') {
        match storage::block_on(place.store.head(&place.prefix)) {
            Ok(meta) => {
                return Ok(vec![Found {
                    name: place.url.clone(),
                    ..found(&meta)
                }]);
            }
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(object_error(&place.url, e)),
        }
    }
    Ok(objects
        .iter()
        .filter(|meta| {
            let relative = meta
                .location
                .prefix_match(&place.prefix)
                .map(|parts| parts.map(|p| p.as_ref().to_string()).collect::<Vec<_>>())
                .unwrap_or_default();
            relative.iter().all(|part| visible(part))
        })
        .map(found)
        .collect())
}

/// An object's bytes as they arrive, read synchronously.
struct ObjectRead {
    name: String,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
}

impl Read for ObjectRead {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match storage::block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                // Told apart from corrupt data by its kind (see `read_lines`).
                Some(Err(e)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        format!("reading {}: {e}", self.name),
                    ));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        let _ = self.chunk.split_to(n);
        Ok(n)
    }
}

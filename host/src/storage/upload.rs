//! An object written in pieces and made visible at once: bytes are
//! buffered, sent as the parts of a multipart upload while more are
//! written (an object smaller than one part is sent whole), and the object
//! appears only at [`Upload::complete`]; [`Upload::abort`] leaves nothing.
//! A process killed mid-upload leaves an unfinished multipart upload,
//! invisible to readers, which the bucket's lifecycle rule
//! (`AbortIncompleteMultipartUpload`) removes.

use super::{Location, block_on, runtime};
use object_store::path::Path as ObjectPath;
use object_store::{MultipartUpload, ObjectStoreExt, PutPayload};
use std::io::Write;
use tokio::task::JoinHandle;

/// S3 wants every part but the last to be at least 5 MiB.
const PART: usize = 8 * 1024 * 1024;
/// Parts in flight at once, beyond which a write waits.
const IN_FLIGHT: usize = 4;

pub struct Upload {
    place: Location,
    key: ObjectPath,
    buffer: Vec<u8>,
    multipart: Option<Box<dyn MultipartUpload>>,
    parts: Vec<JoinHandle<object_store::Result<()>>>,
}

impl Upload {
    pub fn new(place: &Location, key: ObjectPath) -> Self {
        Upload {
            place: place.clone(),
            key,
            buffer: Vec::new(),
            multipart: None,
            parts: Vec::new(),
        }
    }

    /// The object's URL.
    pub fn url(&self) -> String {
        self.place.url_of(&self.key)
    }

    /// Sends the buffer as the next part, starting the upload if need be.
    fn send_part(&mut self) -> object_store::Result<()> {
        if self.multipart.is_none() {
            self.multipart = Some(block_on(self.place.store.put_multipart(&self.key))?);
        }
        let upload = self.multipart.as_mut().expect("started above");
        let part = upload.put_part(PutPayload::from(std::mem::take(&mut self.buffer)));
        self.parts.push(runtime().spawn(part));
        if self.parts.len() >= IN_FLIGHT {
            let oldest = self.parts.remove(0);
            join(oldest)?;
        }
        Ok(())
    }

    /// Every byte written is in the store, not yet visible (at an epoch's
    /// pre-commit, so that the commit itself is one short request).
    pub fn stage(&mut self) -> object_store::Result<()> {
        if self.multipart.is_some() && !self.buffer.is_empty() {
            self.send_part()?;
        }
        for part in std::mem::take(&mut self.parts) {
            join(part)?;
        }
        Ok(())
    }

    /// Makes the object visible, replacing any object of its name.
    pub fn complete(mut self) -> object_store::Result<()> {
        self.stage()?;
        match self.multipart.take() {
            Some(mut upload) => block_on(upload.complete()).map(|_| ()),
            None => {
                let bytes = std::mem::take(&mut self.buffer);
                block_on(self.place.store.put(&self.key, PutPayload::from(bytes))).map(|_| ())
            }
        }
    }
}

fn join(part: JoinHandle<object_store::Result<()>>) -> object_store::Result<()> {
    block_on(part).map_err(|e| object_store::Error::JoinError { source: e })?
}

impl Write for Upload {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= PART {
            self.send_part().map_err(std::io::Error::other)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Upload {
    /// An upload neither completed nor aborted (its file discarded, or the
    /// run failed) is aborted in the background.
    fn drop(&mut self) {
        if let Some(mut upload) = self.multipart.take() {
            runtime().spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

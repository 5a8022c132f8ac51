//! The precompiled-component cache: native code keyed by the content hash of
//! the component and the engine's settings, stored as `.cwasm` and mmapped.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components live between runs.
pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    /// The cache in `$WEIR_CACHE_DIR`, else `$XDG_CACHE_HOME/weir`, else `~/.cache/weir`.
    pub fn from_env() -> Self {
        let dir = std::env::var_os("WEIR_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("weir")))
            .or_else(|| std::env::var_os("HOME").map(|d| PathBuf::from(d).join(".cache/weir")));
        ComponentCache { dir }
    }

    pub fn in_dir(dir: impl Into<PathBuf>) -> Self {
        ComponentCache {
            dir: Some(dir.into()),
        }
    }

    /// No cache: every load compiles.
    pub fn disabled() -> Self {
        ComponentCache { dir: None }
    }

    /// The cache key: the component's bytes and everything about the engine
    /// that changes the native code (wasmtime version, settings, CPU features).
    pub fn key(engine: &Engine, bytes: &[u8]) -> String {
        let mut hasher = Sha256::new();
        hasher.update(bytes);
        let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
        engine
            .precompile_compatibility_hash()
            .hash(&mut engine_hash);
        hasher.update(engine_hash.finish().to_le_bytes());
        format!("{:x}", hasher.finalize())
    }

    pub fn path_for(&self, engine: &Engine, bytes: &[u8]) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{}.cwasm", Self::key(engine, bytes))))
    }

    pub fn get_or_compile(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let Some(path) = self.path_for(engine, bytes) else {
            return Component::new(engine, bytes);
        };
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an
            // engine with the same compatibility hash (it is in the name), and
            // only this cache writes there, by atomic rename.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "Ignoring an unreadable cache entry.")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(e) = store(&path, &component.serialize()?) {
            tracing::warn!(path = %path.display(), error = %e, "Could not write the component cache.");
        }
        Ok(component)
    }
}

fn store(path: &Path, compiled: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile_in(dir)?;
    std::fs::write(&tmp, compiled)?;
    std::fs::rename(&tmp, path)
}

fn tempfile_in(dir: &Path) -> std::io::Result<PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    Ok(dir.join(format!(".tmp-{}-{nanos}", std::process::id())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;

    const PLUGIN: &[u8] = include_bytes!(concat!(env!("WEIR_PLUGIN_DIR"), "/shout.wasm"));

    #[test]
    fn a_compiled_component_is_stored_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(ComponentCache::in_dir(dir.path())).unwrap();
        runtime.load_bytes("shout", PLUGIN).unwrap();
        let entries: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert!(entry.extension().is_some_and(|e| e == "cwasm"));
        let written = std::fs::metadata(entry).unwrap().modified().unwrap();
        runtime.load_bytes("shout", PLUGIN).unwrap();
        assert_eq!(
            std::fs::metadata(entry).unwrap().modified().unwrap(),
            written,
            "the second load reads the cache"
        );
    }

    #[test]
    fn a_corrupt_cache_entry_is_replaced_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = Runtime::new(ComponentCache::in_dir(dir.path())).unwrap();
        let path = runtime.cache().path_for(&runtime.engine, PLUGIN).unwrap();
        std::fs::write(&path, b"not native code").unwrap();
        runtime.load_bytes("shout", PLUGIN).unwrap();
        assert!(
            std::fs::read(&path).unwrap().len() > 1000,
            "recompiled and rewritten"
        );
    }
}

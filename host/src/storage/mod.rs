//! Object storage, named one way everywhere: a URL (`s3://bucket/prefix`,
//! `gs://…`, `az://…`, `file:///…`) plus the pipeline's `[storage]` options
//! (endpoint, region, credentials, client settings), opened through
//! `object_store` for the files source, the file sinks and checkpoints alike.
//! Credentials come from the options, else the provider's environment
//! variables, else (S3) the shared credentials file's profile, else the
//! instance's metadata service, as the AWS SDKs look for them.

use crate::config::StorageOptions;
pub use crate::config::is_url;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreScheme};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, OnceLock};

mod upload;
pub use upload::Upload;

/// A place in an object store: the store and the key prefix under it.
#[derive(Clone)]
pub struct Location {
    /// The URL as the pipeline wrote it, for messages.
    pub url: String,
    pub store: Arc<dyn ObjectStore>,
    pub prefix: ObjectPath,
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("{url}: {message}")]
    Open { url: String, message: String },
    #[error("{url}: {source}")]
    Request {
        url: String,
        source: object_store::Error,
    },
}

/// The key `relative` under `prefix` (`relative` is `/`-separated), its
/// names kept as they are: a Hive folder `k=a%2Fb` is that key, as other
/// writers and readers name it (`Path::join` would encode the `%`).
pub fn child(prefix: &ObjectPath, relative: &str) -> ObjectPath {
    ObjectPath::parse(format!("{}/{relative}", prefix.as_ref())).unwrap_or_else(|_| {
        relative
            .split('/')
            .filter(|p| !p.is_empty())
            .fold(prefix.clone(), |path, part| path.join(part))
    })
}

impl Location {
    /// The URL of `key` (a key of this store), for messages and dead letters.
    pub fn url_of(&self, key: &ObjectPath) -> String {
        let base = self.url.trim_end_matches('/');
        let relative = key
            .as_ref()
            .strip_prefix(self.prefix.as_ref())
            .unwrap_or(key.as_ref());
        format!("{base}/{}", relative.trim_start_matches('/'))
    }

    /// A failed request, as an error naming this location.
    pub fn error(&self, source: object_store::Error) -> StorageError {
        StorageError::Request {
            url: self.url.clone(),
            source,
        }
    }
}

/// Where files are: a local path, or a place in an object store. The one
/// decision between the two, for the source, the sinks and join tables.
#[derive(Debug, Clone)]
pub enum Place {
    Local(std::path::PathBuf),
    Object(Location),
}

impl Place {
    /// `path` as the pipeline wrote it: an object-store URL is opened with
    /// `options` (no request is made), anything else is a local path.
    pub fn open(path: &std::path::Path, options: &StorageOptions) -> Result<Place, StorageError> {
        match path.to_str().filter(|_| is_url(path)) {
            Some(url) => open(url, options).map(Place::Object),
            None => Ok(Place::Local(path.to_path_buf())),
        }
    }

    /// The path or URL, for messages.
    pub fn describe(&self) -> String {
        match self {
            Place::Local(path) => path.display().to_string(),
            Place::Object(location) => location.url.clone(),
        }
    }
}

/// Opens `url` with `options` (no request is made: a wrong bucket or key
/// shows at the first request).
pub fn open(url: &str, options: &StorageOptions) -> Result<Location, StorageError> {
    let fail = |message: String| StorageError::Open {
        url: url.to_string(),
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| fail(format!("not a URL: {e}")))?;
    let (scheme, path) = ObjectStoreScheme::parse(&parsed).map_err(|e| fail(e.to_string()))?;
    let prefix = ObjectPath::parse(path).map_err(|e| fail(e.to_string()))?;
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::Local => Arc::new(object_store::local::LocalFileSystem::new()),
        ObjectStoreScheme::AmazonS3 => {
            use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
            let mut builder = AmazonS3Builder::from_env().with_url(url);
            let keys = parse_keys::<AmazonS3ConfigKey>(options, "S3").map_err(fail)?;
            let has_key = keys
                .iter()
                .any(|(k, _)| *k == AmazonS3ConfigKey::AccessKeyId)
                || std::env::var_os("AWS_ACCESS_KEY_ID").is_some();
            if !has_key {
                for (key, value) in shared_profile() {
                    builder = builder.with_config(key, value);
                }
            }
            for (key, value) in keys {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(|e| fail(e.to_string()))?)
        }
        ObjectStoreScheme::GoogleCloudStorage => {
            use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
            let mut builder = GoogleCloudStorageBuilder::from_env().with_url(url);
            for (key, value) in parse_keys::<GoogleConfigKey>(options, "GCS").map_err(fail)? {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(|e| fail(e.to_string()))?)
        }
        ObjectStoreScheme::MicrosoftAzure => {
            use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
            let mut builder = MicrosoftAzureBuilder::from_env().with_url(url);
            for (key, value) in parse_keys::<AzureConfigKey>(options, "Azure").map_err(fail)? {
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(|e| fail(e.to_string()))?)
        }
        other => {
            return Err(fail(format!(
                "{other:?} URLs are not supported (s3://, gs://, az://, file:// are)"
            )));
        }
    };
    Ok(Location {
        url: url.to_string(),
        store,
        prefix,
    })
}

/// The `[storage]` options as the store's config keys; an unknown key is
/// refused by name (`object_store` itself would ignore it silently).
fn parse_keys<K: std::str::FromStr>(
    options: &StorageOptions,
    provider: &str,
) -> Result<Vec<(K, String)>, String> {
    options
        .iter()
        .map(|(key, value)| {
            key.to_ascii_lowercase()
                .parse::<K>()
                .map(|k| (k, value.clone()))
                .map_err(|_| {
                    format!("key `storage.{key}` is not an option of {provider} object storage (see docs/storage.md)")
                })
        })
        .collect()
}

/// Keys from the shared credentials file's profile (`AWS_PROFILE`, else
/// `default`), and the region from the shared config file: the part of the
/// AWS credential chain `object_store` does not read itself.
fn shared_profile() -> Vec<(object_store::aws::AmazonS3ConfigKey, String)> {
    use object_store::aws::AmazonS3ConfigKey as Key;
    let home = std::env::var_os("HOME").map(std::path::PathBuf::from);
    let file = |variable: &str, default: &str| {
        std::env::var_os(variable)
            .map(std::path::PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(default)))
            .and_then(|p| std::fs::read_to_string(p).ok())
    };
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".to_string());
    let mut keys = Vec::new();
    if let Some(text) = file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") {
        let section = ini_section(&text, &profile);
        for (name, key) in [
            ("aws_access_key_id", Key::AccessKeyId),
            ("aws_secret_access_key", Key::SecretAccessKey),
            ("aws_session_token", Key::Token),
        ] {
            if let Some(value) = section.get(name) {
                keys.push((key, value.clone()));
            }
        }
    }
    if std::env::var_os("AWS_REGION").is_none()
        && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        && let Some(text) = file("AWS_CONFIG_FILE", ".aws/config")
    {
        // The config file names profiles `[profile NAME]`, but `[default]`.
        let name = match profile.as_str() {
            "default" => profile.clone(),
            other => format!("profile {other}"),
        };
        if let Some(region) = ini_section(&text, &name).get("region") {
            keys.push((Key::Region, region.clone()));
        }
    }
    keys
}

/// The `key = value` lines of `[section]` in an INI text.
fn ini_section(text: &str, section: &str) -> BTreeMap<String, String> {
    let mut inside = false;
    let mut found = BTreeMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if inside && let Some((key, value)) = line.split_once('=') {
            found.insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    found
}

/// Runs `future` on the storage runtime, blocking the calling thread (the
/// pipeline is synchronous; uploads spawned on it run on its workers).
pub fn block_on<F: Future>(future: F) -> F::Output {
    runtime().block_on(future)
}

/// The storage runtime: two workers, so parts of an upload go out while
/// the pipeline goes on writing.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-storage")
            .enable_all()
            .build()
            .expect("a tokio runtime for object storage")
    })
}

/// Whether a failed request may succeed if tried again: the service or the
/// network failed, not the request (a missing bucket or key, a refused
/// credential, a bad path never will).
pub fn retryable(error: &object_store::Error) -> bool {
    !matches!(
        error,
        object_store::Error::NotFound { .. }
            | object_store::Error::InvalidPath { .. }
            | object_store::Error::NotSupported { .. }
            | object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::UnknownConfigurationKey { .. }
            | object_store::Error::NotImplemented { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_profile_section_of_an_ini_file() {
        let text = "[default]\naws_access_key_id = A\n\n[profile dev]\nregion=eu-west-1\n[other]\nregion = x\n";
        assert_eq!(ini_section(text, "default")["aws_access_key_id"], "A");
        assert_eq!(ini_section(text, "profile dev")["region"], "eu-west-1");
        assert!(ini_section(text, "missing").is_empty());
    }

    #[test]
    fn refuses_an_option_the_store_does_not_have() {
        let options: StorageOptions = [("endpointt".to_string(), "x".to_string())].into();
        let error = open("s3://bucket/prefix", &options)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("`storage.endpointt`"), "{error}");
        let options: StorageOptions = [
            ("endpoint".to_string(), "http://127.0.0.1:1".to_string()),
            ("allow_http".to_string(), "true".to_string()),
            ("region".to_string(), "us-east-1".to_string()),
        ]
        .into();
        let location = open("s3://bucket/a/b/", &options).unwrap();
        assert_eq!(location.prefix.as_ref(), "a/b");
        assert_eq!(
            location.url_of(&child(&location.prefix, "c/d.csv")),
            "s3://bucket/a/b/c/d.csv"
        );
        assert_eq!(
            child(&location.prefix, "k=a%2Fb c/x").as_ref(),
            "a/b/k=a%2Fb c/x"
        );
    }
}

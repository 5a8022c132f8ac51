//! The Confluent-compatible schema registry, through
//! `schema_registry_converter`'s async client (reqwest with rustls, which
//! the object-store client already builds) on a small current-thread tokio
//! runtime: the host is synchronous and blocks here. Schemas by id are
//! cached (an id never changes its schema); a subject's latest version,
//! every version of a subject (for the compatibility check), registering.
//! Basic auth, and a CA file for an `https` registry with a private CA.
//! A registry that does not answer is retried for `patience_ms`.

use crate::config::kafka::RegistryConfig;
use schema_registry_converter::async_impl::schema_registry::{self as sr, SrSettings};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry answered: the schema or subject is not there.
    #[error("the schema registry {url} has no {what}")]
    NotFound { url: String, what: String },
    /// The registry could not be reached or failed; a retry may help.
    #[error("the schema registry {url} did not answer for {what}: {reason}")]
    Unavailable {
        url: String,
        what: String,
        reason: String,
    },
    /// The registry answered something this client cannot use.
    #[error("the schema registry {url} refused {what}: {reason}")]
    Refused {
        url: String,
        what: String,
        reason: String,
    },
    #[error("registry settings: {0}")]
    Config(String),
}

/// One registered version of a subject.
#[derive(Debug, Clone)]
pub struct Version {
    pub version: u32,
    pub id: u32,
    pub schema: String,
}

pub struct Registry {
    url: String,
    settings: SrSettings,
    runtime: tokio::runtime::Runtime,
    patience: Duration,
    by_id: Mutex<HashMap<u32, String>>,
}

/// How long one request may take before it counts as unanswered.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

impl Registry {
    pub fn new(config: &RegistryConfig) -> Result<Registry, RegistryError> {
        let url = config.url.trim_end_matches('/').to_string();
        let mut builder = SrSettings::new_builder(url.clone());
        builder.set_timeout(REQUEST_TIMEOUT);
        match (&config.username, &config.password) {
            (Some(user), password) => {
                builder.set_basic_authorization(user, password.as_deref());
            }
            (None, Some(_)) => {
                return Err(RegistryError::Config(
                    "a password without a username".to_string(),
                ));
            }
            (None, None) => {}
        }
        let mut client = reqwest::Client::builder();
        if let Some(ca) = &config.ca_location {
            let pem = std::fs::read(ca).map_err(|e| {
                RegistryError::Config(format!("cannot read ca_location {}: {e}", ca.display()))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| RegistryError::Config(format!("{}: {e}", ca.display())))?;
            if certs.is_empty() {
                return Err(RegistryError::Config(format!(
                    "ca_location {} holds no PEM certificate",
                    ca.display()
                )));
            }
            // Trusted beside the system's roots.
            client = client.tls_certs_merge(certs);
        }
        let settings = builder
            .build_with(client)
            .map_err(|e| RegistryError::Config(describe(&e)))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Config(format!("cannot start the HTTP client: {e}")))?;
        Ok(Registry {
            url,
            settings,
            runtime,
            patience: Duration::from_millis(config.patience_ms),
            by_id: Mutex::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The schema registered under `id`.
    pub fn schema_by_id(&self, id: u32) -> Result<String, RegistryError> {
        if let Some(schema) = self.by_id.lock().expect("not poisoned").get(&id) {
            return Ok(schema.clone());
        }
        let what = format!("schema id {id}");
        let found = self.call(&what, || sr::get_schema_by_id(id, &self.settings))?;
        let schema = self.avro(found.schema_type, found.schema, &what)?;
        self.remember(id, &schema);
        Ok(schema)
    }

    /// The latest version of `subject`: its id and schema.
    pub fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let what = format!("subject {subject:?}");
        let found = self.call(&what, || {
            sr::get_schema_by_subject_and_version(&self.settings, subject, None)
        })?;
        let schema = self.avro(found.schema_type, found.schema, &what)?;
        self.remember(found.id, &schema);
        Ok((found.id, schema))
    }

    /// Every version registered under `subject`, oldest first.
    pub fn versions(&self, subject: &str) -> Result<Vec<Version>, RegistryError> {
        let what = format!("the versions of subject {subject:?}");
        let numbers = self.call(&what, || {
            sr::get_all_versions(&self.settings, subject.to_string())
        })?;
        let mut versions = Vec::with_capacity(numbers.len());
        for version in numbers {
            let what = format!("version {version} of subject {subject:?}");
            let found = self.call(&what, || {
                sr::get_schema_by_subject_and_version(&self.settings, subject, Some(version))
            })?;
            let schema = self.avro(found.schema_type, found.schema, &what)?;
            self.remember(found.id, &schema);
            versions.push(Version {
                version,
                id: found.id,
                schema,
            });
        }
        Ok(versions)
    }

    /// Registers `schema` under `subject` (or finds it there); its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let what = format!("registering a schema under {subject:?}");
        let registered = self.call(&what, || {
            sr::post_schema(
                &self.settings,
                subject.to_string(),
                SuppliedSchema::new(None, SchemaType::Avro, schema.to_string()),
            )
        })?;
        self.remember(registered.id, schema);
        Ok(registered.id)
    }

    fn remember(&self, id: u32, schema: &str) {
        self.by_id
            .lock()
            .expect("not poisoned")
            .insert(id, schema.to_string());
    }

    fn avro(&self, kind: SchemaType, schema: String, what: &str) -> Result<String, RegistryError> {
        match kind {
            SchemaType::Avro => Ok(schema),
            other => Err(RegistryError::Refused {
                url: self.url.clone(),
                what: what.to_string(),
                reason: format!("a {other:?} schema, not Avro"),
            }),
        }
    }

    /// One request, retried with backoff while the registry is unavailable
    /// (connection refused, timeouts, 5xx), for up to `patience`.
    fn call<T, F: Future<Output = Result<T, SRCError>>>(
        &self,
        what: &str,
        request: impl Fn() -> F,
    ) -> Result<T, RegistryError> {
        let deadline = Instant::now() + self.patience;
        let mut backoff = Duration::from_millis(100);
        loop {
            let e = match self.runtime.block_on(request()) {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let status = http_status(&e);
            let reason = match status {
                Some(status) => format!("HTTP {status}: {}", e.cause.as_deref().unwrap_or("")),
                None => describe(&e),
            };
            if status == Some(404) {
                return Err(RegistryError::NotFound {
                    url: self.url.clone(),
                    what: what.to_string(),
                });
            }
            let retry = e.retriable || status.is_some_and(|s| s >= 500);
            if !retry {
                return Err(RegistryError::Refused {
                    url: self.url.clone(),
                    what: what.to_string(),
                    reason,
                });
            }
            if Instant::now() + backoff > deadline {
                return Err(RegistryError::Unavailable {
                    url: self.url.clone(),
                    what: what.to_string(),
                    reason,
                });
            }
            tracing::warn!(registry = %self.url, %what, %reason, retry_in_ms = backoff.as_millis() as u64, "The schema registry is unavailable; waiting.");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// The HTTP status the registry answered with, if it answered.
fn http_status(e: &SRCError) -> Option<u16> {
    let rest = e.error.split("failed with status ").nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The error and every cause under it (reqwest's own message hides the
/// TLS or connection error that matters).
fn describe(e: &SRCError) -> String {
    let mut text = e.error.clone();
    if let Some(cause) = &e.cause {
        text.push_str(": ");
        text.push_str(cause);
    }
    let mut source = std::error::Error::source(e).and_then(std::error::Error::source);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_is_read_from_the_clients_error() {
        let e = SRCError::non_retryable_with_cause(
            "Unauthorized",
            "HTTP request to schema registry failed with status 401 Unauthorized",
        );
        assert_eq!(http_status(&e), Some(401));
        let e = SRCError::new("http call to schema registry failed", None, true);
        assert_eq!(http_status(&e), None);
    }
}

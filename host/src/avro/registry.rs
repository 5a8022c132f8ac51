//! A client of the Confluent Schema Registry API (the subset weir needs):
//! schemas by id (cached: an id never changes its schema), a subject's
//! latest version, and registering a schema. Basic auth and a custom CA.

use crate::config::kafka::RegistryConfig;
use std::collections::HashMap;
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

pub struct Registry {
    url: String,
    agent: ureq::Agent,
    auth: Option<String>,
    patience: Duration,
    by_id: Mutex<HashMap<u32, String>>,
}

impl Registry {
    pub fn new(config: &RegistryConfig) -> Result<Registry, RegistryError> {
        let mut builder = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false);
        let mut tls = ureq::tls::TlsConfig::builder().provider(ureq::tls::TlsProvider::NativeTls);
        if let Some(ca) = &config.ca_location {
            let pem = std::fs::read(ca).map_err(|e| {
                RegistryError::Config(format!("cannot read ca_location {}: {e}", ca.display()))
            })?;
            let certs = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| RegistryError::Config(format!("{}: {e}", ca.display())))?;
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        builder = builder.tls_config(tls.build());
        let auth = match (&config.username, &config.password) {
            (Some(user), password) => Some(format!(
                "Basic {}",
                base64(format!("{user}:{}", password.as_deref().unwrap_or("")).as_bytes())
            )),
            (None, Some(_)) => {
                return Err(RegistryError::Config(
                    "a password without a username".to_string(),
                ));
            }
            (None, None) => None,
        };
        Ok(Registry {
            url: config.url.trim_end_matches('/').to_string(),
            agent: builder.build().into(),
            auth,
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
        let body = self.get(&format!("/schemas/ids/{id}"), &what)?;
        let schema = schema_answer(&body).map_err(|e| self.refused(&what, &e))?;
        self.by_id
            .lock()
            .expect("not poisoned")
            .insert(id, schema.clone());
        Ok(schema)
    }

    /// The latest version of `subject`: its id and schema.
    pub fn latest(&self, subject: &str) -> Result<(u32, String), RegistryError> {
        let what = format!("subject {subject:?}");
        let body = self.get(&format!("/subjects/{subject}/versions/latest"), &what)?;
        let (id, schema) = latest_answer(&body).map_err(|e| self.refused(&what, &e))?;
        self.by_id
            .lock()
            .expect("not poisoned")
            .insert(id, schema.clone());
        Ok((id, schema))
    }

    /// Registers `schema` under `subject` (or finds it there); its id.
    pub fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let what = format!("registering a schema under {subject:?}");
        let body = serde_json::json!({ "schema": schema });
        let answer = self.call(&what, || {
            let mut request = self
                .agent
                .post(format!("{}/subjects/{subject}/versions", self.url))
                .header("Content-Type", "application/vnd.schemaregistry.v1+json");
            if let Some(auth) = &self.auth {
                request = request.header("Authorization", auth);
            }
            request.send_json(&body)
        })?;
        let id = id_of(&answer).map_err(|e| self.refused(&what, &e))?;
        self.by_id
            .lock()
            .expect("not poisoned")
            .insert(id, schema.to_string());
        Ok(id)
    }

    fn get(&self, path: &str, what: &str) -> Result<serde_json::Value, RegistryError> {
        self.call(what, || {
            let mut request = self.agent.get(format!("{}{path}", self.url));
            if let Some(auth) = &self.auth {
                request = request.header("Authorization", auth);
            }
            request.call()
        })
    }

    /// One request, retried with backoff while the registry is unavailable
    /// (connection refused, timeouts, 5xx), for up to `patience`.
    fn call(
        &self,
        what: &str,
        send: impl Fn() -> Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<serde_json::Value, RegistryError> {
        let deadline = Instant::now() + self.patience;
        let mut backoff = Duration::from_millis(100);
        loop {
            let reason = match send() {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let text = response.body_mut().read_to_string().unwrap_or_default();
                    match status {
                        200..=299 => {
                            return parse_answer(&text).map_err(|e| self.refused(what, &e));
                        }
                        404 => {
                            return Err(RegistryError::NotFound {
                                url: self.url.clone(),
                                what: what.to_string(),
                            });
                        }
                        500..=599 => format!("HTTP {status}: {text}"),
                        _ => return Err(self.refused(what, &format!("HTTP {status}: {text}"))),
                    }
                }
                Err(e) => e.to_string(),
            };
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

    fn refused(&self, what: &str, reason: &str) -> RegistryError {
        RegistryError::Refused {
            url: self.url.clone(),
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// A 2xx answer's body as JSON.
pub fn parse_answer(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))
}

/// The Avro schema in an answer to `/schemas/ids/{id}` or a subject's version.
pub fn schema_answer(body: &serde_json::Value) -> Result<String, String> {
    if let Some(kind) = body["schemaType"].as_str()
        && kind != "AVRO"
    {
        return Err(format!("a {kind} schema, not Avro"));
    }
    body["schema"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "no schema in the answer".to_string())
}

/// The id and schema in an answer to `/subjects/{subject}/versions/latest`.
pub fn latest_answer(body: &serde_json::Value) -> Result<(u32, String), String> {
    Ok((id_of(body)?, schema_answer(body)?))
}

/// A schema id, which the wire format holds in 4 bytes: a larger one is
/// refused rather than cut down to another schema's id.
pub fn id_of(body: &serde_json::Value) -> Result<u32, String> {
    let id = body["id"].as_u64().ok_or("no id")?;
    u32::try_from(id).map_err(|_| format!("schema id {id} does not fit the wire format's 4 bytes"))
}

/// Standard base64 with padding, for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(super::base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(super::base64(b"ab"), "YWI=");
        assert_eq!(super::base64(b"a"), "YQ==");
    }
}

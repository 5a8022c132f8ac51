//! Connecting a sink's granted connections: one try at a time with a
//! doubling backoff between tries (a database that is still starting is
//! waited for, within the pipeline's limit), URLs shown without their
//! password, and a failure that says whether a later retry can help.

use super::ConnectionSpec;
use crate::error::{Classified, ErrorDomain, Retry};
use std::time::Duration;

/// The longest wait between two tries, however many there were.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A connection that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("connection `{connection}` ({url}): {message}")]
pub struct ConnectError {
    pub connection: String,
    /// The URL without its password.
    pub url: String,
    pub message: String,
    retry: Retry,
}

impl ConnectError {
    /// A connection that can never work as written: a bad URL, refused
    /// credentials, a database that does not exist.
    pub fn refused(spec: &ConnectionSpec, message: impl Into<String>) -> Self {
        ConnectError {
            connection: spec.name.clone(),
            url: redact(&spec.url),
            message: message.into(),
            retry: Retry::Useless,
        }
    }

    /// The sink's object-store directory could not be listed.
    pub fn storage(url: &str, message: String, retryable: bool) -> Self {
        ConnectError {
            connection: "directory".to_string(),
            url: url.to_string(),
            message,
            retry: if retryable {
                Retry::Helps
            } else {
                Retry::Useless
            },
        }
    }

    /// A service that could not be reached, which may come back.
    pub fn unreachable(spec: &ConnectionSpec, message: impl Into<String>) -> Self {
        ConnectError {
            retry: Retry::Helps,
            ..ConnectError::refused(spec, message)
        }
    }
}

impl Classified for ConnectError {
    fn domain(&self) -> ErrorDomain {
        match self.retry {
            Retry::Helps => ErrorDomain::External,
            Retry::Useless => ErrorDomain::User,
        }
    }
    fn retry(&self) -> Retry {
        self.retry
    }
}

/// How one try at connecting failed.
pub enum Attempt {
    /// Trying again cannot help (see [`ConnectError::refused`]).
    Refused(String),
    /// The service is not there yet; try again after a while.
    Unreachable(String),
}

/// Connects with `once`, trying `spec.attempts` times with a doubling
/// backoff from `spec.backoff`.
pub fn with_backoff<T>(
    sink: &str,
    spec: &ConnectionSpec,
    mut once: impl FnMut() -> Result<T, Attempt>,
) -> Result<T, ConnectError> {
    let mut delay = spec.backoff;
    let mut attempt = 1;
    loop {
        match once() {
            Ok(connection) => return Ok(connection),
            Err(Attempt::Refused(message)) => return Err(ConnectError::refused(spec, message)),
            Err(Attempt::Unreachable(e)) if attempt >= spec.attempts => {
                return Err(ConnectError::unreachable(
                    spec,
                    format!("cannot connect after {attempt} attempts: {e}"),
                ));
            }
            Err(Attempt::Unreachable(e)) => {
                tracing::warn!(sink, connection = %spec.name, attempt, error = %e, "Cannot connect yet; retrying.");
                std::thread::sleep(delay);
                delay = (delay * 2).min(MAX_BACKOFF);
                attempt += 1;
            }
        }
    }
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(attempts: u32) -> ConnectionSpec {
        ConnectionSpec {
            name: "db".into(),
            url: "postgres://weir:secret@db:5432/x".into(),
            attempts,
            backoff: Duration::ZERO,
            properties: Default::default(),
            registry: None,
        }
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            redact("postgres://weir:secret@db:5432/x"),
            "postgres://weir:***@db:5432/x"
        );
        assert_eq!(redact("sqlite://out/x.db"), "sqlite://out/x.db");
    }

    #[test]
    fn an_unreachable_service_is_tried_again_and_may_be_retried_later() {
        let mut tries = 0;
        let error = with_backoff("sink", &spec(3), || -> Result<(), _> {
            tries += 1;
            Err(Attempt::Unreachable("connection refused".into()))
        })
        .unwrap_err();
        assert_eq!(tries, 3);
        assert!(error.retryable());
        assert_eq!(error.domain(), ErrorDomain::External);
        assert_eq!(
            error.to_string(),
            "connection `db` (postgres://weir:***@db:5432/x): cannot connect after 3 attempts: \
             connection refused"
        );
    }

    #[test]
    fn a_refused_connection_is_not_tried_again() {
        let mut tries = 0;
        let error = with_backoff("sink", &spec(5), || -> Result<(), _> {
            tries += 1;
            Err(Attempt::Refused("password authentication failed".into()))
        })
        .unwrap_err();
        assert_eq!(tries, 1);
        assert!(!error.retryable());
        assert_eq!(error.domain(), ErrorDomain::User);
    }
}

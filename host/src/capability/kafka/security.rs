//! Reaching the brokers at start, with security settings that can be
//! wrong: librdkafka retries a failed TLS handshake or SASL login forever,
//! as if the broker were down, so a wrong `ssl.ca.location` would look like
//! a hang and then a timeout. Its log lines (served when the client is
//! polled, which the wait for metadata does) are collected here; one
//! that says the handshake or the login was refused ends the wait at once
//! with an error naming the setting and the broker. The Kafka source's
//! consumer and the sinks' and dead-letter's producers share it.

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::metadata::Metadata;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// librdkafka's error log lines that say the security settings are wrong
/// (not that the broker is down), as they arrive.
#[derive(Default)]
pub struct SecurityRefusals {
    first: Mutex<Option<String>>,
}

impl SecurityRefusals {
    /// Notes `line` if it is a refusal.
    pub fn note(&self, line: &str) {
        if is_refusal(line) {
            self.first
                .lock()
                .expect("not poisoned")
                .get_or_insert_with(|| line.to_string());
        }
    }

    pub fn first(&self) -> Option<String> {
        self.first.lock().expect("not poisoned").clone()
    }
}

/// Handshake and login failures: retrying the same settings cannot mend them.
fn is_refusal(line: &str) -> bool {
    // Not every "SSL handshake failed": one cut short by a broker going
    // away is waited for like any disconnection.
    const SIGNS: [&str; 10] = [
        "certificate verify failed",
        "certificate required",
        "alert bad certificate",
        "alert unknown ca",
        "alert handshake failure",
        "wrong version number",
        "SASL authentication error",
        "Authentication failed",
        "Unsupported SASL mechanism",
        "mechanism handshake failed",
    ];
    SIGNS.iter().any(|s| line.contains(s))
}

/// What a refusal means in the pipeline's terms: which property to look at.
pub(crate) fn explain(line: &str, brokers: &str, properties: &BTreeMap<String, String>) -> String {
    let property = |key: &str| {
        properties.get(key).map_or_else(
            || format!("`{key}` (not set)"),
            |v| format!("`{key}` ({v})"),
        )
    };
    let advice = if line.contains("certificate verify failed") {
        format!(
            "the broker's certificate is not signed by a certificate authority in {}",
            property("ssl.ca.location")
        )
    } else if line.contains("certificate required")
        || line.contains("alert bad certificate")
        || line.contains("alert unknown ca")
    {
        format!(
            "the broker requires a client certificate it trusts (mutual TLS): see {} and {}",
            property("ssl.certificate.location"),
            property("ssl.key.location")
        )
    } else if line.contains("wrong version number") {
        format!(
            "the broker does not speak TLS on that port: see {}",
            property("security.protocol")
        )
    } else if line.contains("alert handshake failure") {
        format!(
            "the broker refused the TLS handshake: see {} and the broker's TLS settings",
            property("ssl.ca.location")
        )
    } else if line.contains("mechanism handshake failed")
        || line.contains("Unsupported SASL mechanism")
    {
        format!(
            "the broker does not offer the SASL mechanism {}",
            property("sasl.mechanism")
        )
    } else {
        format!(
            "the SASL login was refused: see {}, `sasl.username` and `sasl.password`",
            property("sasl.mechanism")
        )
    };
    format!("kafka: cannot connect to {brokers}: {advice} (librdkafka: {line})")
}

/// Records librdkafka's error log lines for [`metadata`] and logs every
/// line as librdkafka's default context does.
pub fn log(refusals: &SecurityRefusals, level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => {
            refusals.note(message);
            tracing::error!(target: "librdkafka", "librdkafka: {fac} {message}");
        }
        RDKafkaLogLevel::Warning => {
            tracing::warn!(target: "librdkafka", "librdkafka: {fac} {message}")
        }
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "librdkafka: {fac} {message}")
        }
        RDKafkaLogLevel::Debug => {
            tracing::debug!(target: "librdkafka", "librdkafka: {fac} {message}")
        }
    }
}

/// A context that keeps its client's refusals.
pub trait Refusals: ClientContext {
    fn refusals(&self) -> &SecurityRefusals;
}

/// The cluster's metadata, waiting up to `timeout` for the brokers; a
/// refused handshake or login fails at once.
pub fn metadata<C: ConsumerContext + Refusals>(
    consumer: &BaseConsumer<C>,
    brokers: &str,
    properties: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<Metadata, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let result = consumer.fetch_metadata(None, left.min(Duration::from_millis(250)));
        // rdkafka queues librdkafka's log lines until the client is polled;
        // before the subscription a poll serves only those (and errors).
        let _ = consumer.poll(Duration::ZERO);
        if let Some(line) = consumer.context().refusals().first() {
            return Err(explain(&line, brokers, properties));
        }
        match result {
            Ok(metadata) => return Ok(metadata),
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "kafka: cannot reach the brokers {brokers} within {} s: {e}",
                    timeout.as_secs_f64()
                ));
            }
            Err(_) => {}
        }
    }
}

/// A client that librdkafka would not create, with the file named when a
/// file property was the cause (librdkafka says "ssl.key.location failed"
/// without the path).
pub(crate) fn creation_error(
    e: &rdkafka::error::KafkaError,
    properties: &BTreeMap<String, String>,
) -> String {
    let text = e.to_string();
    let file = properties
        .iter()
        .find(|(key, _)| key.ends_with(".location") && text.contains(&format!("{key} failed")));
    match file {
        Some((key, path)) => format!("kafka: cannot use {path} (`{key}`): {text}"),
        None => format!("kafka: {text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_the_ca_does_not_sign_names_ssl_ca_location() {
        let line = "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL \
                    routines::certificate verify failed: broker certificate could not be verified";
        let refusals = SecurityRefusals::default();
        refusals.note("Connect to ipv4#127.0.0.1:9093 failed: Connection refused");
        assert_eq!(
            refusals.first(),
            None,
            "a broker that is down is waited for"
        );
        refusals.note(line);
        let properties = BTreeMap::from([("ssl.ca.location".into(), "/etc/ca.pem".into())]);
        let e = explain(&refusals.first().unwrap(), "127.0.0.1:9093", &properties);
        assert!(
            e.starts_with("kafka: cannot connect to 127.0.0.1:9093: the broker's certificate is not signed by a certificate authority in `ssl.ca.location` (/etc/ca.pem)"),
            "{e}"
        );
    }
}

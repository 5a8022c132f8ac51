//! Where dead letters go: standard error (the default), a JSON Lines
//! file, or a Kafka topic through a connection from `[connections]`.

use super::ConnectionConfig;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum DeadLetterConfig {
    /// JSON Lines on standard error (the default: never silent).
    #[default]
    Stderr,
    Jsonl {
        path: PathBuf,
    },
    /// One JSON record per dead letter on a Kafka topic, through a
    /// `kafka://` connection from `[connections]`, as the sinks use them.
    Kafka {
        connection: Option<String>,
        topic: String,
        /// The brokers and producer properties: set from `connection` when
        /// the file is loaded. Written here, they are the older inline form
        /// (still read, with a warning).
        #[serde(default)]
        brokers: String,
        #[serde(default)]
        properties: std::collections::BTreeMap<String, String>,
        /// `at-least-once`, or `exactly-once`: each epoch's letters in a
        /// transaction, committed with the epoch (needs `[checkpoint]`).
        #[serde(default)]
        delivery: Delivery,
    },
}

/// How a Kafka dead-letter's records are delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Delivery {
    #[default]
    AtLeastOnce,
    ExactlyOnce,
}

impl DeadLetterConfig {
    /// Fills a Kafka dead-letter's brokers and properties from its
    /// connection (errors start with the key, after `dead_letter.`).
    pub(super) fn resolve_connection(
        &mut self,
        declared: &std::collections::BTreeMap<String, ConnectionConfig>,
    ) -> Result<(), String> {
        let DeadLetterConfig::Kafka {
            connection,
            brokers,
            properties,
            ..
        } = self
        else {
            return Ok(());
        };
        let Some(name) = connection else {
            if brokers.is_empty() {
                return Err(
                    "connection`: a Kafka dead-letter names a `kafka://` connection \
                     from [connections]: connection = \"NAME\""
                        .to_string(),
                );
            }
            tracing::warn!(
                "`dead_letter.brokers` is deprecated: declare [connections.NAME] with \
                 url = \"kafka://BROKERS\" and set dead_letter.connection = \"NAME\"."
            );
            return Ok(());
        };
        if !brokers.is_empty() || !properties.is_empty() {
            return Err(
                "connection`: give either `connection` or the older `brokers` \
                 (and `properties`), not both; properties go in the connection"
                    .to_string(),
            );
        }
        let known = || declared.keys().cloned().collect::<Vec<_>>().join(", ");
        let c = declared.get(name.as_str()).ok_or_else(|| {
            format!(
                "connection`: no connection {name:?} is declared in [connections] (declared: {})",
                if declared.is_empty() {
                    "none".to_string()
                } else {
                    known()
                }
            )
        })?;
        let Some(list) = c
            .url
            .strip_prefix("kafka://")
            .map(|b| b.trim_end_matches('/'))
        else {
            return Err(format!(
                "connection`: connection {name:?} is not a Kafka connection (its url must start \
                 with kafka://)"
            ));
        };
        *brokers = list.to_string();
        *properties = c.properties.clone();
        Ok(())
    }
}

//! `[storage]`: options for every object-store URL in the pipeline (the
//! files source, file sinks, checkpoints), as `object_store` names them:
//! `endpoint`, `region`, `access_key_id`, `secret_access_key` (with
//! `${ENV}` for secrets), `allow_http`, `timeout`, … Values may be written
//! as TOML strings, booleans or numbers; each is passed on as text.

use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// Option name → value, as text.
pub type StorageOptions = BTreeMap<String, String>;

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<StorageOptions, D::Error> {
    let table = BTreeMap::<String, toml::Value>::deserialize(d)?;
    table
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "storage.{key}: a string, boolean or number, not {}",
                        other.type_str()
                    )));
                }
            };
            Ok((key, text))
        })
        .collect()
}

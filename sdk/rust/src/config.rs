//! The `config` table of a transform's pipeline entry, as text values.

use crate::Error;
use std::str::FromStr;

/// Settings from the pipeline file. Values arrive as text; [`Config::get`]
/// parses them, naming the key when a value does not parse.
#[derive(Debug, Clone, Default)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// The raw text of `key`, if it is set.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `key` parsed as a `T`, or `default` if it is not set.
    pub fn get<T: FromStr>(&self, key: &str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.text(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|e| Error::new(format!("config key `{key}`: cannot use {text:?}: {e}"))),
        }
    }

    /// `key` parsed as a `T`; an error if it is not set.
    pub fn require<T: FromStr>(&self, key: &str) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        let text = self
            .text(key)
            .ok_or_else(|| Error::new(format!("config key `{key}` is required")))?;
        text.parse()
            .map_err(|e| Error::new(format!("config key `{key}`: cannot use {text:?}: {e}")))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }
}

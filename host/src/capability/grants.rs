//! The connections granted to one sink, by name: a call naming any other
//! is refused with the names it may use, and a connection that failed (not
//! a statement: the service went away) is remembered as an outage, so the
//! host retries the epoch later instead of dead-lettering good rows.

use super::ConnectionSpec;
use super::connect::ConnectError;
use std::collections::BTreeMap;

/// A granted connection of one capability (sql, cql or kafka).
pub trait Connection {
    /// Why the connection was lost, if it was.
    fn lost(&self) -> Option<&str>;
}

/// Where a connection remembers that it was lost.
#[derive(Debug, Default)]
pub struct Outage(Option<String>);

impl Outage {
    /// Passes `result` through, remembering its error if `is_lost` says
    /// the connection (not the statement) failed.
    pub fn note<R, E: std::fmt::Display>(
        &mut self,
        result: Result<R, E>,
        is_lost: impl FnOnce(&E) -> bool,
    ) -> Result<R, E> {
        if let Err(e) = &result
            && is_lost(e)
        {
            self.0 = Some(e.to_string());
        }
        result
    }

    pub fn reason(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// One sink's connections of one capability.
pub struct Grants<T> {
    sink: String,
    connections: BTreeMap<String, T>,
}

impl<T> Grants<T> {
    /// Opens every connection in `specs` with `open`; the first that fails
    /// fails them all.
    pub fn connect(
        sink: &str,
        specs: &[ConnectionSpec],
        mut open: impl FnMut(&ConnectionSpec) -> Result<T, ConnectError>,
    ) -> Result<Self, ConnectError> {
        let mut connections = BTreeMap::new();
        for spec in specs {
            connections.insert(spec.name.clone(), open(spec)?);
        }
        Ok(Grants {
            sink: sink.to_string(),
            connections,
        })
    }

    /// The connection `name`, if it is granted to the sink.
    pub fn get(&mut self, name: &str) -> Result<&mut T, String> {
        if !self.connections.contains_key(name) {
            return Err(self.not_granted(name));
        }
        Ok(self.connections.get_mut(name).expect("checked above"))
    }

    /// The connection `name`, if it is granted, for reading.
    pub fn get_ref(&self, name: &str) -> Result<&T, String> {
        self.connections
            .get(name)
            .ok_or_else(|| self.not_granted(name))
    }

    pub fn is_empty(&self) -> bool {
        self.connections.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.connections.values()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.connections.values_mut()
    }

    /// Drops every connection.
    pub fn clear(&mut self) {
        self.connections.clear();
    }

    /// The error for a connection the sink was not granted, naming the ones it was.
    fn not_granted(&self, name: &str) -> String {
        let granted: Vec<&str> = self.connections.keys().map(String::as_str).collect();
        format!(
            "connection `{name}` is not granted to sink `{}` (granted: {}); list it in the \
             sink's `connections`",
            self.sink,
            if granted.is_empty() {
                "none".to_string()
            } else {
                granted.join(", ")
            }
        )
    }
}

impl<T: Connection> Grants<T> {
    /// The first connection that was lost, and why.
    pub fn outage(&self) -> Option<String> {
        self.connections.iter().find_map(|(name, c)| {
            c.lost()
                .map(|reason| format!("connection `{name}`: {reason}"))
        })
    }
}

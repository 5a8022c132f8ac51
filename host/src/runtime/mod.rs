//! The plugin runtime: a wasmtime engine, the precompiled-component cache,
//! the host capabilities plugins import, and running transforms.

mod builds;
mod cache;
mod clock;
pub mod convert;
mod deadline;
mod engine;
pub mod inspect;
mod log;
pub mod lookup;
pub(crate) mod output;
mod reload;
mod selection;
pub mod sink;
mod state;
mod store;
pub mod transform;

pub use cache::ComponentCache;
pub use engine::{Runtime, StopRequested, stop_flag, stopping};
pub use inspect::{ContractVersion, PluginInfo, World};
pub use lookup::{Found, TableGrants, Tables};
pub use reload::{PROBATION_BATCHES, ReloadReport, ReloadRequest};
pub use selection::RowSelection;
pub use sink::{SinkOutcome, SinkPlugin, SinkSettings};
pub use transform::{
    BatchOutcome, PluginLimits, PluginSettings, PluginStats, PluginVersion, TransformPlugin,
};

/// A failure to load, link, initialise or call a plugin.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("sink `{plugin}` cannot write for now: {reason}")]
    Unavailable { plugin: String, reason: String },
    /// Another producer of the sink's transactional id took over: a retry
    /// would only fence it back.
    #[error("sink `{plugin}` was fenced: {reason}")]
    Fenced { plugin: String, reason: String },
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a WebAssembly file (it does not start with the `\\0asm` magic bytes)")]
    NotWasm { path: String },
    #[error(
        "{path} is a core WebAssembly module, not a component; build it for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`)"
    )]
    CoreModule { path: String },
    #[error("{path} is not a valid component: {reason}")]
    Invalid { path: String, reason: String },
    #[error(
        "{path} does not export the weir {world} interface ({interface}); it exports: {exports}"
    )]
    WrongWorld {
        path: String,
        world: &'static str,
        interface: &'static str,
        exports: String,
    },
    #[error(
        "{path} was built for weir:plugin@{plugin}, but this host speaks weir:plugin@{host}; \
         rebuild the plugin against a compatible SDK"
    )]
    IncompatibleVersion {
        path: String,
        plugin: String,
        host: String,
    },
    #[error("{path} cannot be linked: {reason}")]
    Link { path: String, reason: String },
    #[error("plugin `{plugin}`: {call} failed: {message}")]
    Refused {
        plugin: String,
        call: &'static str,
        message: String,
    },
    #[error("plugin `{plugin}` trapped in {call}: {reason}")]
    Trap {
        plugin: String,
        call: &'static str,
        reason: String,
    },
    #[error("plugin `{plugin}`: {message}")]
    Contract { plugin: String, message: String },
}

impl PluginError {
    /// The plugin the error is about, when it names one by its pipeline
    /// name (not its file).
    pub fn plugin(&self) -> Option<&str> {
        match self {
            PluginError::Unavailable { plugin, .. }
            | PluginError::Fenced { plugin, .. }
            | PluginError::Refused { plugin, .. }
            | PluginError::Trap { plugin, .. }
            | PluginError::Contract { plugin, .. } => Some(plugin),
            _ => None,
        }
    }
}

impl crate::error::Classified for PluginError {
    fn domain(&self) -> crate::error::ErrorDomain {
        use crate::error::ErrorDomain;
        match self {
            PluginError::Unavailable { .. } => ErrorDomain::External,
            // A sink refuses to end its epoch when its service does (COMMIT
            // failed, the brokers refused records).
            PluginError::Refused { call, .. } if ends_epoch(call) => ErrorDomain::External,
            // The plugin file, its build, or its code.
            PluginError::Read { .. }
            | PluginError::Fenced { .. }
            | PluginError::NotWasm { .. }
            | PluginError::CoreModule { .. }
            | PluginError::Invalid { .. }
            | PluginError::WrongWorld { .. }
            | PluginError::IncompatibleVersion { .. }
            | PluginError::Link { .. }
            | PluginError::Refused { .. }
            | PluginError::Trap { .. }
            | PluginError::Contract { .. } => ErrorDomain::User,
        }
    }

    fn retry(&self) -> crate::error::Retry {
        match self.domain() {
            crate::error::ErrorDomain::External => crate::error::Retry::Helps,
            _ => crate::error::Retry::Useless,
        }
    }
}

/// The sink calls that end an epoch, whose refusal is its service's.
fn ends_epoch(call: &str) -> bool {
    matches!(call, "pre-commit" | "commit")
}

//! What a component is before it runs: a component at all, of which world,
//! built for which version of the contract, importing and exporting what.

use super::PluginError;
use wasmtime::Engine;
use wasmtime::component::Component;

/// The name of the interface every transform exports, without its version.
pub const TRANSFORMER: &str = "weir:plugin/transformer";
/// The name of the interface every sink exports, without its version.
pub const SINK_WRITER: &str = "weir:plugin/sink-writer";

/// The kinds of plugin, by the world they are built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    Transform,
    Sink,
}

impl World {
    pub fn name(self) -> &'static str {
        match self {
            World::Transform => "transform",
            World::Sink => "sink",
        }
    }

    /// The interface the world exports, without its version.
    pub fn interface(self) -> &'static str {
        match self {
            World::Transform => TRANSFORMER,
            World::Sink => SINK_WRITER,
        }
    }

    /// The world whose interface a component exports, if any.
    fn of(exports: &[String]) -> Option<(World, &str)> {
        [World::Transform, World::Sink].into_iter().find_map(|w| {
            exports.iter().find_map(|e| {
                e.strip_prefix(w.interface())
                    .and_then(|v| v.strip_prefix('@'))
                    .map(|v| (w, v))
            })
        })
    }
}

/// A `weir:plugin` contract version (`MAJOR.MINOR.PATCH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContractVersion {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

impl ContractVersion {
    /// The version of the contract this host was built with, from wit/.
    pub fn host() -> ContractVersion {
        let wit = include_str!("../../../wit/world.wit");
        let version = wit
            .lines()
            .find_map(|l| l.trim().strip_prefix("package weir:plugin@"))
            .and_then(|v| v.strip_suffix(';'))
            .expect("wit/world.wit declares `package weir:plugin@VERSION;`");
        ContractVersion::parse(version).expect("wit/world.wit has a valid version")
    }

    pub fn parse(text: &str) -> Option<ContractVersion> {
        let mut parts = text.split('.').map(|p| p.parse::<u64>().ok());
        let version = ContractVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next()??,
        };
        parts.next().is_none().then_some(version)
    }

    /// Semver compatibility: same major, or for 0.x the same minor.
    pub fn is_compatible_with(&self, other: &ContractVersion) -> bool {
        if self.major == 0 || other.major == 0 {
            self.major == other.major && self.minor == other.minor
        } else {
            self.major == other.major
        }
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Refuses what is not a component before handing it to the compiler, whose
/// errors would not say what the file is.
pub fn check_header(path: &str, bytes: &[u8]) -> Result<(), PluginError> {
    if !bytes.starts_with(b"\0asm") {
        return Err(PluginError::NotWasm {
            path: path.to_string(),
        });
    }
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(PluginError::CoreModule {
            path: path.to_string(),
        });
    }
    Ok(())
}

/// Checks that the component exports the interface of `world` (or of any
/// world, if `None`) in a version compatible with this host.
pub fn check_contract(
    engine: &Engine,
    path: &str,
    component: &Component,
    world: impl Into<Option<World>>,
) -> Result<(World, ContractVersion), PluginError> {
    let expected = world.into();
    let exports = export_names(engine, component);
    let found = World::of(&exports).filter(|(w, _)| expected.is_none_or(|e| e == *w));
    let Some((found, version)) = found else {
        let shown = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        let expected = expected.unwrap_or(World::Transform);
        return Err(PluginError::WrongWorld {
            path: path.to_string(),
            world: expected.name(),
            interface: expected.interface(),
            exports: shown,
        });
    };
    let host = ContractVersion::host();
    match ContractVersion::parse(version) {
        Some(plugin) if plugin.is_compatible_with(&host) => Ok((found, plugin)),
        _ => Err(PluginError::IncompatibleVersion {
            path: path.to_string(),
            plugin: version.to_string(),
            host: host.to_string(),
        }),
    }
}

fn export_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

fn import_names(engine: &Engine, component: &Component) -> Vec<String> {
    component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// A summary of a plugin for `weir plugin inspect`.
#[derive(Debug, serde::Serialize)]
pub struct PluginInfo {
    pub path: String,
    pub world: World,
    pub contract_version: String,
    pub host_contract_version: String,
    pub content_hash: String,
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

impl PluginInfo {
    pub fn read(
        engine: &Engine,
        path: &str,
        bytes: &[u8],
        component: &Component,
    ) -> Result<Self, PluginError> {
        let (world, version) = check_contract(engine, path, component, None)?;
        Ok(PluginInfo {
            path: path.to_string(),
            world,
            contract_version: version.to_string(),
            host_contract_version: ContractVersion::host().to_string(),
            content_hash: super::cache::ComponentCache::key(engine, bytes),
            imports: import_names(engine, component),
            exports: export_names(engine, component),
        })
    }
}

/// A schema on one line, as `weir check` and reload errors show it:
/// `name TYPE[ NOT NULL], ...`.
pub fn show_schema(schema: &arrow::datatypes::Schema) -> String {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { "" } else { " NOT NULL" }
            )
        })
        .collect();
    columns.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> ContractVersion {
        ContractVersion::parse(text).unwrap()
    }

    #[test]
    fn compatibility_follows_semver() {
        assert!(v("0.1.0").is_compatible_with(&v("0.1.7")));
        assert!(
            !v("0.1.0").is_compatible_with(&v("0.2.0")),
            "0.x minors break"
        );
        assert!(v("1.2.0").is_compatible_with(&v("1.0.3")));
        assert!(!v("1.0.0").is_compatible_with(&v("2.0.0")));
        assert!(!v("0.1.0").is_compatible_with(&v("1.1.0")));
        assert!(
            ContractVersion::parse("1.0").is_none() && ContractVersion::parse("1.0.0.0").is_none()
        );
    }

    #[test]
    fn the_host_version_is_the_wit_package_version() {
        let wit = include_str!("../../../wit/world.wit");
        assert!(wit.contains(&format!("package weir:plugin@{};", ContractVersion::host())));
    }
}

//! What `weir --version` prints: weir's version, the plugin contract
//! version plugins must be built for, and the wasmtime that runs them.

use crate::runtime::ContractVersion;
use std::sync::OnceLock;

/// The lock file weir was built with: the one record of the exact wasmtime
/// release linked in (its crate exports only its major version).
const LOCK_FILE: &str = include_str!("../../../Cargo.lock");

/// "0.1.0\nplugin contract weir:plugin@0.1.1\nwasmtime 48.0.8" (clap puts
/// the program's name in front).
pub(super) fn text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        format!(
            "{}\nplugin contract weir:plugin@{}\nwasmtime {}",
            env!("CARGO_PKG_VERSION"),
            ContractVersion::host(),
            locked_version("wasmtime").unwrap_or("(unknown)")
        )
    })
}

/// The version of `package` in the lock file.
fn locked_version(package: &str) -> Option<&'static str> {
    let wanted = format!("name = \"{package}\"");
    let mut lines = LOCK_FILE.lines();
    while let Some(line) = lines.next() {
        if line == wanted {
            return lines
                .next()?
                .strip_prefix("version = \"")?
                .strip_suffix('"');
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_contract_and_the_wasmtime_release() {
        let text = super::text();
        assert!(text.contains("plugin contract weir:plugin@"), "{text}");
        let wasmtime = text.lines().last().unwrap().strip_prefix("wasmtime ");
        let numbers = wasmtime.map(|v| v.split('.').map(str::parse::<u32>).collect::<Vec<_>>());
        assert!(
            numbers.is_some_and(|n| n.len() == 3 && n.iter().all(Result::is_ok)),
            "wasmtime's exact release, from Cargo.lock: {text}"
        );
    }
}

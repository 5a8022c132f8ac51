//! Builds the plugin workspace (plugins/) for wasm32-wasip2, so that
//! `cargo build` alone yields the bundled components: the benchmark embeds
//! one, the examples and tests load the others from target/plugins.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    // Apart from the host's own target directories: the outer cargo holds
    // their locks while this script runs.
    let target_dir = root.join("target").join("plugins");
    for watched in ["plugins", "sdk/rust", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command
        .current_dir(&plugins)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    // Settings meant for the host build must not leak into the guests'.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_BUILD_")
            || matches!(
                key.as_str(),
                "CARGO_ENCODED_RUSTFLAGS"
                    | "RUSTFLAGS"
                    | "CARGO_TARGET_DIR"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "RUSTC_WRAPPER"
            )
        {
            command.env_remove(&key);
        }
    }
    let status = command
        .status()
        .expect("could not run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the plugins in {} failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`)",
            plugins.display()
        );
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    // The built components, so that deleting one builds it again. Not their
    // folder: the nested cargo rewrites its `.d` files there on every run,
    // after this script started, which cargo would take as a change and
    // compile weir again on every build.
    for entry in std::fs::read_dir(&out).expect("the plugins were built") {
        let path = entry.expect("a readable folder").path();
        if path.extension().is_some_and(|e| e == "wasm") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=WEIR_PLUGIN_DIR={}", out.display());
}

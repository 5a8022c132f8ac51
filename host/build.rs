//! Builds the plugin workspace (plugins/) for wasm32-wasip2, so that
//! `cargo build` alone yields the bundled components: the benchmark embeds
//! one, the examples and tests load the others from target/plugins. Also
//! lists the SDK sources `weir new transform` writes into a project, so an
//! installed weir needs no checkout.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let started = std::time::SystemTime::now();
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().unwrap().to_path_buf();
    let plugins = root.join("plugins");
    // Apart from the host's own target directories: the outer cargo holds
    // their locks while this script runs.
    let target_dir = root.join("target").join("plugins");
    for watched in ["plugins", "sdk/rust", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }

    ensure_wasm_target(&root);
    embed_sdks(&root);

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
            "building the plugins in {} failed (the errors are above)",
            plugins.display()
        );
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    // The built components, so that deleting one builds it again. Not their
    // folder: the nested cargo rewrites its `.d` files there on every run,
    // after this script started, which cargo would take as a change and
    // compile weir again on every build.
    // Cargo compares these with the moment it started this script, so a
    // component the nested build just wrote would count as changed and run
    // this script, and compile weir, once more on the next build (after a
    // fresh clone: `cargo build`, then the README's `cargo run` compiled weir
    // twice). Those are dated back to just before this script started.
    let before_this_run = started - std::time::Duration::from_secs(5);
    for entry in std::fs::read_dir(&out).expect("the plugins were built") {
        let path = entry.expect("a readable folder").path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let written = std::fs::metadata(&path).and_then(|m| m.modified());
            if written.is_ok_and(|written| written >= before_this_run) {
                std::fs::File::options()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_modified(before_this_run))
                    .unwrap_or_else(|e| panic!("cannot date {}: {e}", path.display()));
            }
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    println!("cargo:rustc-env=WEIR_PLUGIN_DIR={}", out.display());
}

/// Installs the wasm32-wasip2 standard library when the compiler in use lacks
/// it. rustup adds the targets rust-toolchain.toml lists only when it installs
/// the toolchain, and not at all with RUSTUP_AUTO_INSTALL=0, so a machine whose
/// toolchain came first would otherwise stop here on its first build.
fn ensure_wasm_target(root: &std::path::Path) {
    const TARGET: &str = "wasm32-wasip2";
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let installed = || {
        Command::new(&rustc)
            .args(["--print", "target-libdir", "--target", TARGET])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            .is_some_and(|libdir| libdir.is_dir())
    };
    if installed() {
        return;
    }
    println!("cargo:warning=the {TARGET} target is missing: running `rustup target add {TARGET}`");
    let mut rustup = Command::new("rustup");
    rustup.current_dir(root).args(["target", "add", TARGET]);
    // The toolchain this build runs with (rustup's proxy names it), not the
    // default one.
    if let Ok(toolchain) = std::env::var("RUSTUP_TOOLCHAIN") {
        rustup.args(["--toolchain", &toolchain]);
    }
    let outcome = rustup.status();
    if !matches!(outcome, Ok(status) if status.success()) || !installed() {
        let why = match outcome {
            Ok(status) => format!("it exited with {status}"),
            Err(e) => format!("it could not run: {e}"),
        };
        panic!(
            "weir's plugins are built for {TARGET}, which {rustc} cannot target, and \
             `rustup target add {TARGET}` did not add it ({why}). Install the target \
             (`rustup target add {TARGET}`, or your distribution's package of the \
             Rust standard library for {TARGET}) and build again."
        );
    }
}

/// Writes `$OUT_DIR/sdk_files.rs`: the Rust SDK (sources, manifest, the WIT
/// contract) and the Python SDK as `(path in the project, include_str!)`
/// pairs. Listed here rather than by hand so a new SDK file cannot be left
/// out of the projects `weir new` writes.
fn embed_sdks(root: &std::path::Path) {
    fn files(dir: &std::path::Path, into: &str, out: &mut Vec<(String, PathBuf)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|entry| entry.expect("a readable folder").path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if name != "__pycache__" {
                    files(&path, &format!("{into}/{name}"), out);
                }
            } else if [".rs", ".wit", ".py", ".toml"]
                .iter()
                .any(|e| name.ends_with(e))
            {
                out.push((format!("{into}/{name}"), path));
            }
        }
    }
    let table = |name: &str, entries: &[(String, PathBuf)]| {
        let mut text = format!("pub(crate) const {name}: &[(&str, &str)] = &[\n");
        for (into, path) in entries {
            text.push_str(&format!(
                "    ({into:?}, include_str!({:?})),\n",
                path.display().to_string()
            ));
        }
        text + "];\n"
    };
    let mut rust = vec![("Cargo.toml".to_string(), root.join("sdk/rust/Cargo.toml"))];
    files(&root.join("sdk/rust/src"), "src", &mut rust);
    files(&root.join("wit"), "wit", &mut rust);
    let mut python = Vec::new();
    files(&root.join("sdk/python/weir"), "weir", &mut python);
    // The files, not their folder: a Python build may leave __pycache__
    // there, which must not compile weir again.
    for (_, path) in &python {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sdk_files.rs");
    let text = table("RUST_SDK", &rust) + &table("PYTHON_SDK", &python);
    // Unchanged text is not rewritten, so the host is not compiled again.
    if std::fs::read_to_string(&out).ok().as_deref() != Some(text.as_str()) {
        std::fs::write(&out, text).expect("OUT_DIR is writable");
    }
}

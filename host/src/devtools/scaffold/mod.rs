//! `weir new transform`: a working plugin project in Rust, Python,
//! JavaScript or C (source, build command, sample pipeline and input,
//! README), ready to build and run as it is.

use std::path::{Path, PathBuf};

/// The languages a scaffold can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Js,
    C,
}

const WIT: [(&str, &str); 2] = [
    ("world.wit", include_str!("../../../../wit/world.wit")),
    ("types.wit", include_str!("../../../../wit/types.wit")),
];

// The Rust and Python SDKs, as host/build.rs lists them (RUST_SDK, PYTHON_SDK).
include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The folder a Rust project keeps its copy of the SDK in: the project then
/// builds with this weir's contract wherever weir was installed from.
const VENDORED_SDK: &str = "weir-sdk";

/// The SDK's manifest for a copy outside weir's workspace: the keys it
/// inherits from the workspace, written out.
fn vendored_manifest(manifest: &str) -> String {
    let values = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("edition", EDITION),
        ("rust-version", env!("CARGO_PKG_RUST_VERSION")),
        ("license", env!("CARGO_PKG_LICENSE")),
    ];
    manifest
        .lines()
        .map(|line| {
            values
                .iter()
                .find(|(key, _)| line.trim() == format!("{key}.workspace = true"))
                .map(|(key, value)| format!("{key} = {value:?}"))
                .unwrap_or_else(|| line.to_string())
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The edition of weir's workspace, which the SDK is written in.
const EDITION: &str = "2024";

/// The Rust SDK's files as they go into a project's `weir-sdk/`: the
/// contract beside the sources, where the copied `generate!` finds it.
fn vendored_rust_sdk() -> Vec<(String, String)> {
    RUST_SDK
        .iter()
        .map(|(path, text)| {
            let text = match *path {
                "Cargo.toml" => vendored_manifest(text),
                // In weir's tree the contract is two folders up (wit/).
                "src/lib.rs" => text.replace("path: \"../../wit\"", "path: \"wit\""),
                _ => text.to_string(),
            };
            (format!("{VENDORED_SDK}/{path}"), text)
        })
        .collect()
}

/// Where this weir's C SDK is: `$WEIR_SDK_DIR`, else the checkout it was built from.
fn sdk_dir() -> PathBuf {
    std::env::var_os("WEIR_SDK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk"))
}

/// Writes a new transform project called `name` into `dir`/`name`; returns its folder.
pub fn new_transform(language: Language, name: &str, dir: &Path) -> Result<PathBuf, String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(format!(
            "{name:?} is not a usable name: use letters, digits, `-` and `_`"
        ));
    }
    let root = dir.join(name);
    if root.exists() {
        return Err(format!("{} already exists", root.display()));
    }
    // Only the C build still reads the SDK from a checkout.
    let sdk = || {
        std::fs::canonicalize(sdk_dir()).map_err(|e| {
            format!(
                "cannot find the weir C SDK at {}: {e} (set WEIR_SDK_DIR to a weir checkout's sdk/)",
                sdk_dir().display()
            )
        })
    };
    let module = name.replace('-', "_");
    let fill = |template: &str| template.replace("{{name}}", name);
    let (files, component, build): (Vec<(&str, String)>, String, &str) = match language {
        Language::Rust => (
            vec![
                (
                    "Cargo.toml",
                    format!(
                        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\n# This weir's SDK, copied into the project by `weir new`.\nweir-sdk = {{ path = \"{VENDORED_SDK}\" }}\n\n[profile.release]\nlto = true\nstrip = \"debuginfo\"\n\n[workspace]\n"
                    ),
                ),
                (
                    ".cargo/config.toml",
                    "[build]\ntarget = \"wasm32-wasip2\"\n".to_string(),
                ),
                ("src/lib.rs", fill(include_str!("rust_lib.rs.txt"))),
            ],
            format!("target/wasm32-wasip2/release/{module}.wasm"),
            "rustup target add wasm32-wasip2   # once\nweir build   # cargo build --release, into ./target (unset CARGO_TARGET_DIR if you set one)",
        ),
        Language::Python => (
            vec![
                ("app.py", fill(include_str!("python_app.py.txt"))),
                (
                    "build.sh",
                    format!(
                        "#!/bin/sh\n# componentize-py 0.25.1 from PyPI: pip install componentize-py==0.25.1\n# The weir SDK is the copy in ./weir.\nset -e\ncd \"$(dirname \"$0\")\"\n\"${{COMPONENTIZE_PY:-componentize-py}}\" -d wit -w transform componentize app -p . -o {module}.wasm\n"
                    ),
                ),
            ],
            format!("{module}.wasm"),
            "./build.sh",
        ),
        Language::Js => (
            vec![
                ("app.js", fill(include_str!("js_app.js.txt"))),
                (
                    "weir.js",
                    include_str!("../../../../sdk/js/weir.js").to_string(),
                ),
                (
                    "build.sh",
                    format!(
                        "#!/bin/sh\n# componentize-qjs 0.4.5 from npm: npm install componentize-qjs@0.4.5\nset -e\ncd \"$(dirname \"$0\")\"\n\"${{COMPONENTIZE_QJS:-componentize-qjs}}\" --wit wit --js app.js --module-root . -n transform --sync -o {module}.wasm\n"
                    ),
                ),
            ],
            format!("{module}.wasm"),
            "./build.sh",
        ),
        Language::C => {
            let sdk = sdk()?;
            (
                vec![
                    ("app.c", fill(include_str!("c_app.c.txt"))),
                    (
                        "build.sh",
                        format!(
                            "#!/bin/sh\n# clang-19 and wasi-libc (Debian: apt-get install clang-19 lld-19 wasi-libc\n# libclang-rt-19-dev-wasm32); weir's build-c-plugin installs wit-bindgen-cli\n# 0.63.0 and wasm-tools 1.263.0 once, and links weir's C SDK ({}).\nset -e\ncd \"$(dirname \"$0\")\"\n\"${{WEIR_BUILD_C:-{}}}\" . {module}.wasm\n",
                            sdk.join("c").display(),
                            sdk.parent()
                                .unwrap_or(&sdk)
                                .join("scripts/build-c-plugin")
                                .display()
                        ),
                    ),
                ],
                format!("{module}.wasm"),
                "./build.sh",
            )
        }
    };
    // The SDK a project builds against, copied in: nothing then points back
    // at the checkout weir was built from.
    let vendored: Vec<(String, String)> = match language {
        Language::Rust => vendored_rust_sdk(),
        Language::Python => PYTHON_SDK
            .iter()
            .map(|(path, text)| (path.to_string(), text.to_string()))
            .collect(),
        Language::Js | Language::C => Vec::new(),
    };
    let pipeline = format!(
        "# A sample pipeline for {name}: input.txt, line by line, through the plugin to stdout.\n\
         [source]\ntype = \"files\"\npath = \"input.txt\"\nformat = \"lines\"\n\n\
         [[transforms]]\nname = \"{name}\"\nplugin = \"{component}\"\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"stdout\"\n"
    );
    let readme = format!(
        "# {name}\n\nA weir transform plugin ({language:?}). It upper-cases the `value` column.\n\n\
         ```sh\n{build}\nweir run pipeline.toml --available-now\n```\n\n\
         The build writes `{component}`, the component `pipeline.toml` names.\n\
         Edit the plugin, rebuild, and run again.\n"
    );
    let mut all = files;
    all.push(("pipeline.toml", pipeline));
    all.push(("input.txt", "hello weir\nstream processing\n".to_string()));
    all.push(("README.md", readme));
    if matches!(language, Language::Python | Language::Js) {
        // Python and JS builds read the contract from the project itself.
        all.extend(WIT.iter().map(|(file, text)| (*file, text.to_string())));
    }
    let all = all
        .into_iter()
        .map(|(file, text)| {
            let path = if file.ends_with(".wit") {
                Path::new("wit").join(file)
            } else {
                PathBuf::from(file)
            };
            (path, text)
        })
        .chain(
            vendored
                .into_iter()
                .map(|(file, text)| (PathBuf::from(file), text)),
        );
    for (file, text) in all {
        let path = root.join(&file);
        std::fs::create_dir_all(path.parent().expect("inside the project"))
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if file == Path::new("build.sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(root)
}

/// `weir build`: runs the build command a scaffolded project documents
/// (`cargo build --release` for Rust, `./build.sh` for the others).
pub fn build(dir: &Path) -> Result<(), String> {
    let (program, args): (&str, &[&str]) = if dir.join("Cargo.toml").exists() {
        ("cargo", &["build", "--release"])
    } else if dir.join("build.sh").exists() {
        ("./build.sh", &[])
    } else {
        return Err(format!(
            "{} has neither Cargo.toml nor build.sh: not a plugin project (`weir new transform` writes one)",
            dir.display()
        ));
    };
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run {program} in {}: {e}", dir.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} failed in {} ({status})", dir.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_inherits_nothing_from_weirs_workspace() {
        let sdk = vendored_rust_sdk();
        let manifest = &sdk
            .iter()
            .find(|(p, _)| p == "weir-sdk/Cargo.toml")
            .unwrap()
            .1;
        assert!(!manifest.contains(".workspace"), "{manifest}");
        assert!(manifest.contains(&format!("version = {:?}", env!("CARGO_PKG_VERSION"))));
        let lib = &sdk
            .iter()
            .find(|(p, _)| p == "weir-sdk/src/lib.rs")
            .unwrap()
            .1;
        assert!(
            lib.contains("path: \"wit\""),
            "the SDK's generate! must find the copied contract"
        );
        assert!(sdk.iter().any(|(p, _)| p == "weir-sdk/wit/world.wit"));
        let root =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
        assert!(
            root.contains(&format!("edition = {EDITION:?}")),
            "EDITION follows the workspace"
        );
    }
}

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

/// Where this weir's SDKs are: `$WEIR_SDK_DIR`, else the checkout it was built from.
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
    let sdk = std::fs::canonicalize(sdk_dir())
        .map_err(|e| format!("cannot find the weir SDKs at {}: {e}", sdk_dir().display()))?;
    let module = name.replace('-', "_");
    let fill = |template: &str| template.replace("{{name}}", name);
    let (files, component, build): (Vec<(&str, String)>, String, &str) = match language {
        Language::Rust => (
            vec![
                (
                    "Cargo.toml",
                    format!(
                        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nweir-sdk = {{ path = {:?} }}\n\n[profile.release]\nlto = true\nstrip = \"debuginfo\"\n\n[workspace]\n",
                        sdk.join("rust").display().to_string()
                    ),
                ),
                (
                    ".cargo/config.toml",
                    "[build]\ntarget = \"wasm32-wasip2\"\n".to_string(),
                ),
                ("src/lib.rs", fill(include_str!("rust_lib.rs.txt"))),
            ],
            format!("target/wasm32-wasip2/release/{module}.wasm"),
            "rustup target add wasm32-wasip2   # once\ncargo build --release   # into ./target (unset CARGO_TARGET_DIR if you set one)",
        ),
        Language::Python => (
            vec![
                ("app.py", fill(include_str!("python_app.py.txt"))),
                (
                    "build.sh",
                    format!(
                        "#!/bin/sh\n# componentize-py 0.25.1 from PyPI: pip install componentize-py==0.25.1\nset -e\ncd \"$(dirname \"$0\")\"\n\"${{COMPONENTIZE_PY:-componentize-py}}\" -d wit -w transform componentize app -p . -p {:?} -o {module}.wasm\n",
                        sdk.join("python").display().to_string()
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
        Language::C => (
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
        ),
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
    for (file, text) in all {
        let path = if file.ends_with(".wit") {
            root.join("wit").join(file)
        } else {
            root.join(file)
        };
        std::fs::create_dir_all(path.parent().expect("inside the project"))
            .map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if file == "build.sh" {
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

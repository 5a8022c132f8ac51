//! `weir new transform`: each language's scaffold builds with its documented
//! command and its sample pipeline runs.

use std::process::Command;
use weir_tests::{Scratch, root, weir_bin};

fn build_and_run(scratch: &Scratch, lang: &str) -> String {
    let name = format!("hello-{lang}");
    let out = scratch
        .weir(&["new", "transform", "--lang", lang, &name])
        .ok()
        .stdout();
    assert!(out.contains(&format!("created ./{name}")), "{out}");
    let project = scratch.path().join(&name);
    let tools = root().join("target");
    let status = match lang {
        "rust" => {
            // Built as the README says; target/ points at a shared folder so
            // the SDK's dependencies are compiled once across runs.
            let shared = tools.join("scaffold-test");
            std::fs::create_dir_all(&shared).unwrap();
            std::os::unix::fs::symlink(&shared, project.join("target")).unwrap();
            // As a user in the project folder would: without the target
            // folder CI sets for weir's own build.
            Command::new(env!("CARGO"))
                .args(["build", "--release"])
                .current_dir(&project)
                .env_remove("CARGO_TARGET_DIR")
                .env_remove("CARGO_BUILD_TARGET_DIR")
                .status()
        }
        "python" => Command::new("./build.sh")
            .current_dir(&project)
            .env(
                "COMPONENTIZE_PY",
                tools.join("python-venv/bin/componentize-py"),
            )
            .status(),
        "js" => Command::new("./build.sh")
            .current_dir(&project)
            .env(
                "COMPONENTIZE_QJS",
                tools.join("js-tools/node_modules/.bin/componentize-qjs"),
            )
            .status(),
        // C: `weir build`, which runs the build.sh as written, with the
        // toolchain scripts/test set up.
        _ => {
            scratch.weir_in(&project, &["build"]).ok();
            Ok(std::process::ExitStatus::default())
        }
    };
    assert!(
        status.unwrap().success(),
        "building the {lang} scaffold failed"
    );
    scratch
        .weir_in(&project, &["run", "pipeline.toml", "--available-now"])
        .ok()
        .stdout()
}

#[test]
fn every_language_scaffold_builds_and_runs() {
    let scratch = Scratch::new();
    for lang in ["rust", "python", "js", "c"] {
        assert_eq!(
            build_and_run(&scratch, lang),
            "{\"value\":\"HELLO WEIR\"}\n{\"value\":\"STREAM PROCESSING\"}\n",
            "the {lang} scaffold"
        );
    }
}

#[test]
fn new_refuses_an_existing_folder_and_a_bad_name() {
    let scratch = Scratch::new();
    scratch
        .weir(&["new", "transform", "--lang", "python", "twice"])
        .ok();
    let err = scratch
        .weir(&["new", "transform", "--lang", "python", "twice"])
        .fails();
    assert!(err.contains("already exists"), "{err}");
    let err = scratch
        .weir(&["new", "transform", "--lang", "rust", "no/slashes"])
        .fails();
    assert!(err.contains("not a usable name"), "{err}");
    let err = scratch.weir(&["build"]).fails();
    assert!(err.contains("neither Cargo.toml nor build.sh"), "{err}");
}

/// As after `cargo install --path host`: the binary alone, away from the
/// checkout it was built from. The commands run in a private mount
/// namespace that lays an empty tmpfs over the checkout, so anything that
/// still reads from it (an SDK path, a script, the plugins) fails as if the
/// checkout had been moved away.
#[test]
fn an_installed_weir_builds_and_runs_a_rust_scaffold_without_the_checkout() {
    let home = tempfile::tempdir().unwrap();
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(weir_bin(), bin.join("weir")).unwrap();
    let work = home.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    // The SDK's dependencies (wit-bindgen) compiled once across runs, in a
    // folder outside the checkout.
    let shared = std::env::temp_dir().join("weir-scaffold-installed-target");
    std::fs::create_dir_all(&shared).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs {root:?}
         test -z \"$(ls -A {root:?})\"
         cd {work:?}
         weir new transform --lang rust hello
         cd hello
         ln -s {shared:?} target
         weir build
         weir run pipeline.toml --available-now",
        root = root().display().to_string(),
        work = work.display().to_string(),
        shared = shared.display().to_string(),
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-ec", &script])
        .env("PATH", path)
        .env("WEIR_CACHE_DIR", home.path().join("cache"))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .env_remove("WEIR_SDK_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.ends_with("{\"value\":\"HELLO WEIR\"}\n{\"value\":\"STREAM PROCESSING\"}\n"),
        "{stdout}\n{stderr}"
    );
    // Nothing the project was given names the checkout.
    let project = work.join("hello");
    let checkout = root().display().to_string();
    for file in [
        "Cargo.toml",
        "README.md",
        "pipeline.toml",
        "weir-sdk/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(project.join(file)).unwrap();
        assert!(
            !text.contains(&checkout),
            "{file} names the checkout:\n{text}"
        );
    }
}

//! `weir new transform`: each language's scaffold builds with its documented
//! command and its sample pipeline runs.

use std::process::Command;
use weir_tests::{Scratch, root};

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

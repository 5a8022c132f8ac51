//! Files that are not usable plugins: each refused at load time with a
//! message that says what the file is and what was expected.

use weir_tests::{Scratch, plugin, toml_path};

fn check_with_plugin(scratch: &Scratch, plugin_path: &str) -> String {
    scratch.write("input/a.txt", "x\n");
    scratch.write(
        "pipeline.toml",
        &format!("[source]\ntype = \"files\"\npath = \"input\"\nformat = \"lines\"\n\n[[transforms]]\nname = \"t\"\nplugin = {plugin_path}\n"),
    );
    scratch.weir(&["check", "pipeline.toml"]).fails()
}

#[test]
fn a_file_that_is_not_wasm_is_refused() {
    let scratch = Scratch::new();
    scratch.write("plugin.wasm", "#!/bin/sh\necho hi\n");
    let err = check_with_plugin(&scratch, "\"plugin.wasm\"");
    assert!(
        err.contains("plugin.wasm is not a WebAssembly file"),
        "{err}"
    );
}

#[test]
fn a_core_module_is_refused_with_how_to_make_a_component() {
    let scratch = Scratch::new();
    // The smallest valid core module: magic and version 1.
    std::fs::write(scratch.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let err = check_with_plugin(&scratch, "\"core.wasm\"");
    assert!(
        err.contains("core.wasm is a core WebAssembly module, not a component"),
        "{err}"
    );
    assert!(err.contains("wasm32-wasip2"), "{err}");
}

#[test]
fn a_truncated_component_is_refused_as_invalid() {
    let scratch = Scratch::new();
    let bytes = std::fs::read(plugin("shout")).unwrap();
    std::fs::write(scratch.path().join("cut.wasm"), &bytes[..bytes.len() / 2]).unwrap();
    let err = check_with_plugin(&scratch, "\"cut.wasm\"");
    assert!(err.contains("cut.wasm is not a valid component"), "{err}");
}

#[test]
fn a_component_of_another_world_is_refused_naming_its_exports() {
    let scratch = Scratch::new();
    let err = check_with_plugin(&scratch, &toml_path(&plugin("wrong-world")));
    assert!(
        err.contains("does not export the weir transform interface"),
        "{err}"
    );
    assert!(err.contains("wasi:cli/run"), "{err}");
}

#[test]
fn a_plugin_for_an_incompatible_contract_names_both_versions() {
    let scratch = Scratch::new();
    let err = check_with_plugin(&scratch, &toml_path(&plugin("future_version")));
    assert!(
        err.contains("was built for weir:plugin@1.0.0, but this host speaks weir:plugin@0.1.1"),
        "{err}"
    );
}

#[test]
fn inspect_shows_world_version_imports_exports_and_planned_schema() {
    let scratch = Scratch::new();
    let path = plugin("students_cleaner");
    let out = scratch
        .weir(&[
            "plugin",
            "inspect",
            path.to_str().unwrap(),
            "--input-schema",
            "value STRING",
            "--config",
            "min_age=30",
        ])
        .ok()
        .stdout();
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["world"], "transform");
    assert_eq!(info["contract_version"], "0.1.1");
    assert!(
        info["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "weir:plugin/transformer@0.1.1"),
        "{out}"
    );
    assert!(
        info["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "weir:plugin/types@0.1.1"),
        "{out}"
    );
    assert_eq!(
        info["output_schema"],
        "first_name Utf8 NOT NULL, last_name Utf8 NOT NULL, age Int32 NOT NULL, field Utf8 NOT NULL"
    );
    assert_eq!(info["reads"], serde_json::json!([0]));
    assert_eq!(info["content_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn inspect_refuses_what_run_refuses() {
    let scratch = Scratch::new();
    let err = scratch
        .weir(&["plugin", "inspect", plugin("wrong-world").to_str().unwrap()])
        .fails();
    assert!(
        err.contains("does not export the weir transform interface"),
        "{err}"
    );
}

#[test]
fn a_plugin_built_for_an_earlier_compatible_contract_still_runs() {
    let scratch = Scratch::new();
    scratch.write("in/a.csv", "name,score\nada,3\nbob,4\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in\"\nformat = \"csv\"\nheader = true\n\
             schema = \"name STRING, score BIGINT\"\n\n\
             [[transforms]]\nname = \"old\"\nplugin = {}\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n",
            toml_path(&plugin("contract_0_1_0"))
        ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(
        scratch.read("out.jsonl"),
        "{\"name\":\"ada\",\"score\":3}\n{\"name\":\"bob\",\"score\":4}\n",
        "a 0.1.0 plugin on a 0.1.1 host"
    );
    let info = scratch
        .weir(&[
            "plugin",
            "inspect",
            plugin("contract_0_1_0").to_str().unwrap(),
        ])
        .ok()
        .stdout();
    let info: serde_json::Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["contract_version"], "0.1.0");
    assert_eq!(info["host_contract_version"], "0.1.1");
}

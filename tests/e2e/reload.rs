//! Hot reload on a running pipeline: by the admin API (`weir reload`), by
//! watching the component file, with state carried over, automatic
//! rollback of a failing build, and refusal of a build whose output no
//! longer fits. Every row is processed once, by one build.

use serde_json::Value;
use weir_tests::{Running, Scratch, plugin, wait_for};

/// A running pipeline: files in `in/` → `tag` (a copy of tag_v1 at tag.wasm)
/// → out.jsonl.
fn start(extra_args: &[&str]) -> (Scratch, Running) {
    let scratch = Scratch::new();
    std::fs::create_dir_all(scratch.path().join("in")).unwrap();
    std::fs::copy(plugin("tag_v1"), scratch.path().join("tag.wasm")).unwrap();
    scratch.write(
        "pipeline.toml",
        "name = \"tagged\"\n\n[source]\ntype = \"files\"\npath = \"in\"\nformat = \"lines\"\npoll_interval_ms = 100\n\n\
         [[transforms]]\nname = \"tag\"\nplugin = \"tag.wasm\"\n\n\
         [[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n\n\
         [dead_letter]\ntype = \"jsonl\"\npath = \"dead.jsonl\"\n",
    );
    let mut args = vec!["run", "pipeline.toml"];
    args.extend(extra_args);
    let running = scratch.spawn(&args);
    wait_for("the admin address file", 60, || {
        scratch.path().join(".weir/tagged/admin.addr").exists()
    });
    (scratch, running)
}

fn status(scratch: &Scratch) -> Value {
    let out = scratch.weir(&["status", "pipeline.toml"]).ok().stdout();
    serde_json::from_str::<Value>(&out).unwrap()["pipelines"][0].clone()
}

/// Writes a file of lines and waits until the pipeline has written them.
fn feed(scratch: &Scratch, file: &str, lines: &[&str], rows_out: u64) {
    scratch.write(&format!("in/{file}"), &(lines.join("\n") + "\n"));
    wait_for(&format!("{rows_out} rows out"), 60, || {
        status(scratch)["rows_out"] == rows_out
    });
}

fn outputs(scratch: &Scratch) -> Vec<(String, String, i64)> {
    scratch
        .read("out.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["value"].as_str().unwrap().to_string(),
                v["version"].as_str().unwrap().to_string(),
                v["seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn expected(rows: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    rows.iter()
        .map(|(v, b, s)| (v.to_string(), b.to_string(), *s))
        .collect()
}

#[test]
fn a_reload_by_the_admin_api_swaps_the_build_and_keeps_its_state() {
    let (scratch, running) = start(&[]);
    feed(&scratch, "1.txt", &["a", "b"], 2);
    let v2 = plugin("tag_v2");
    let report = scratch
        .weir(&[
            "reload",
            "pipeline.toml",
            "tag",
            "--path",
            v2.to_str().unwrap(),
        ])
        .ok()
        .stdout();
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["plugin"], "tag");
    assert_ne!(report["from_sha256"], report["to_sha256"]);
    feed(&scratch, "2.txt", &["c", "d"], 4);
    let shown = status(&scratch);
    assert_eq!(
        shown["plugins"][0]["version"]["path"],
        v2.display().to_string()
    );
    assert_eq!(shown["reloads"][0]["outcome"], "swapped");
    running.stop().ok();
    assert_eq!(
        outputs(&scratch),
        expected(&[
            ("a", "v1", 1),
            ("b", "v1", 2),
            ("c", "v2", 3),
            ("d", "v2", 4)
        ]),
        "each row once, by one build, and the counter carried over"
    );
}

#[test]
fn a_build_that_fails_where_the_previous_did_not_is_rolled_back_by_itself() {
    let (scratch, running) = start(&[]);
    feed(&scratch, "1.txt", &["a"], 1);
    let broken = plugin("tag_broken");
    scratch
        .weir(&[
            "reload",
            "pipeline.toml",
            "tag",
            "--path",
            broken.to_str().unwrap(),
        ])
        .ok();
    feed(&scratch, "2.txt", &["b", "c"], 3);
    feed(&scratch, "3.txt", &["d"], 4);
    let shown = status(&scratch);
    let outcomes: Vec<&str> = shown["reloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["swapped", "rolled-back"]);
    let detail = shown["reloads"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("failed a batch that build") && detail.contains("trapped"),
        "{detail}"
    );
    assert!(
        shown["plugins"][0]["version"]["path"]
            .as_str()
            .unwrap()
            .ends_with("/tag.wasm")
    );
    running.stop().ok();
    assert_eq!(
        outputs(&scratch),
        expected(&[
            ("a", "v1", 1),
            ("b", "v1", 2),
            ("c", "v1", 3),
            ("d", "v1", 4)
        ]),
        "the failed batch was processed by the previous build, not lost"
    );
    assert!(!scratch.path().join("dead.jsonl").exists() || scratch.read("dead.jsonl").is_empty());
}

#[test]
fn a_build_whose_output_no_longer_fits_is_refused_and_the_old_one_runs_on() {
    let (scratch, running) = start(&[]);
    feed(&scratch, "1.txt", &["a"], 1);
    let echo = plugin("echo");
    let err = scratch
        .weir(&[
            "reload",
            "pipeline.toml",
            "tag",
            "--path",
            echo.to_str().unwrap(),
        ])
        .fails();
    assert!(
        err.contains("output schema") && err.contains("differs from the running one's"),
        "{err}"
    );
    feed(&scratch, "2.txt", &["b"], 2);
    assert_eq!(status(&scratch)["reloads"][0]["outcome"], "refused");
    running.stop().ok();
    assert_eq!(
        outputs(&scratch),
        expected(&[("a", "v1", 1), ("b", "v1", 2)])
    );
}

#[test]
fn with_watch_a_changed_component_file_is_reloaded() {
    let (scratch, running) = start(&["--watch"]);
    feed(&scratch, "1.txt", &["a"], 1);
    // As a build tool would: write beside, then rename over.
    std::fs::copy(plugin("tag_v2"), scratch.path().join("tag.wasm.new")).unwrap();
    std::fs::rename(
        scratch.path().join("tag.wasm.new"),
        scratch.path().join("tag.wasm"),
    )
    .unwrap();
    wait_for("the watcher's reload", 60, || {
        status(&scratch)["reloads"][0]["outcome"] == "swapped"
    });
    feed(&scratch, "2.txt", &["b"], 2);
    running.stop().ok();
    assert_eq!(
        outputs(&scratch),
        expected(&[("a", "v1", 1), ("b", "v2", 2)])
    );
}

#[test]
fn metrics_show_plugin_calls_rows_and_reloads() {
    let (scratch, running) = start(&[]);
    feed(&scratch, "1.txt", &["a", "b", "c"], 3);
    let text = weir_tests::http_get(&scratch.read(".weir/tagged/admin.addr"), "/metrics");
    running.stop().ok();
    for line in [
        "weir_records_read_total{pipeline=\"tagged\"} 3",
        "weir_rows_out_total{pipeline=\"tagged\"} 3",
        "weir_plugin_rows_in_total{pipeline=\"tagged\",plugin=\"tag\"} 3",
    ] {
        assert!(text.contains(line), "no `{line}` in:\n{text}");
    }
    assert!(text.contains("weir_plugin_memory_bytes{"), "{text}");
}

#[test]
fn weir_dev_rebuilds_a_changed_plugin_and_swaps_it_in() {
    let scratch = Scratch::new();
    scratch
        .weir(&["new", "transform", "--lang", "js", "hello"])
        .ok();
    let project = scratch.path().join("hello");
    let qjs = weir_tests::root().join("target/js-tools/node_modules/.bin/componentize-qjs");
    let built = std::process::Command::new("./build.sh")
        .current_dir(&project)
        .env("COMPONENTIZE_QJS", &qjs)
        .status()
        .unwrap();
    assert!(built.success(), "the scaffold builds");
    // The scaffold's pipeline, reading a folder that input arrives in.
    let pipeline = std::fs::read_to_string(project.join("pipeline.toml")).unwrap();
    let pipeline = pipeline.replace(
        "path = \"input.txt\"",
        "path = \"in\"\npoll_interval_ms = 100",
    );
    let sinks = pipeline.find("[[sinks]]").expect("the scaffold has a sink");
    let pipeline = format!(
        "{}[[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n",
        &pipeline[..sinks]
    );
    std::fs::write(project.join("pipeline.toml"), pipeline).unwrap();
    std::fs::create_dir_all(project.join("in")).unwrap();
    let running = scratch.spawn_in(
        &project,
        &["dev", "pipeline.toml"],
        &[("COMPONENTIZE_QJS", &qjs)],
    );
    let status = || -> Value {
        let out = scratch
            .weir_in(&project, &["status", "pipeline.toml"])
            .stdout();
        serde_json::from_str::<Value>(&out).map_or(Value::Null, |v| v["pipelines"][0].clone())
    };
    std::fs::write(project.join("in/1.txt"), "Hello\n").unwrap();
    wait_for("the first row", 60, || status()["rows_out"] == 1);

    // Edit and save, as a user would: the dev loop rebuilds and reloads.
    let app = std::fs::read_to_string(project.join("app.js")).unwrap();
    assert!(app.contains("toUpperCase"), "{app}");
    std::fs::write(
        project.join("app.js"),
        app.replace("toUpperCase", "toLowerCase"),
    )
    .unwrap();
    wait_for("the rebuilt plugin to be swapped in", 120, || {
        status()["reloads"][0]["outcome"] == "swapped"
    });
    std::fs::write(project.join("in/2.txt"), "Hello\n").unwrap();
    wait_for("the second row", 60, || status()["rows_out"] == 2);
    running.stop().ok();
    let values: Vec<String> = std::fs::read_to_string(project.join("out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(values, ["HELLO", "hello"]);
}

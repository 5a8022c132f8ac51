//! The students cleaner written in Python, JavaScript and C gives the same output
//! and the same dead-letter as the Rust one, byte for byte; nested and decimal
//! columns cross the Python and JavaScript SDKs both ways.

use weir_tests::{Scratch, language_plugin, plugin, toml_path};

/// Runs the students example with `cleaner` and returns (output, dead-letter).
fn students_with(cleaner: &std::path::Path) -> (String, String) {
    let scratch = Scratch::example("students");
    let pipeline = scratch
        .read("pipeline.toml")
        .replace(&toml_path(&plugin("students_cleaner")), &toml_path(cleaner));
    assert!(
        pipeline.contains(&toml_path(cleaner)),
        "the pipeline must name the plugin under test"
    );
    scratch.write("pipeline.toml", &pipeline);
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    // Sources are named relative to the run folder, so the two runs compare.
    (
        scratch.read("out/students.csv"),
        scratch.read("out/dead-letter.jsonl"),
    )
}

#[test]
fn the_python_students_cleaner_matches_the_rust_one_byte_for_byte() {
    let rust = students_with(&plugin("students_cleaner"));
    let python = students_with(&language_plugin("python", "students_cleaner"));
    assert_eq!(python.0, rust.0, "cleaned students");
    assert_eq!(python.1, rust.1, "dead-letter");
    assert_eq!(rust.0.lines().count(), 9);
}

#[test]
fn the_javascript_students_cleaner_matches_the_rust_one_byte_for_byte() {
    let rust = students_with(&plugin("students_cleaner"));
    let js = students_with(&language_plugin("js", "students_cleaner"));
    assert_eq!(js.0, rust.0, "cleaned students");
    assert_eq!(js.1, rust.1, "dead-letter");
}

#[test]
fn the_c_students_cleaner_matches_the_rust_one_byte_for_byte() {
    let rust = students_with(&plugin("students_cleaner"));
    let c = students_with(&language_plugin("c", "students_cleaner"));
    assert_eq!(c.0, rust.0, "cleaned students");
    assert_eq!(c.1, rust.1, "dead-letter");
}

/// Lines through `maker` (mode make: price, words, item) then `reader` (mode
/// read: a summary of them), printed as JSON lines.
fn nested_through(maker: &std::path::Path, reader: &std::path::Path) -> String {
    let scratch = Scratch::new();
    scratch.write("input.txt", "3.50 red green\n10 blue\n-0.05\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"input.txt\"\nformat = \"lines\"\n\n\
             [[transforms]]\nname = \"maker\"\nplugin = {}\nconfig = {{ mode = \"make\" }}\n\n\
             [[transforms]]\nname = \"reader\"\nplugin = {}\nconfig = {{ mode = \"read\" }}\n\n\
             [[sinks]]\nname = \"out\"\ntype = \"stdout\"\n",
            toml_path(maker),
            toml_path(reader)
        ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stdout()
}

#[test]
fn nested_and_decimal_columns_cross_the_python_and_js_sdks_both_ways() {
    let python = language_plugin("python", "nested");
    let js = language_plugin("js", "nested");
    let out = nested_through(&python, &python);
    let summaries: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["summary"].clone())
        .collect();
    assert_eq!(
        summaries,
        ["redx2:red+green@3.50", "bluex1:blue@10.00", "-:@-0.05"],
        "{out}"
    );
    // Each SDK reads what the other wrote, and writes what the other reads.
    assert_eq!(nested_through(&python, &js), out, "Python writes, JS reads");
    assert_eq!(nested_through(&js, &python), out, "JS writes, Python reads");
    assert_eq!(nested_through(&js, &js), out, "JS both ways");
}

#[test]
fn the_c_sdk_names_what_is_wrong_at_load_time() {
    let cleaner = language_plugin("c", "students_cleaner");
    let cleaner = cleaner.to_str().unwrap();
    let scratch = Scratch::new();
    let inspect = |args: &[&str]| {
        let mut all = vec!["plugin", "inspect", cleaner];
        all.extend_from_slice(args);
        scratch.weir(&all).fails()
    };
    let err = inspect(&["--input-schema", "value INT"]);
    assert!(
        err.contains("column `value` must be utf8, found int32"),
        "{err}"
    );
    let err = inspect(&["--input-schema", "line STRING, n INT"]);
    assert!(
        err.contains("input has no column `value` (it has: line, n)"),
        "{err}"
    );
    let err = inspect(&["--input-schema", "value STRING", "--config", "min_age=abc"]);
    assert!(
        err.contains("config key `min_age`: cannot use \"abc\": not an integer"),
        "{err}"
    );
}

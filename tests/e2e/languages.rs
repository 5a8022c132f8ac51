//! The students cleaner written in Python and JavaScript gives the same output and
//! the same dead-letter as the Rust one, byte for byte.

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

//! `weir check` on good and broken pipelines: the error names the file, the
//! key and the problem, and nothing is written.

use weir_tests::{Scratch, plugin, toml_path};

fn students_pipeline(source_extra: &str, transform_extra: &str) -> String {
    format!(
        r#"
[source]
type = "files"
path = "input"
format = "lines"
{source_extra}

[[transforms]]
name = "cleaner"
plugin = {}
{transform_extra}

[[sinks]]
name = "students"
type = "csv"
path = "out/students.csv"
"#,
        toml_path(&plugin("students_cleaner"))
    )
}

#[test]
fn check_accepts_a_good_pipeline_shows_its_schemas_and_writes_nothing() {
    let scratch = Scratch::new();
    scratch.write("input/a.txt", "Ann Lee, 30, Art\n");
    scratch.write("pipeline.toml", &students_pipeline("", ""));
    let out = scratch.weir(&["check", "pipeline.toml"]).ok().stdout();
    assert!(out.contains("pipeline.toml: ok"), "{out}");
    assert!(out.contains("source → value Utf8 NOT NULL"), "{out}");
    assert!(out.contains("transform cleaner → first_name Utf8 NOT NULL, last_name Utf8 NOT NULL, age Int32 NOT NULL, field Utf8 NOT NULL"), "{out}");
    assert!(
        !scratch.path().join("out").exists(),
        "check must not create outputs"
    );
}

#[test]
fn a_toml_typo_is_named_with_its_line() {
    let scratch = Scratch::new();
    scratch.write("input/a.txt", "");
    scratch.write(
        "pipeline.toml",
        &students_pipeline("pollinterval_ms = 10", ""),
    );
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(err.contains("pipeline.toml"), "{err}");
    assert!(err.contains("unknown field `pollinterval_ms`"), "{err}");
    // toml points at the table holding the key.
    assert!(err.contains("line 2") && err.contains("[source]"), "{err}");
}

#[test]
fn an_unknown_source_type_lists_the_known_ones() {
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", "[source]\ntype = \"kafkaa\"\n");
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("unknown variant `kafkaa`")
            && err.contains("files")
            && err.contains("generator"),
        "{err}"
    );
}

#[test]
fn a_missing_environment_variable_is_named_with_its_key() {
    let scratch = Scratch::new();
    scratch.write("input/a.txt", "");
    scratch.write(
        "pipeline.toml",
        &students_pipeline("", "config = { column = \"${WEIR_TEST_NOT_SET}\" }"),
    );
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("transforms[0].config.column") && err.contains("WEIR_TEST_NOT_SET"),
        "{err}"
    );
}

#[test]
fn environment_variables_reach_the_plugin_config() {
    let scratch = Scratch::new();
    scratch.write("input/a.txt", "Ann Lee, 30, Art\n");
    scratch.write(
        "pipeline.toml",
        &students_pipeline("", "config = { min_age = \"${WEIR_TEST_MIN_AGE}\" }"),
    );
    let run = std::process::Command::new(weir_tests::weir_bin())
        .args(["run", "pipeline.toml", "--available-now"])
        .current_dir(scratch.path())
        .env("WEIR_TEST_MIN_AGE", "40")
        .output()
        .unwrap();
    assert!(run.status.success());
    assert_eq!(
        scratch.read("out/students.csv"),
        "first_name,last_name,age,field\n",
        "30 is not above 40"
    );
}

#[test]
fn a_missing_plugin_is_named_with_its_key_and_path() {
    let scratch = Scratch::new();
    scratch.write("input/a.txt", "");
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"files\"\npath = \"input\"\nformat = \"lines\"\n\n[[transforms]]\nname = \"t\"\nplugin = \"plugins/nope.wasm\"\n",
    );
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("key `transforms[0]` (t)") && err.contains("plugins/nope.wasm"),
        "{err}"
    );
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn a_missing_source_path_is_named() {
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", &students_pipeline("", ""));
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("key `source.path`") && err.contains("input does not exist"),
        "{err}"
    );
}

#[test]
fn a_csv_source_needs_a_declared_schema() {
    let scratch = Scratch::new();
    scratch.write(
        "pipeline.toml",
        "[source]\ntype = \"files\"\npath = \"x.csv\"\nformat = \"csv\"\n",
    );
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("source.schema") && err.contains("declared schema"),
        "{err}"
    );
}

#[test]
fn a_bad_type_in_the_declared_schema_is_named() {
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", "[source]\ntype = \"files\"\npath = \"x.csv\"\nformat = \"csv\"\nschema = \"a INT, b WHATEVER\"\n");
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("source.schema") && err.contains("column `b`") && err.contains("WHATEVER"),
        "{err}"
    );
}

#[test]
fn a_plugin_that_refuses_the_input_schema_says_why_before_any_record_flows() {
    let scratch = Scratch::new();
    scratch.write("in.csv", "1,2\n");
    let pipeline = students_pipeline("", "").replace(
        "path = \"input\"\nformat = \"lines\"",
        "path = \"in.csv\"\nformat = \"csv\"\nschema = \"id INT, amount INT\"",
    );
    scratch.write("pipeline.toml", &pipeline);
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(err.contains("key `transforms[0]` (cleaner)"), "{err}");
    assert!(
        err.contains("describe failed: input has no column `value` (it has: id, amount)"),
        "{err}"
    );
}

#[test]
fn a_stage_name_used_twice_is_refused() {
    let scratch = Scratch::new();
    scratch.write("pipeline.toml", "[source]\ntype = \"generator\"\ncount = 1\n\n[[sinks]]\nname = \"a\"\ntype = \"csv\"\npath = \"a.csv\"\n\n[[sinks]]\nname = \"a\"\ntype = \"stdout\"\n");
    let err = scratch.weir(&["check", "pipeline.toml"]).fails();
    assert!(
        err.contains("sinks[1].name") && err.contains("used twice"),
        "{err}"
    );
}

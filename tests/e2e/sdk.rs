//! The Rust SDK's helpers, each through a real component: map with row views
//! (`shout`), filter with typed columns and builders (`uppercase`, checked
//! against the native twin the benchmark uses), flat-map (`words`), and the
//! host's log and state (`counter`).

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use arrow::compute::concat_batches;
use std::sync::Arc;
use weir::runtime::{BatchOutcome, ComponentCache, Runtime, TransformPlugin};
use weir_tests::{Scratch, plugin, toml_path};

fn load(
    name: &str,
    config: Vec<(String, String)>,
    schema: arrow::datatypes::SchemaRef,
) -> TransformPlugin {
    let runtime = Runtime::new(ComponentCache::disabled()).unwrap();
    TransformPlugin::load(&runtime, name, &plugin(name), config, schema).unwrap()
}

fn processed(outcome: BatchOutcome) -> (RecordBatch, Vec<u32>) {
    match outcome {
        BatchOutcome::Processed {
            output, selection, ..
        } => (output, selection.origins().values().to_vec()),
        BatchOutcome::Failed { reason } => panic!("the batch failed: {reason}"),
    }
}

#[test]
fn filter_and_builders_match_the_native_transform() {
    let input = weir_tests::uppercase::generate(20_000, 4096);
    let config = vec![("min_score".to_string(), "0.5".to_string())];
    let mut plugin = load("uppercase", config, weir_tests::uppercase::input_schema());
    assert_eq!(
        plugin.projection(),
        Some(&[1usize, 3][..]),
        "reads only name and score"
    );
    let wasm: Vec<RecordBatch> = input
        .iter()
        .map(|b| processed(plugin.process(b)).0)
        .collect();
    let native: Vec<RecordBatch> = input
        .iter()
        .map(weir_tests::uppercase::native_uppercase)
        .collect();
    let schema = weir_tests::uppercase::input_schema();
    let (wasm, native) = (
        concat_batches(&schema, &wasm).unwrap(),
        concat_batches(&schema, &native).unwrap(),
    );
    assert!(
        native.num_rows() > 9_000 && native.num_rows() < 11_000,
        "about half the rows pass"
    );
    assert_eq!(wasm, native);
}

#[test]
fn flat_map_explodes_rows_and_keeps_their_origin() {
    let batch = RecordBatch::try_from_iter(vec![(
        "value",
        Arc::new(StringArray::from(vec!["to be or", "", "not"])) as ArrayRef,
    )])
    .unwrap();
    let mut words = load("words", Vec::new(), batch.schema());
    let (out, origins) = processed(words.process(&batch));
    let got: Vec<&str> = out
        .column(1)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(got, ["to", "be", "or", "not"]);
    assert_eq!(
        origins,
        [0, 0, 0, 2],
        "each word remembers its line; the empty line yields nothing"
    );
    let lines: Vec<&str> = out
        .column(0)
        .as_string::<i32>()
        .iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(
        lines,
        ["to be or", "to be or", "to be or", "not"],
        "other columns follow their row"
    );
}

#[test]
fn flat_map_counts_add_up_in_a_pipeline() {
    let scratch = Scratch::new();
    scratch.write("in.txt", "a b c\n\nd\n");
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"in.txt\"\nformat = \"lines\"\n\n[[transforms]]\nname = \"words\"\nplugin = {}\n\n[[sinks]]\nname = \"out\"\ntype = \"jsonl\"\npath = \"out.jsonl\"\n",
            toml_path(&plugin("words"))
        ),
    );
    let summary = scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok()
        .stderr();
    assert!(
        summary.contains(
            "transform words: 3 in, 4 out, 1 filtered, 0 dead-lettered, 2 added by flat-map"
        ),
        "{summary}"
    );
    assert!(
        summary.contains(
            "3 read = 4 out + 1 filtered + 0 dead-lettered - 2 added by flat-map: all accounted for"
        ),
        "{summary}"
    );
}

#[test]
fn state_persists_across_batches_and_the_plugin_logs() {
    let batch = |ids: Vec<i64>| {
        RecordBatch::try_from_iter(vec![("id", Arc::new(Int64Array::from(ids)) as ArrayRef)])
            .unwrap()
    };
    let first = batch(vec![10, 20, 30]);
    let mut counter = load("counter", Vec::new(), first.schema());
    assert_eq!(
        counter.projection(),
        Some(&[][..]),
        "reads no column at all"
    );
    let (a, _) = processed(counter.process(&first));
    let (b, _) = processed(counter.process(&batch(vec![40, 50])));
    let seq = |b: &RecordBatch| {
        b.column(1)
            .as_primitive::<arrow::datatypes::Int64Type>()
            .values()
            .to_vec()
    };
    assert_eq!(seq(&a), [1, 2, 3]);
    assert_eq!(seq(&b), [4, 5]);
    assert_eq!(b.column(0).len(), 2);
    assert_eq!(
        counter.state().get("next"),
        Some(&6i64.to_le_bytes().to_vec())
    );
}

#[test]
fn map_with_row_views_keeps_nulls() {
    let scratch = Scratch::new();
    scratch.write(
        "people.jsonl",
        "{\"name\":\"ann\",\"age\":3}\n{\"age\":4}\n",
    );
    scratch.write(
        "pipeline.toml",
        &format!(
            "[source]\ntype = \"files\"\npath = \"people.jsonl\"\nformat = \"jsonl\"\nschema = \"name STRING, age INT\"\n\n[[transforms]]\nname = \"shout\"\nplugin = {}\n\n[[sinks]]\nname = \"out\"\ntype = \"csv\"\npath = \"out.csv\"\n",
            toml_path(&plugin("shout"))
        ),
    );
    scratch
        .weir(&["run", "pipeline.toml", "--available-now"])
        .ok();
    assert_eq!(scratch.read("out.csv"), "name,age\nANN,3\n,4\n");
}

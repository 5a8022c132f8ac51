//! The fuzz targets' committed inputs (fuzz/corpus/<target>/) and the
//! inputs of their findings (fuzz/regressions/<target>/), replayed through
//! the same entry points with the normal build: no input panics, and every
//! finding's input is now refused (a dead letter or an error), not kept.
//! The long runs are scripts/fuzz (docs/fuzzing.md).

use weir::config::FileFormat;
use weir::fuzzing::{self, Outcome};

type Target = fn(&[u8]) -> Outcome;

const TARGETS: &[(&str, Target)] = &[
    ("decode_csv", |b| fuzzing::decode_text(FileFormat::Csv, b)),
    ("decode_jsonl", |b| {
        fuzzing::decode_text(FileFormat::Jsonl, b)
    }),
    ("decode_lines", |b| {
        fuzzing::decode_text(FileFormat::Lines, b)
    }),
    ("decode_avro", fuzzing::decode_avro),
    ("pipeline_toml", fuzzing::pipeline_toml),
    ("plugin_output", fuzzing::plugin_output),
];

fn inputs(folder: &str, target: &str) -> Vec<std::path::PathBuf> {
    let dir = weir_tests::root().join("fuzz").join(folder).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries.map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn replay(target: Target, file: &std::path::Path) -> Outcome {
    let bytes = std::fs::read(file).unwrap();
    std::panic::catch_unwind(|| target(&bytes))
        .unwrap_or_else(|_| panic!("{} panics its fuzz target", file.display()))
}

#[test]
fn every_fuzz_target_has_a_seed_corpus_and_no_seed_panics() {
    for (target, run) in TARGETS {
        let seeds = inputs("corpus", target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no inputs");
        for seed in seeds {
            replay(*run, &seed);
        }
    }
}

#[test]
fn every_fuzz_finding_is_refused_not_kept() {
    let mut found = 0;
    for (target, run) in TARGETS {
        for file in inputs("regressions", target) {
            let outcome = replay(*run, &file);
            assert!(
                outcome.refused_something(),
                "{}: nothing refused ({outcome:?})",
                file.display()
            );
            found += 1;
        }
    }
    assert!(found > 0, "fuzz/regressions/ holds the findings' inputs");
}

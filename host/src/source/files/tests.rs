//! The files source over local files: compressed text, Parquet cut to any
//! batch size and resumed mid-file, and the bound on the files remembered.

use super::FilesSource;
use crate::config::FilesConfig;
use crate::source::{Mark, Position, RunMode, Source};
use arrow::array::{Array, Int64Array, RecordBatch};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

fn source(dir: &Path, format: &str, extra: &str) -> FilesSource {
    let text = format!(
        "path = {:?}\nformat = {format:?}\nschema = \"id BIGINT, name STRING\"\nbatch_size = 300\n{extra}",
        dir.display().to_string()
    );
    let config: FilesConfig = toml::from_str(&text).unwrap();
    let mode = RunMode {
        available_now: true,
        flush: false,
        stop: Arc::new(AtomicBool::new(false)),
    };
    FilesSource::new(&config, mode).unwrap()
}

/// The ids of every batch until the end, batch by batch.
fn drain(source: &mut FilesSource) -> Vec<Vec<i64>> {
    let mut batches = Vec::new();
    while let Some(batch) = source.next_batch().unwrap() {
        assert!(batch.rejected.is_empty(), "{:?}", batch.rejected);
        batches.push(ids(&batch.rows.data));
    }
    batches
}

fn ids(batch: &RecordBatch) -> Vec<i64> {
    let column = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    column.values().to_vec()
}

fn csv(first: i64, n: i64) -> String {
    (first..first + n).map(|i| format!("{i},n{i}\n")).collect()
}

#[test]
fn gzip_and_zstd_files_read_as_plain_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv(0, 500).as_bytes()).unwrap();
    std::fs::write(dir.path().join("a.csv.gz"), gz.finish().unwrap()).unwrap();
    let zst = zstd::encode_all(csv(500, 500).as_bytes(), 3).unwrap();
    std::fs::write(dir.path().join("b.csv.zst"), zst).unwrap();
    std::fs::write(dir.path().join("c.csv"), csv(1000, 10)).unwrap();
    let mut files = source(dir.path(), "csv", "");
    let all: Vec<i64> = drain(&mut files).concat();
    assert_eq!(all, (0..1010).collect::<Vec<_>>());
}

fn write_parquet(path: &Path, n: i64) {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("id", arrow::datatypes::DataType::Int32, false),
        arrow::datatypes::Field::new("extra", arrow::datatypes::DataType::Float64, false),
        arrow::datatypes::Field::new("name", arrow::datatypes::DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(arrow::array::Int32Array::from_iter_values(0..n as i32)),
            Arc::new(arrow::array::Float64Array::from_iter_values(
                (0..n).map(|i| i as f64),
            )),
            Arc::new(arrow::array::StringArray::from_iter_values(
                (0..n).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(400))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

#[test]
fn parquet_is_projected_cast_cut_as_a_replay_asks_and_resumed_mid_file() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("a.parquet"), 1000);
    let mut files = source(dir.path(), "parquet", "");
    let first = files.next_batch().unwrap().unwrap();
    // Two columns of three, the INT read as the declared BIGINT.
    assert_eq!(first.rows.data.num_columns(), 2);
    assert_eq!(ids(&first.rows.data), (0..300).collect::<Vec<_>>());
    let second = files.next_batch().unwrap().unwrap();
    assert_eq!(ids(&second.rows.data), (300..600).collect::<Vec<_>>());
    let at = files.position();

    let mut resumed = source(dir.path(), "parquet", "");
    resumed.restore(&at).unwrap();
    resumed.replay(&[
        Mark {
            partition: 0,
            records: 250,
        },
        Mark {
            partition: 0,
            records: 7,
        },
    ]);
    let batches = drain(&mut resumed);
    let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
    assert_eq!(sizes, [250, 7, 143]);
    assert_eq!(batches.concat(), (600..1000).collect::<Vec<_>>());
}

fn touch(path: &Path, text: &str, age: Duration) {
    std::fs::write(path, text).unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn files_much_older_than_the_newest_read_are_forgotten_and_not_read_late() {
    let dir = tempfile::tempdir().unwrap();
    let day = Duration::from_secs(86_400);
    touch(&dir.path().join("a.csv"), &csv(0, 1), 10 * day);
    touch(&dir.path().join("b.csv"), &csv(1, 1), Duration::ZERO);
    let mut files = source(dir.path(), "csv", "max_file_age = \"7d\"");
    // The first listing takes every file, however old.
    assert_eq!(drain(&mut files).concat(), [0, 1]);
    let Position::Files {
        read,
        forget_before,
        ..
    } = files.position()
    else {
        unreachable!()
    };
    let names: Vec<&str> = read
        .iter()
        .map(|f| f.name.rsplit('/').next().unwrap())
        .collect();
    assert_eq!(names, ["b.csv"], "a.csv is forgotten");
    assert!(forget_before > 0);

    // A restored source lists again: a.csv is not read twice, a late file
    // older than the bound is skipped, a new one is read.
    touch(&dir.path().join("c.csv"), &csv(2, 1), 9 * day);
    touch(&dir.path().join("d.csv"), &csv(3, 1), Duration::ZERO);
    let at = files.position();
    let mut resumed = source(dir.path(), "csv", "max_file_age = \"7d\"");
    resumed.restore(&at).unwrap();
    assert_eq!(drain(&mut resumed).concat(), [3]);
}

#[test]
fn max_files_per_batch_queues_a_listing_a_slice_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    for f in 0..5 {
        std::fs::write(dir.path().join(format!("{f}.csv")), csv(f, 1)).unwrap();
    }
    let mut files = source(dir.path(), "csv", "max_files_per_batch = 2");
    let first = files.next_batch().unwrap().unwrap();
    assert_eq!(ids(&first.rows.data), [0, 1]);
    let Position::Files { pending, read, .. } = files.position() else {
        unreachable!()
    };
    assert_eq!(
        (read.len(), pending.len()),
        (2, 0),
        "the rest is not in the checkpoint"
    );
    assert_eq!(drain(&mut files).concat(), [2, 3, 4]);
}

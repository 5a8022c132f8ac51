//! Entry points for the fuzz targets (fuzz/) and the replay of their corpus
//! (tests/e2e/fuzz_corpus.rs): each takes untrusted bytes the way weir gets
//! them, runs the real code path, and panics only if an invariant breaks
//! (a panic is what the fuzzer reports). Thin wrappers, no logic of their own.
//!
//! Always built, not behind a feature: the normal test suite replays the
//! corpus through it with the product's own build, so what is fuzzed is what
//! ships.

use crate::avro::Registry;
use crate::config::kafka::RegistryConfig;
use crate::config::{FileFormat, PipelineConfig, PluginLimits, ddl};
use crate::contract::wit;
use crate::runtime::BatchOutcome;
use crate::source::decode::avro::AvroDecoder;
use crate::source::decode::{Decoder, Line};
use arbitrary::{Result as ArbResult, Unstructured};
use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use std::path::Path;
use std::sync::Arc;

/// What became of one input: rows kept, inputs refused (dead letters), or
/// an error for the whole input.
#[derive(Debug, Default)]
pub struct Outcome {
    pub rows: usize,
    pub refused: usize,
    pub error: Option<String>,
}

impl Outcome {
    fn error(e: impl ToString) -> Self {
        Outcome {
            error: Some(e.to_string()),
            ..Outcome::default()
        }
    }

    /// True if some of the input was refused or the whole of it was.
    pub fn refused_something(&self) -> bool {
        self.refused > 0 || self.error.is_some()
    }
}

/// The schema text decoders use unless the input's first line is a DDL
/// schema itself (so the fuzzer also explores schemas).
const DEFAULT_DDL: &str = "id BIGINT NOT NULL, name STRING, price DECIMAL(10,2), \
    at TIMESTAMP, ok BOOLEAN, day DATE, ratio DOUBLE, small INT, f FLOAT, raw BINARY";

/// `format` is `lines`, `csv` or `jsonl`; `bytes` is a file's content, cut
/// into lines as the files source does.
pub fn decode_text(format: FileFormat, bytes: &[u8]) -> Outcome {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    let mut schema = ddl::parse_schema(DEFAULT_DDL).expect("the default schema parses");
    if let Some(first) = lines.first()
        && let Ok(text) = std::str::from_utf8(first)
        && let Ok(declared) = ddl::parse_schema(text)
    {
        schema = declared;
        lines.remove(0);
    }
    let source: Arc<str> = Arc::from("fuzz");
    let lines: Vec<Line> = lines
        .into_iter()
        .enumerate()
        .map(|(i, mut line)| {
            while let [rest @ .., b'\n' | b'\r'] = line {
                line = rest;
            }
            let (text, valid_utf8) = match std::str::from_utf8(line) {
                Ok(t) => (t.to_string(), true),
                Err(_) => (String::from_utf8_lossy(line).into_owned(), false),
            };
            Line {
                source: source.clone(),
                offset: i as i64 + 1,
                text,
                valid_utf8,
            }
        })
        .collect();
    let n = lines.len();
    let decoded = Decoder::new(format, Some(schema), ',').decode(lines);
    assert_eq!(decoded.batch.num_rows(), decoded.origins.len());
    assert_eq!(
        decoded.origins.len() + decoded.rejected.len(),
        n,
        "every line is kept or refused"
    );
    Outcome {
        rows: decoded.origins.len(),
        refused: decoded.rejected.len(),
        error: None,
    }
}

const AVRO_WRITER_V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"}]}"#;
const AVRO_READER: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"},{"name":"age","type":"int"},{"name":"email","type":["null","string"],"default":null},{"name":"tags","type":{"type":"array","items":"string"},"default":[]},{"name":"seen","type":{"type":"long","logicalType":"timestamp-millis"},"default":0},{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"]},"default":"A"},{"name":"scores","type":{"type":"map","values":"long"},"default":{}}]}"#;

/// Kafka record values: each is a 2-byte little-endian length and that many
/// bytes (length 0xffff: a tombstone). A framed record's schema id is made
/// 1 (an older writer schema) or 2 (the reader schema) by its last id byte,
/// so that no registry is needed.
pub fn decode_avro(bytes: &[u8]) -> Outcome {
    let mut records: Vec<Option<Vec<u8>>> = Vec::new();
    let mut rest = bytes;
    while let [a, b, tail @ ..] = rest {
        let len = u16::from_le_bytes([*a, *b]);
        if len == u16::MAX {
            records.push(None);
            rest = tail;
            continue;
        }
        let len = (len as usize).min(tail.len());
        let mut record = tail[..len].to_vec();
        if record.len() >= 5 && record[0] == 0 {
            let id = 1 + record[4] % 2;
            record[1..5].copy_from_slice(&[0, 0, 0, id]);
        }
        records.push(Some(record));
        rest = &tail[len..];
    }
    // Never asked (every id is known): made once, not per input.
    static REGISTRY: std::sync::OnceLock<Arc<Registry>> = std::sync::OnceLock::new();
    let registry = REGISTRY.get_or_init(|| {
        Arc::new(
            Registry::new(&RegistryConfig {
                url: "http://127.0.0.1:9".to_string(),
                username: None,
                password: None,
                ca_location: None,
                subject: None,
                reader_schema_id: Some(2),
                patience_ms: 0,
            })
            .expect("no registry settings to refuse"),
        )
    });
    let mut decoder = AvroDecoder::new(registry.clone(), 2, AVRO_READER.to_string(), 4)
        .expect("the reader schema is usable");
    decoder
        .learn_writer(1, AVRO_WRITER_V1.to_string())
        .expect("v1 resolves to the reader schema");
    let framed: Vec<Option<&[u8]>> = records.iter().map(|r| r.as_deref()).collect();
    let decoded = match decoder.decode(&framed) {
        Ok(d) => d,
        Err(e) => return Outcome::error(e),
    };
    assert_eq!(
        decoded.batch.num_rows(),
        decoded.rows.len(),
        "one input index per row"
    );
    let mut seen = vec![false; records.len()];
    for i in decoded
        .rows
        .iter()
        .chain(decoded.refused.iter().map(|(i, _)| i))
    {
        assert!(!std::mem::replace(&mut seen[*i], true), "record {i} twice");
    }
    assert!(seen.iter().all(|s| *s), "every record is kept or refused");
    Outcome {
        rows: decoded.rows.len(),
        refused: decoded.refused.len(),
        error: None,
    }
}

/// A pipeline file's text (not UTF-8: refused as `load` refuses it).
pub fn pipeline_toml(bytes: &[u8]) -> Outcome {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Outcome::error("not UTF-8");
    };
    match PipelineConfig::from_text(text, Path::new("/nonexistent/fuzz.toml")) {
        Ok(_) => Outcome {
            rows: 1,
            ..Outcome::default()
        },
        Err(e) => Outcome::error(e),
    }
}

/// A plugin's plan and its output for one batch, built from `bytes`, checked
/// by the host as a transform's returns are.
pub fn plugin_output(bytes: &[u8]) -> Outcome {
    let mut u = Unstructured::new(bytes);
    let Ok((input, plan, output)) = plugin_call(&mut u) else {
        return Outcome::error("too few bytes");
    };
    let schema = match crate::runtime::convert::schema_from_wit(&plan) {
        Ok(s) => s,
        Err(e) => return Outcome::error(e),
    };
    let limits = PluginLimits {
        max_output_rows: 64,
        max_rejected: Some(16),
        ..PluginLimits::default()
    };
    match crate::runtime::output::assemble(&input, output, &schema, limits) {
        Ok(BatchOutcome::Processed {
            output,
            selection,
            rejections,
        }) => {
            assert_eq!(output.num_rows(), selection.output_rows());
            assert_eq!(output.schema(), schema);
            Outcome {
                rows: output.num_rows(),
                refused: rejections.len(),
                error: None,
            }
        }
        Ok(BatchOutcome::Failed { reason }) => Outcome::error(reason),
        Err(e) => Outcome::error(e),
    }
}

/// The input batch (0 to 7 rows of `id BIGINT NOT NULL, name STRING`), the
/// plan and the output.
fn plugin_call(
    u: &mut Unstructured<'_>,
) -> ArbResult<(RecordBatch, wit::Schema, wit::TransformOutput)> {
    let rows = u.int_in_range(0..=7usize)?;
    let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
    let names: ArrayRef = Arc::new(StringArray::from_iter(
        (0..rows).map(|i| (i % 3 != 0).then(|| format!("n{i}"))),
    ));
    let input = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ])),
        vec![ids, names],
    )
    .expect("two columns of one length");
    let names = ["id", "name", "out", "x"];
    let mut fields = Vec::new();
    for _ in 0..u.int_in_range(0..=5)? {
        fields.push(wit::Field {
            name: u.choose(&names)?.to_string(),
            data_type: data_type(u)?,
            nullable: u.arbitrary()?,
        });
    }
    let columns = small_vec(u, 4, |u| u.int_in_range(0..=fields.len() as u32))?;
    let plan = wit::Schema { fields, columns };
    let selection = match u.int_in_range(0..=2)? {
        0 => wit::RowSelection::All,
        1 => wit::RowSelection::Mask(small_vec(u, 3, |u| u.arbitrary())?),
        _ => wit::RowSelection::Take(small_vec(u, 10, |u| u.int_in_range(0..=8))?),
    };
    let out_columns = small_vec(u, 4, |u| {
        Ok(wit::OutputColumn {
            name: u.choose(&names)?.to_string(),
            source: if u.arbitrary()? {
                wit::ColumnSource::Input(u.int_in_range(0..=2)?)
            } else {
                wit::ColumnSource::Computed(u.int_in_range(0..=4)?)
            },
        })
    })?;
    let arrays = small_vec(u, 5, array)?;
    let rejections = small_vec(u, 4, |u| {
        Ok(wit::Rejection {
            row: u.int_in_range(0..=8)?,
            reason: "fuzz".to_string(),
        })
    })?;
    Ok((
        input,
        plan,
        wit::TransformOutput {
            rows: selection,
            columns: out_columns,
            arrays,
            rejections,
        },
    ))
}

fn small_vec<T>(
    u: &mut Unstructured<'_>,
    max: usize,
    mut item: impl FnMut(&mut Unstructured<'_>) -> ArbResult<T>,
) -> ArbResult<Vec<T>> {
    let n = u.int_in_range(0..=max)?;
    (0..n).map(|_| item(u)).collect()
}

fn data_type(u: &mut Unstructured<'_>) -> ArbResult<wit::DataType> {
    use wit::DataType as T;
    Ok(match u.int_in_range(0..=11)? {
        0 => T::Boolean,
        1 => T::Int32,
        2 => T::Int64,
        3 => T::Float32,
        4 => T::Float64,
        5 => T::Utf8,
        6 => T::Binary,
        7 => T::Timestamp(wit::TimestampType {
            unit: *u.choose(&[
                wit::TimeUnit::Second,
                wit::TimeUnit::Millisecond,
                wit::TimeUnit::Microsecond,
                wit::TimeUnit::Nanosecond,
            ])?,
            timezone: if u.arbitrary()? {
                Some(
                    u.choose(&["UTC", "Asia/Seoul", "+09:00", "Nowhere/Else", ""])?
                        .to_string(),
                )
            } else {
                None
            },
        }),
        8 => T::Date32,
        9 => T::Decimal128(wit::DecimalType {
            precision: u.arbitrary()?,
            scale: u.arbitrary()?,
        }),
        10 => T::List(u.int_in_range(0..=6)?),
        _ => T::Struct(small_vec(u, 3, |u| u.int_in_range(0..=6))?),
    })
}

fn array(u: &mut Unstructured<'_>) -> ArbResult<wit::Array> {
    use wit::Values as V;
    let len = u.int_in_range(0..=9)?;
    let validity = if u.arbitrary()? {
        Some(small_vec(u, 3, |u| u.arbitrary())?)
    } else {
        None
    };
    let var_bytes = |u: &mut Unstructured<'_>| -> ArbResult<wit::VarBytes> {
        Ok(wit::VarBytes {
            offsets: small_vec(u, 11, |u| u.int_in_range(-2..=40))?,
            bytes: small_vec(u, 40, |u| u.arbitrary())?,
        })
    };
    let values = match u.int_in_range(0..=11)? {
        0 => V::Boolean(small_vec(u, 3, |u| u.arbitrary())?),
        1 => V::Int32(small_vec(u, 10, |u| u.arbitrary())?),
        2 => V::Int64(small_vec(u, 10, |u| u.arbitrary())?),
        3 => V::Float32(small_vec(u, 10, |u| u.arbitrary())?),
        4 => V::Float64(small_vec(u, 10, |u| u.arbitrary())?),
        5 => V::Utf8(var_bytes(u)?),
        6 => V::Binary(var_bytes(u)?),
        7 => V::Timestamp(small_vec(u, 10, |u| u.arbitrary())?),
        8 => V::Date32(small_vec(u, 10, |u| u.arbitrary())?),
        9 => V::Decimal128(small_vec(u, 170, |u| u.arbitrary())?),
        10 => V::List(wit::ListData {
            offsets: small_vec(u, 11, |u| u.int_in_range(-2..=20))?,
            item: u.int_in_range(0..=5)?,
        }),
        _ => V::Struct(small_vec(u, 3, |u| u.int_in_range(0..=5))?),
    };
    Ok(wit::Array {
        len,
        validity,
        values,
    })
}

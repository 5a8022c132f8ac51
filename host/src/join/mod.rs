//! Stream–table joins: each row of the stream is enriched with the columns
//! of the reference-table row whose key equals its own, as Spark's
//! stream–static join and Flink's lookup join do. The table is a file or a
//! SQL query's result, held whole and read again when it changes, or a SQL
//! table looked up by key (see [`reference`]). An unmatched row is kept
//! with nulls (`left`), dropped or dead-lettered (`inner`).

mod cache;
mod changelog;
mod file;
pub mod granted;
pub mod interval;
pub mod reference;
mod sql;
pub mod table;

use crate::config::join::{JoinConfig, JoinKind, OnMiss};
use crate::envelope::Envelope;
use crate::observe::summary::{StageCounts, TransformCounts};
use crate::operator::{Operator, OperatorError, Processed, Refusal, StateTables};
use crate::runtime::RowSelection;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use reference::Reference;
use std::sync::Arc;
use table::names;

pub struct JoinStage {
    /// `join:NAME`, the stage's name in checkpoints and dead letters.
    stage: String,
    config: JoinConfig,
    table: Reference,
    /// The table's columns each row gets, by index in the table.
    added: Vec<usize>,
    output: SchemaRef,
    counts: TransformCounts,
}

impl JoinStage {
    /// Loads the table and plans the join against the stream's `input`:
    /// the key columns exist on both sides with the same types, and the
    /// columns added do not clash with the stream's.
    pub fn new(
        config: &JoinConfig,
        input: &SchemaRef,
        connections: &std::collections::BTreeMap<String, crate::config::ConnectionConfig>,
    ) -> Result<JoinStage, String> {
        let table = Reference::open(
            &format!("join:{}", config.name),
            &config.table,
            config.table_keys(),
            connections,
        )
        .map_err(|e| format!("table`: {e}"))?;
        let schema = table.schema();
        for (i, (ours, theirs)) in config.on.iter().zip(config.table_keys()).enumerate() {
            let stream = input.field_with_name(ours).map_err(|_| {
                format!(
                    "on[{i}]`: the stream has no column `{ours}` (it has: {})",
                    names(input)
                )
            })?;
            let table_field = schema.field_with_name(theirs).map_err(|_| {
                format!(
                    "table_on[{i}]`: the table has no column `{theirs}` (it has: {})",
                    names(&schema)
                )
            })?;
            if stream.data_type() != table_field.data_type() {
                return Err(format!(
                    "on[{i}]`: the stream's `{ours}` is {} but the table's `{theirs}` is {}; declare both the same type",
                    stream.data_type(),
                    table_field.data_type()
                ));
            }
        }
        let keys = config.table_keys();
        let wanted: Vec<String> = match &config.columns {
            Some(columns) => columns.clone(),
            None => schema
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| !keys.contains(n))
                .collect(),
        };
        let mut added = Vec::new();
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for column in &wanted {
            let index = schema.index_of(column).map_err(|_| {
                format!(
                    "columns`: the table has no column `{column}` (it has: {})",
                    names(&schema)
                )
            })?;
            if input.field_with_name(column).is_ok() {
                return Err(format!(
                    "columns`: the stream already has a column `{column}`; list the table's columns to add in `columns`, without it"
                ));
            }
            let field = schema.field(index).clone();
            // A left join's unmatched rows get nulls.
            let nullable = field.is_nullable() || config.kind == JoinKind::Left;
            let field = field.with_nullable(nullable);
            fields.push(field);
            added.push(index);
        }
        let stage = format!("join:{}", config.name);
        Ok(JoinStage {
            counts: TransformCounts {
                kind: Some("join"),
                ..TransformCounts::new(&config.name)
            },
            stage,
            config: config.clone(),
            table,
            added,
            output: Arc::new(Schema::new(fields)),
        })
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Why an unmatched row went to the dead-letter: its key.
    fn miss_reason(&self, keys: &[ArrayRef], row: usize) -> String {
        let shown: Vec<String> = self
            .config
            .on
            .iter()
            .zip(keys)
            .map(|(name, column)| {
                let value = arrow::util::display::array_value_to_string(column, row)
                    .unwrap_or_else(|_| "?".to_string());
                let value = if column.is_null(row) {
                    "null".to_string()
                } else {
                    value
                };
                format!("{name} = {value}")
            })
            .collect();
        format!(
            "no row of the `{}` table has {}",
            self.config.name,
            shown.join(", ")
        )
    }
}

/// The state table a changelog join's offsets are kept under.
const CHANGELOG: &str = "changelog";

fn failed(stage: &str, e: impl std::fmt::Display) -> OperatorError {
    OperatorError::Join {
        stage: stage.to_string(),
        reason: e.to_string(),
    }
}

impl Operator for JoinStage {
    fn name(&self) -> &str {
        &self.stage
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        _partition: i32,
    ) -> Result<Processed, OperatorError> {
        let n = rows.num_rows();
        self.counts.rows_in += n as u64;
        let keys =
            table::key_columns(&rows.data, &self.config.on).map_err(|e| failed(&self.stage, e))?;
        let probe = self.table.probe(&keys).map_err(|e| {
            if e.starts_with(reference::STOPPED) {
                OperatorError::Interrupted {
                    stage: format!("join `{}`", self.config.name),
                    reason: e,
                }
            } else {
                failed(&self.stage, e)
            }
        })?;
        let matches = probe.matches;
        let miss = self.config.miss();
        let (selection, input, indices, refused) = match miss {
            OnMiss::Null => {
                let indices: UInt32Array = matches.iter().copied().collect();
                (
                    RowSelection::All { rows: n },
                    rows.data.clone(),
                    indices,
                    Vec::new(),
                )
            }
            OnMiss::Drop | OnMiss::DeadLetter => {
                let mask: BooleanArray = matches.iter().map(|m| Some(m.is_some())).collect();
                let refused = match miss {
                    OnMiss::DeadLetter => (0..n)
                        .filter(|&row| matches[row].is_none())
                        .map(|row| Refusal {
                            stage: self.stage.clone(),
                            row,
                            reason: self.miss_reason(&keys, row),
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let indices: UInt32Array = matches.iter().filter_map(|m| *m).map(Some).collect();
                let selection = RowSelection::filter(mask);
                let input = selection
                    .apply_batch(&rows.data)
                    .map_err(|e| failed(&self.stage, e))?;
                (selection, input, indices, refused)
            }
        };
        let mut columns = input.columns().to_vec();
        for &column in &self.added {
            let taken = arrow::compute::take(probe.rows.column(column), &indices, None)
                .map_err(|e| failed(&self.stage, e))?;
            columns.push(taken);
        }
        let output = RecordBatch::try_new(self.output.clone(), columns)
            .map_err(|e| failed(&self.stage, e))?;
        self.counts.record(n, &selection, refused.len());
        let rows = rows.derive(output, &selection);
        let letters = self.table.take_letters();
        self.counts.table_dead_lettered += letters.len() as u64;
        Ok(Processed {
            letters,
            ..Processed::of(rows, refused)
        })
    }

    fn on_start(&mut self, _epoch: u64, checkpointed: bool) -> Result<(), OperatorError> {
        self.table.set_checkpointed(checkpointed);
        Ok(())
    }

    /// What a checkpoint records: a whole table's version (a replay that
    /// finds another joins against it, and says so), or the offsets a
    /// changelog table moved to for the next epoch.
    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        let mut tables = StateTables::new();
        if let Some(offsets) = self.table.advance_for_checkpoint() {
            let saved = serde_json::to_vec(&offsets).expect("offsets serialise");
            tables.insert(CHANGELOG.to_string(), saved);
        }
        Some((self.table.version().map(str::to_string), tables))
    }

    fn restore(&mut self, build: Option<&str>, tables: &StateTables) -> Result<(), OperatorError> {
        if let Some(saved) = tables.get(CHANGELOG) {
            let offsets: std::collections::BTreeMap<i32, i64> = serde_json::from_slice(saved)
                .map_err(|e| OperatorError::Restore {
                    stage: self.stage.clone(),
                    reason: format!("the changelog offsets: {e}"),
                })?;
            self.table
                .rewind(&offsets)
                .map_err(|reason| OperatorError::Restore {
                    stage: self.stage.clone(),
                    reason,
                })?;
            tracing::info!(join = %self.config.name, offsets = ?offsets, "The changelog table is back at the checkpoint's offsets.");
        }
        if let (Some(saved), Some(now)) = (build, self.table.version())
            && saved != now
        {
            tracing::warn!(join = %self.config.name, checkpoint = %crate::observe::status::short(saved), now = %crate::observe::status::short(now), "The table changed since the checkpoint: rows read again join against its current version (see docs/joins.md).");
        }
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        StageCounts::Transform(TransformCounts {
            lookups: self.table.lookups(),
            ..self.counts.clone()
        })
    }
}

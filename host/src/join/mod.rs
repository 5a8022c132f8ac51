//! Stream–table joins: each row of the stream is enriched with the columns
//! of the reference-table row whose key equals its own, as Spark's
//! stream–static join and Flink's lookup join do. The table is a file read
//! whole at start and read again when it changes (the last good version
//! stays in use if the new one cannot be read). An unmatched row is kept
//! with nulls (`left`), dropped or dead-lettered (`inner`).

pub mod table;

use crate::config::join::{JoinConfig, JoinKind, OnMiss};
use crate::envelope::Envelope;
use crate::observe::summary::{StageCounts, TransformCounts};
use crate::operator::{Operator, OperatorError, Processed, Refusal, StateTables};
use crate::runtime::RowSelection;
use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, UInt32Array};
use arrow::datatypes::{Field, Schema, SchemaRef};
use std::sync::Arc;
use std::time::{Duration, Instant};
use table::{FileStamp, LookupTable};

/// How often the table's file is looked at for a change.
const RECHECK: Duration = Duration::from_secs(1);

pub struct JoinStage {
    /// `join:NAME`, the stage's name in checkpoints and dead letters.
    stage: String,
    config: JoinConfig,
    table: LookupTable,
    stamp: Option<FileStamp>,
    checked: Instant,
    /// The table's columns each row gets, by index in the table.
    added: Vec<usize>,
    output: SchemaRef,
    counts: TransformCounts,
}

impl JoinStage {
    /// Loads the table and plans the join against the stream's `input`:
    /// the key columns exist on both sides with the same types, and the
    /// columns added do not clash with the stream's.
    pub fn new(config: &JoinConfig, input: &SchemaRef) -> Result<JoinStage, String> {
        let stamp = table::stamp(&config.table).ok();
        let table = LookupTable::load(&config.table, config.table_keys())
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
        tracing::info!(join = %config.name, path = %config.table.path.display(), rows = table.rows.num_rows(), sha256 = %crate::observe::status::short(&table.sha256), "Table read.");
        if table.duplicates > 0 {
            tracing::warn!(join = %config.name, duplicates = table.duplicates, "The table repeats keys; each row joins the last row of its key.");
        }
        Ok(JoinStage {
            counts: TransformCounts {
                kind: Some("join"),
                ..TransformCounts::new(&config.name)
            },
            stage,
            config: config.clone(),
            table,
            stamp,
            checked: Instant::now(),
            added,
            output: Arc::new(Schema::new(fields)),
        })
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.output.clone()
    }

    /// Reads the table again if its file changed. A version that cannot be
    /// read, or whose columns differ, is refused with a warning and the
    /// last good one kept: the stages after were planned for its columns.
    fn refresh(&mut self) {
        if self.checked.elapsed() < RECHECK {
            return;
        }
        self.checked = Instant::now();
        let now = match table::stamp(&self.config.table) {
            Ok(now) => now,
            Err(e) => {
                if self.stamp.take().is_some() {
                    tracing::warn!(join = %self.config.name, path = %self.config.table.path.display(), error = %e, "The table's file cannot be read; the last version read stays in use.");
                }
                return;
            }
        };
        if self.stamp.as_ref() == Some(&now) {
            return;
        }
        self.stamp = Some(now);
        match LookupTable::load(&self.config.table, self.config.table_keys()) {
            Ok(next) if next.schema() != self.table.schema() => {
                tracing::warn!(join = %self.config.name, "The table's file changed its columns; the last version read stays in use.");
            }
            Ok(next) if next.sha256 == self.table.sha256 => {}
            Ok(next) => {
                tracing::info!(join = %self.config.name, rows = next.rows.num_rows(), sha256 = %crate::observe::status::short(&next.sha256), "The table changed; joining against its new version.");
                self.table = next;
            }
            Err(e) => {
                tracing::warn!(join = %self.config.name, error = %e, "The table's new version cannot be read; the last version read stays in use.");
            }
        }
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

fn names(schema: &Schema) -> String {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    names.join(", ")
}

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
        self.refresh();
        let n = rows.num_rows();
        self.counts.rows_in += n as u64;
        let keys =
            table::key_columns(&rows.data, &self.config.on).map_err(|e| failed(&self.stage, e))?;
        let matches = self
            .table
            .lookup(&keys)
            .map_err(|e| failed(&self.stage, e))?;
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
            let taken = arrow::compute::take(self.table.rows.column(column), &indices, None)
                .map_err(|e| failed(&self.stage, e))?;
            columns.push(taken);
        }
        let output = RecordBatch::try_new(self.output.clone(), columns)
            .map_err(|e| failed(&self.stage, e))?;
        self.counts.record(n, &selection, refused.len());
        let rows = rows.derive(output, &selection);
        Ok(Processed::of(rows, refused))
    }

    /// The table's version is what a checkpoint records: a replay that
    /// finds another version joins against it, and says so.
    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        Some((Some(self.table.sha256.clone()), StateTables::new()))
    }

    fn restore(&mut self, build: Option<&str>, _tables: &StateTables) -> Result<(), OperatorError> {
        if let Some(saved) = build
            && saved != self.table.sha256
        {
            tracing::warn!(join = %self.config.name, checkpoint = %crate::observe::status::short(saved), now = %crate::observe::status::short(&self.table.sha256), "The table changed since the checkpoint: rows read again join against its current version (see docs/joins.md).");
        }
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        StageCounts::Transform(self.counts.clone())
    }
}

//! The pipeline's `[tables]`, which transforms granted them look keys up
//! in through the `lookup` capability. They are opened once and shared by
//! every transform that names them; as an operator at the head of the
//! chain they pass rows through untouched and take part in checkpoints, so
//! a replayed epoch looks keys up in the table its first run saw, as a
//! join's does (see docs/joins.md).

use super::reference::Reference;
use crate::config::ConnectionConfig;
use crate::config::join::TableConfig;
use crate::envelope::Envelope;
use crate::observe::summary::{LookupCounts, StageCounts, TransformCounts};
use crate::operator::{Operator, OperatorError, Processed, StateTables};
use crate::runtime::{Found, Tables};
use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{Schema, SchemaRef};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The stage's name in checkpoints and dead letters.
pub const STAGE: &str = "tables";

/// The open tables, by name.
pub struct GrantedTables {
    tables: BTreeMap<String, Reference>,
}

impl GrantedTables {
    /// Opens every table; an error names the table.
    pub fn open(
        configs: &BTreeMap<String, TableConfig>,
        connections: &BTreeMap<String, ConnectionConfig>,
    ) -> Result<Self, (String, String)> {
        let mut tables = BTreeMap::new();
        for (name, config) in configs {
            let keys = config.key.as_deref().unwrap_or_default();
            let table = Reference::open(&format!("table:{name}"), config, keys, connections)
                .map_err(|e| (name.clone(), e))?;
            tables.insert(name.clone(), table);
        }
        Ok(GrantedTables { tables })
    }

    fn table(&self, name: &str) -> Result<&Reference, String> {
        self.tables
            .get(name)
            .ok_or_else(|| format!("no table `{name}` is declared"))
    }
}

impl Tables for GrantedTables {
    fn describe(&self, table: &str) -> Result<(SchemaRef, Vec<String>), String> {
        let table = self.table(table)?;
        Ok((table.schema(), table.keys().to_vec()))
    }

    fn get(&mut self, table: &str, keys: &[ArrayRef]) -> Result<Found, String> {
        let name = table;
        let table = self
            .tables
            .get_mut(name)
            .ok_or_else(|| format!("no table `{name}` is declared"))?;
        let probe = table.probe(keys)?;
        // Aligned with the keys: row i is key i's, all nulls where none.
        let indices: UInt32Array = probe.matches.iter().copied().collect();
        let columns = probe
            .rows
            .columns()
            .iter()
            .map(|c| arrow::compute::take(c, &indices, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let fields: Vec<_> = probe
            .rows
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let rows = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| e.to_string())?;
        Ok(Found {
            rows,
            found: probe.matches.iter().map(Option::is_some).collect(),
            waited: probe.waited,
        })
    }
}

/// The tables as the head of the chain: rows pass; checkpoints record each
/// table's version and move its changelog on.
pub struct TablesStage {
    tables: Arc<Mutex<GrantedTables>>,
    rows: u64,
    /// Changelog records refused (dead-lettered, not rows of the stream).
    table_dead_lettered: u64,
}

impl TablesStage {
    pub fn new(tables: Arc<Mutex<GrantedTables>>) -> Self {
        TablesStage {
            tables,
            rows: 0,
            table_dead_lettered: 0,
        }
    }

    fn tables(&self) -> std::sync::MutexGuard<'_, GrantedTables> {
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A checkpoint's record of one table: its version, and a changelog's
/// offsets for the next epoch.
#[derive(serde::Serialize, serde::Deserialize)]
struct Saved {
    version: Option<String>,
    offsets: Option<BTreeMap<i32, i64>>,
}

impl Operator for TablesStage {
    fn name(&self) -> &str {
        STAGE
    }

    fn on_start(&mut self, _epoch: u64, checkpointed: bool) -> Result<(), OperatorError> {
        for table in self.tables().tables.values_mut() {
            table.set_checkpointed(checkpointed);
        }
        Ok(())
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        _partition: i32,
    ) -> Result<Processed, OperatorError> {
        self.rows += rows.num_rows() as u64;
        let letters: Vec<_> = self
            .tables()
            .tables
            .values_mut()
            .flat_map(Reference::take_letters)
            .collect();
        self.table_dead_lettered += letters.len() as u64;
        Ok(Processed {
            letters,
            ..Processed::of(rows.clone(), Vec::new())
        })
    }

    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        let mut saved = StateTables::new();
        for (name, table) in &mut self.tables().tables {
            let offsets = table.advance_for_checkpoint();
            let record = Saved {
                version: table.version().map(str::to_string),
                offsets,
            };
            saved.insert(
                name.clone(),
                serde_json::to_vec(&record).expect("a table's record serialises"),
            );
        }
        Some((None, saved))
    }

    fn restore(&mut self, _build: Option<&str>, saved: &StateTables) -> Result<(), OperatorError> {
        let refused = |reason: String| OperatorError::Restore {
            stage: STAGE.to_string(),
            reason,
        };
        for (name, table) in &mut self.tables().tables {
            let Some(record) = saved.get(name) else {
                continue;
            };
            let record: Saved = serde_json::from_slice(record)
                .map_err(|e| refused(format!("table `{name}`: {e}")))?;
            if let Some(offsets) = &record.offsets {
                table
                    .rewind(offsets)
                    .map_err(|e| refused(format!("table `{name}`: {e}")))?;
                tracing::info!(table = %name, offsets = ?offsets, "The changelog table is back at the checkpoint's offsets.");
            }
            if let (Some(saved), Some(now)) = (&record.version, table.version())
                && saved != now
            {
                tracing::warn!(table = %name, checkpoint = %crate::observe::status::short(saved), now = %crate::observe::status::short(now), "The table changed since the checkpoint: rows read again look keys up in its current version (see docs/joins.md).");
            }
        }
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        let tables = self.tables();
        let lookups = tables
            .tables
            .values()
            .filter_map(Reference::lookups)
            .reduce(|a, b| LookupCounts {
                queries: a.queries + b.queries,
                keys: a.keys + b.keys,
                cache_hits: a.cache_hits + b.cache_hits,
            });
        StageCounts::Transform(TransformCounts {
            kind: Some("tables"),
            rows_in: self.rows,
            rows_out: self.rows,
            lookups,
            table_dead_lettered: self.table_dead_lettered,
            ..TransformCounts::new(&tables.tables.keys().cloned().collect::<Vec<_>>().join(", "))
        })
    }
}

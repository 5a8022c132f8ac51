//! Where a join finds the table row for each key, and when it reads the
//! table again: a file read whole and re-read when it changes, a SQL
//! result read whole every `refresh`, or a SQL table asked for the keys its
//! cache misses, one query per batch. A version that cannot be read leaves
//! the last good one in use; a database that went away is waited for.

use super::cache::LookupCache;
use super::changelog::ChangelogTable;
use super::file::{FileStamp, TableFile};
use super::sql::{Failure, SqlTable};
use super::table::{FastMap, LookupTable, live, row_converter, table_key_converter};
use crate::capability::ConnectionSpec;
use crate::config::ConnectionConfig;
use crate::config::join::{Access, JoinConfig, Origin, TableConfig};
use crate::observe::summary::LookupCounts;
use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{OwnedRow, Row, RowConverter};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often a table's file is looked at for a change.
const RECHECK: Duration = Duration::from_secs(1);

/// The table rows a batch joins: `rows[matches[i]]` is stream row `i`'s.
pub struct Probe {
    pub rows: RecordBatch,
    pub matches: Vec<Option<u32>>,
}

pub enum Reference {
    File {
        /// Where the file is and how it reads: its `origin()`.
        config: TableConfig,
        table: LookupTable,
        stamp: Option<FileStamp>,
        checked: Instant,
    },
    Loaded {
        sql: SqlTable,
        table: LookupTable,
        refresh: Duration,
        loaded: Instant,
    },
    Lookup {
        sql: SqlTable,
        /// Encodes the table's key columns, as the cache is keyed.
        keys: RowConverter,
        cache: LookupCache,
        /// Keys asked for and cache hits; the queries are `sql`'s count.
        counts: LookupCounts,
    },
    Changelog {
        table: ChangelogTable,
        /// With [checkpoint] the table moves only at epochs' ends, so a
        /// replay sees what the first run saw; without, every second.
        checkpointed: bool,
        advanced: Instant,
    },
}

impl Reference {
    /// Reads the table (or, for a lookup table, connects to it).
    pub fn open(
        join: &JoinConfig,
        connections: &BTreeMap<String, ConnectionConfig>,
    ) -> Result<Reference, String> {
        let config = &join.table;
        let keys = join.table_keys();
        let stage = format!("join:{}", join.name);
        match config.origin()? {
            Origin::File { path, format } => {
                let file = TableFile {
                    path,
                    format,
                    config,
                };
                let stamp = file.stamp().ok();
                let (rows, sha256) = file.read()?;
                let table = LookupTable::index(rows, keys, sha256)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(Reference::File {
                    config: config.clone(),
                    table,
                    stamp,
                    checked: Instant::now(),
                })
            }
            Origin::Changelog {
                connection,
                topic,
                format,
            } => {
                let spec = granted(connections, connection)?;
                let table = ChangelogTable::open(
                    &stage,
                    &spec,
                    topic,
                    format,
                    config.schema.as_deref(),
                    keys,
                )?;
                Ok(Reference::Changelog {
                    table,
                    checkpointed: false,
                    advanced: Instant::now(),
                })
            }
            Origin::Query {
                connection,
                query,
                access,
            } => {
                let spec = granted(connections, connection)?;
                let schema =
                    crate::config::ddl::parse_schema(config.schema.as_deref().unwrap_or_default())?;
                let mut sql = SqlTable::connect(&stage, spec, query, Arc::new(schema))?;
                match access {
                    Access::Load { refresh } => {
                        let table = load(&mut sql, keys).map_err(|e| e.to_string())?;
                        Ok(Reference::Loaded {
                            sql,
                            table,
                            refresh,
                            loaded: Instant::now(),
                        })
                    }
                    Access::Lookup { cache_rows, ttl } => {
                        let schema = sql.schema();
                        Ok(Reference::Lookup {
                            keys: table_key_converter(&schema, keys)?,
                            cache: LookupCache::new(&schema, cache_rows, ttl)?,
                            sql,
                            counts: LookupCounts::default(),
                        })
                    }
                }
            }
        }
    }

    pub fn schema(&self) -> SchemaRef {
        match self {
            Reference::File { table, .. } | Reference::Loaded { table, .. } => table.schema(),
            Reference::Lookup { sql, .. } => sql.schema(),
            Reference::Changelog { table, .. } => table.schema(),
        }
    }

    /// The version a checkpoint records: a whole table's SHA-256. A lookup
    /// table has none (its rows are asked for as they are now).
    pub fn version(&self) -> Option<&str> {
        match self {
            Reference::File { table, .. } | Reference::Loaded { table, .. } => Some(&table.sha256),
            Reference::Lookup { .. } | Reference::Changelog { .. } => None,
        }
    }

    /// The table, when it is held whole (a file, a loaded SQL result).
    pub fn loaded(&self) -> Option<&LookupTable> {
        match self {
            Reference::File { table, .. } | Reference::Loaded { table, .. } => Some(table),
            Reference::Lookup { .. } | Reference::Changelog { .. } => None,
        }
    }

    /// The pipeline keeps checkpoints: a changelog table then moves only
    /// when one is taken.
    pub fn set_checkpointed(&mut self, on: bool) {
        if let Reference::Changelog { checkpointed, .. } = self {
            *checkpointed = on;
        }
    }

    /// A changelog table's offsets, after applying what its topic gained:
    /// what the epoch after this checkpoint joins against.
    pub fn advance_for_checkpoint(&mut self, join: &str) -> Option<BTreeMap<i32, i64>> {
        let Reference::Changelog { table, .. } = self else {
            return None;
        };
        if let Err(e) = table.advance() {
            tracing::warn!(join, error = %e, "The changelog table could not move on; the next epoch joins against it as it is.");
        }
        Some(table.offsets().clone())
    }

    /// Puts a changelog table back where a checkpoint left it.
    pub fn rewind(&mut self, offsets: &BTreeMap<i32, i64>) -> Result<(), String> {
        match self {
            Reference::Changelog { table, .. } => table.read_to(Some(offsets)),
            _ => Ok(()),
        }
    }

    /// A changelog table's records refused since the last call.
    pub fn take_letters(&mut self) -> Vec<crate::operator::DeadLetter> {
        match self {
            Reference::Changelog { table, .. } => std::mem::take(&mut table.letters),
            _ => Vec::new(),
        }
    }

    /// A lookup table's traffic with its database.
    pub fn lookups(&self) -> Option<LookupCounts> {
        match self {
            Reference::Lookup { counts, sql, .. } => Some(LookupCounts {
                queries: sql.statements,
                ..*counts
            }),
            _ => None,
        }
    }

    /// The table row of each row of `keys` (the stream's key columns).
    pub fn probe(&mut self, join: &JoinConfig, keys: &[ArrayRef]) -> Result<Probe, String> {
        match self {
            Reference::File { .. } | Reference::Loaded { .. } => {
                self.refresh(join);
                let table = self.loaded().expect("a whole table");
                Ok(Probe {
                    rows: table.rows.clone(),
                    matches: table.lookup(keys)?,
                })
            }
            Reference::Lookup {
                sql,
                keys: encoder,
                cache,
                counts,
            } => lookup(join, sql, encoder, cache, counts, keys),
            Reference::Changelog {
                table,
                checkpointed,
                advanced,
            } => {
                if !*checkpointed && advanced.elapsed() >= RECHECK {
                    *advanced = Instant::now();
                    table.advance()?;
                }
                table.probe(keys)
            }
        }
    }

    /// Reads a whole table again if it may have changed. A version that
    /// cannot be read, or whose columns differ, is refused with a warning
    /// and the last good one kept: the stages after were planned for its
    /// columns.
    fn refresh(&mut self, join: &JoinConfig) {
        let next = match self {
            Reference::File {
                config,
                table,
                stamp,
                checked,
            } => {
                if checked.elapsed() < RECHECK {
                    return;
                }
                *checked = Instant::now();
                let Ok(Origin::File { path, format }) = config.origin() else {
                    return;
                };
                let file = TableFile {
                    path,
                    format,
                    config,
                };
                let now = match file.stamp() {
                    Ok(now) => now,
                    Err(e) => {
                        if stamp.take().is_some() {
                            tracing::warn!(join = %join.name, path = %path.display(), error = %e, "The table's file cannot be read; the last version read stays in use.");
                        }
                        return;
                    }
                };
                if stamp.as_ref() == Some(&now) {
                    return;
                }
                *stamp = Some(now);
                let next = file
                    .read()
                    .and_then(|(rows, sha256)| LookupTable::index(rows, join.table_keys(), sha256));
                (next, table)
            }
            Reference::Loaded {
                sql,
                table,
                refresh,
                loaded,
            } => {
                if loaded.elapsed() < *refresh {
                    return;
                }
                *loaded = Instant::now();
                (
                    load(sql, join.table_keys()).map_err(|e| e.to_string()),
                    table,
                )
            }
            Reference::Lookup { .. } | Reference::Changelog { .. } => return,
        };
        match next {
            (Ok(next), table) if next.schema() != table.schema() => {
                tracing::warn!(join = %join.name, "The table changed its columns; the last version read stays in use.");
            }
            (Ok(next), table) if next.sha256 == table.sha256 => {}
            (Ok(next), table) => {
                tracing::info!(join = %join.name, rows = next.rows.num_rows(), sha256 = %crate::observe::status::short(&next.sha256), "The table changed; joining against its new version.");
                *table = next;
            }
            (Err(e), _) => {
                tracing::warn!(join = %join.name, error = %e, "The table's new version cannot be read; the last version read stays in use.");
            }
        }
    }
}

/// The declared connection `name`, as its capability opens it.
fn granted(
    connections: &BTreeMap<String, ConnectionConfig>,
    name: &str,
) -> Result<ConnectionSpec, String> {
    connections
        .get(name)
        .map(|declared| ConnectionSpec::new(name, declared))
        .ok_or_else(|| format!("no connection `{name}` is declared"))
}

/// A SQL table's whole result, indexed, its version the SHA-256 of its
/// rows as Arrow's row format encodes them.
fn load(sql: &mut SqlTable, keys: &[String]) -> Result<LookupTable, Failure> {
    let rows = sql.load()?;
    let encoder = row_converter(&rows.schema()).map_err(Failure::Refused)?;
    let encoded = encoder
        .convert_columns(rows.columns())
        .map_err(|e| Failure::Refused(e.to_string()))?;
    let mut digest = Sha256::new();
    for row in encoded.iter() {
        digest.update(row.as_ref());
    }
    LookupTable::index(rows, keys, format!("{:x}", digest.finalize())).map_err(Failure::Refused)
}

/// Rows of `keys` the cache does not know are asked for in one query (per
/// batch, not per row); the answers, found or not, are cached.
fn lookup(
    join: &JoinConfig,
    sql: &mut SqlTable,
    encoder: &RowConverter,
    cache: &mut LookupCache,
    counts: &mut LookupCounts,
    keys: &[ArrayRef],
) -> Result<Probe, String> {
    let n = keys.first().map_or(0, |k| k.len());
    let encoded = encoder.convert_columns(keys).map_err(|e| e.to_string())?;
    // The first row of each key the cache does not know.
    let mut unknown: FastMap<&[u8], u32> = FastMap::default();
    for row in (0..n).filter(|&r| live(keys, r)) {
        let key = encoded.row(row).data();
        if cache.knows(key) {
            counts.cache_hits += 1;
        } else {
            unknown.entry(key).or_insert(row as u32);
        }
    }
    let mut fetched: FastMap<&[u8], Option<OwnedRow>> = FastMap::default();
    if !unknown.is_empty() {
        let (wanted, first_rows): (Vec<&[u8]>, Vec<u32>) = unknown.into_iter().unzip();
        counts.keys += wanted.len() as u64;
        let first_rows = UInt32Array::from(first_rows);
        let columns = keys
            .iter()
            .map(|k| arrow::compute::take(k, &first_rows, None))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let fields: Vec<arrow::datatypes::Field> = join
            .table_keys()
            .iter()
            .zip(&columns)
            .map(|(name, c)| arrow::datatypes::Field::new(name, c.data_type().clone(), true))
            .collect();
        let wanted_keys = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| e.to_string())?;
        let result = fetch_waiting(join, sql, &wanted_keys)?;
        let table = LookupTable::index(result, join.table_keys(), String::new())?;
        let found = table.lookup(wanted_keys.columns())?;
        let rows = cache.encode(table.rows.columns())?;
        for (key, found) in wanted.into_iter().zip(found) {
            fetched.insert(key, found.map(|r| rows.row(r as usize).owned()));
        }
    }
    // The cache is only added to once the batch's rows are picked: a key
    // it held at the start must still be there.
    let mut picked: Vec<Row<'_>> = Vec::with_capacity(n);
    let mut matches = Vec::with_capacity(n);
    for row in 0..n {
        let key = encoded.row(row).data();
        let found = if !live(keys, row) {
            None
        } else if let Some(answer) = fetched.get(key) {
            answer.as_ref().map(|r| r.row())
        } else {
            cache.peek(key)
        };
        matches.push(found.map(|r| {
            picked.push(r);
            (picked.len() - 1) as u32
        }));
    }
    let columns = cache.decode(picked)?;
    let rows = RecordBatch::try_new(sql.schema(), columns).map_err(|e| e.to_string())?;
    let answers: Vec<(Box<[u8]>, Option<OwnedRow>)> = fetched
        .into_iter()
        .map(|(key, row)| (Box::from(key), row))
        .collect();
    for (key, row) in answers {
        cache.put(key, row);
    }
    Ok(Probe { rows, matches })
}

/// Fetches `wanted`'s keys, waiting for a database that went away: the
/// batch's rows wait rather than go to the dead-letter as unmatched.
fn fetch_waiting(
    join: &JoinConfig,
    sql: &mut SqlTable,
    wanted: &RecordBatch,
) -> Result<RecordBatch, String> {
    let mut delay = Duration::from_millis(200);
    loop {
        match sql.fetch(join.table_keys(), wanted) {
            Ok(rows) => return Ok(rows),
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Lost(e)) => {
                tracing::warn!(join = %join.name, connection = %sql.connection(), error = %e, retry_in_ms = delay.as_millis() as u64, "The lookup table's database cannot be reached; the batch waits.");
                std::thread::sleep(delay);
                delay = (delay * 2).min(crate::capability::connect::MAX_BACKOFF);
            }
        }
    }
}

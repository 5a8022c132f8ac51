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
use crate::config::join::{Access, Origin, TableConfig};
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
    /// Time spent waiting for a lookup table's database to come back.
    pub waited: Duration,
}

/// A reference table as a join or a transform's lookups use it.
pub struct Reference {
    /// `join:NAME` or `table:NAME`, as logs and dead letters name it.
    pub stage: String,
    /// The table's key columns.
    keys: Vec<String>,
    holding: Holding,
}

enum Holding {
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
    /// Reads the table `config` keyed by `keys` (or, for a lookup table,
    /// connects to it); `stage` names it in logs and dead letters.
    pub fn open(
        stage: &str,
        config: &TableConfig,
        keys: &[String],
        connections: &BTreeMap<String, ConnectionConfig>,
    ) -> Result<Reference, String> {
        let holding = match config.origin()? {
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
                Holding::File {
                    config: config.clone(),
                    table,
                    stamp,
                    checked: Instant::now(),
                }
            }
            Origin::Changelog {
                connection,
                topic,
                format,
            } => {
                let spec = granted(connections, connection)?;
                let table = ChangelogTable::open(
                    stage,
                    &spec,
                    topic,
                    format,
                    config.schema.as_deref(),
                    keys,
                )?;
                Holding::Changelog {
                    table,
                    checkpointed: false,
                    advanced: Instant::now(),
                }
            }
            Origin::Query {
                connection,
                query,
                access,
            } => {
                let spec = granted(connections, connection)?;
                let schema =
                    crate::config::ddl::parse_schema(config.schema.as_deref().unwrap_or_default())?;
                let mut sql = SqlTable::connect(stage, spec, query, Arc::new(schema))?;
                match access {
                    Access::Load { refresh } => {
                        let table = load(&mut sql, keys).map_err(|e| e.to_string())?;
                        Holding::Loaded {
                            sql,
                            table,
                            refresh,
                            loaded: Instant::now(),
                        }
                    }
                    Access::Lookup { cache_rows, ttl } => {
                        let schema = sql.schema();
                        Holding::Lookup {
                            keys: table_key_converter(&schema, keys)?,
                            cache: LookupCache::new(&schema, cache_rows, ttl)?,
                            sql,
                            counts: LookupCounts::default(),
                        }
                    }
                }
            }
        };
        let reference = Reference {
            stage: stage.to_string(),
            keys: keys.to_vec(),
            holding,
        };
        reference.log_opened(&config.shown());
        Ok(reference)
    }

    /// Says what was read, once the table is open.
    fn log_opened(&self, shown: &str) {
        let stage = &self.stage;
        match &self.holding {
            Holding::File { table, .. } | Holding::Loaded { table, .. } => {
                tracing::info!(%stage, table = %shown, rows = table.rows.num_rows(), sha256 = %crate::observe::status::short(&table.sha256), "Table read.");
                if table.duplicates > 0 {
                    tracing::warn!(%stage, duplicates = table.duplicates, "The table repeats keys; each key finds the last row it has.");
                }
            }
            Holding::Lookup { .. } => {
                tracing::info!(%stage, table = %shown, "Looking keys up in the table as batches need them.");
            }
            Holding::Changelog { table, .. } => {
                tracing::info!(%stage, table = %shown, keys = table.len(), offsets = ?table.offsets(), "Changelog read to its end.");
            }
        }
    }

    /// The table's key columns.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub fn schema(&self) -> SchemaRef {
        match &self.holding {
            Holding::File { table, .. } | Holding::Loaded { table, .. } => table.schema(),
            Holding::Lookup { sql, .. } => sql.schema(),
            Holding::Changelog { table, .. } => table.schema(),
        }
    }

    /// The version a checkpoint records: a whole table's SHA-256. A lookup
    /// table has none (its rows are asked for as they are now).
    pub fn version(&self) -> Option<&str> {
        match &self.holding {
            Holding::File { table, .. } | Holding::Loaded { table, .. } => Some(&table.sha256),
            Holding::Lookup { .. } | Holding::Changelog { .. } => None,
        }
    }

    /// The pipeline keeps checkpoints: a changelog table then moves only
    /// when one is taken.
    pub fn set_checkpointed(&mut self, on: bool) {
        if let Holding::Changelog { checkpointed, .. } = &mut self.holding {
            *checkpointed = on;
        }
    }

    /// A changelog table's offsets, after applying what its topic gained:
    /// what the epoch after this checkpoint joins against.
    pub fn advance_for_checkpoint(&mut self) -> Option<BTreeMap<i32, i64>> {
        let Holding::Changelog { table, .. } = &mut self.holding else {
            return None;
        };
        if let Err(e) = table.advance() {
            tracing::warn!(stage = %self.stage, error = %e, "The changelog table could not move on; the next epoch joins against it as it is.");
        }
        Some(table.offsets().clone())
    }

    /// Puts a changelog table back where a checkpoint left it.
    pub fn rewind(&mut self, offsets: &BTreeMap<i32, i64>) -> Result<(), String> {
        match &mut self.holding {
            Holding::Changelog { table, .. } => table.read_to(Some(offsets)),
            _ => Ok(()),
        }
    }

    /// A changelog table's records refused since the last call.
    pub fn take_letters(&mut self) -> Vec<crate::operator::DeadLetter> {
        match &mut self.holding {
            Holding::Changelog { table, .. } => std::mem::take(&mut table.letters),
            _ => Vec::new(),
        }
    }

    /// A lookup table's traffic with its database.
    pub fn lookups(&self) -> Option<LookupCounts> {
        match &self.holding {
            Holding::Lookup { counts, sql, .. } => Some(LookupCounts {
                queries: sql.statements,
                ..*counts
            }),
            _ => None,
        }
    }

    /// The table row of each row of `keys` (the other side's key columns).
    pub fn probe(&mut self, keys: &[ArrayRef]) -> Result<Probe, String> {
        self.refresh();
        let at_once = |rows: RecordBatch, matches| Probe {
            rows,
            matches,
            waited: Duration::ZERO,
        };
        match &mut self.holding {
            Holding::File { table, .. } | Holding::Loaded { table, .. } => {
                Ok(at_once(table.rows.clone(), table.lookup(keys)?))
            }
            Holding::Lookup {
                sql,
                keys: encoder,
                cache,
                counts,
            } => {
                let table = Keyed {
                    stage: &self.stage,
                    keys: &self.keys,
                };
                lookup(table, sql, encoder, cache, counts, keys)
            }
            Holding::Changelog {
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
    fn refresh(&mut self) {
        let stage = &self.stage;
        let next = match &mut self.holding {
            Holding::File {
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
                            tracing::warn!(%stage, path = %path.display(), error = %e, "The table's file cannot be read; the last version read stays in use.");
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
                    .and_then(|(rows, sha256)| LookupTable::index(rows, &self.keys, sha256));
                (next, table)
            }
            Holding::Loaded {
                sql,
                table,
                refresh,
                loaded,
            } => {
                if loaded.elapsed() < *refresh {
                    return;
                }
                *loaded = Instant::now();
                (load(sql, &self.keys).map_err(|e| e.to_string()), table)
            }
            Holding::Lookup { .. } | Holding::Changelog { .. } => return,
        };
        match next {
            (Ok(next), table) if next.schema() != table.schema() => {
                tracing::warn!(%stage, "The table changed its columns; the last version read stays in use.");
            }
            (Ok(next), table) if next.sha256 == table.sha256 => {}
            (Ok(next), table) => {
                tracing::info!(%stage, rows = next.rows.num_rows(), sha256 = %crate::observe::status::short(&next.sha256), "The table changed; joining against its new version.");
                *table = next;
            }
            (Err(e), _) => {
                tracing::warn!(%stage, error = %e, "The table's new version cannot be read; the last version read stays in use.");
            }
        }
    }
}

/// A lookup table's name and key columns, as its queries need them.
#[derive(Clone, Copy)]
struct Keyed<'a> {
    stage: &'a str,
    keys: &'a [String],
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
    join: Keyed<'_>,
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
    let mut waited = Duration::ZERO;
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
            .keys
            .iter()
            .zip(&columns)
            .map(|(name, c)| arrow::datatypes::Field::new(name, c.data_type().clone(), true))
            .collect();
        let wanted_keys = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| e.to_string())?;
        let result;
        (result, waited) = fetch_waiting(join, sql, &wanted_keys)?;
        let table = LookupTable::index(result, join.keys, String::new())?;
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
    Ok(Probe {
        rows,
        matches,
        waited,
    })
}

/// Fetches `wanted`'s keys, waiting for a database that went away: the
/// batch's rows wait rather than go to the dead-letter as unmatched, until
/// the run is asked to stop. Returns the rows and the time spent waiting.
fn fetch_waiting(
    join: Keyed<'_>,
    sql: &mut SqlTable,
    wanted: &RecordBatch,
) -> Result<(RecordBatch, Duration), String> {
    let started = Instant::now();
    let mut delay = Duration::from_millis(200);
    loop {
        match sql.fetch(join.keys, wanted) {
            Ok(rows) => return Ok((rows, started.elapsed())),
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Lost(e)) if crate::runtime::stopping() => {
                return Err(format!(
                    "{STOPPED}; the lookup table's database cannot be reached: {e}"
                ));
            }
            Err(Failure::Lost(e)) => {
                tracing::warn!(stage = %join.stage, connection = %sql.connection(), error = %e, retry_in_ms = delay.as_millis() as u64, "The lookup table's database cannot be reached; the batch waits.");
                sleep_unless_stopping(delay);
                delay = (delay * 2).min(crate::capability::connect::MAX_BACKOFF);
            }
        }
    }
}

/// How an error from a lookup that gave up because the run is stopping
/// starts, so the stage abandons the batch with its epoch.
pub const STOPPED: &str = "the run is stopping";

/// Sleeps `delay`, waking early when the run is asked to stop.
fn sleep_unless_stopping(delay: Duration) {
    let until = Instant::now() + delay;
    while !crate::runtime::stopping() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

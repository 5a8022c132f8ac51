//! The `cql` capability: the Cassandra / ScyllaDB connections a pipeline
//! grants a sink, through the scylla driver. Prepared statements bind whole
//! columns of the batch in flight; bound rows wait in the host until the
//! sink flushes them (CQL has no transactions, so this is how an epoch's
//! rows are written only when it commits), then go out in unlogged batches
//! of one partition each, many at a time.

mod address;
mod bind;

use super::blocking::Driver;
use super::connect::{self, Attempt, ConnectError};
use super::grants::{Grants, Outage};
use super::{ConnectionSpec, rows};
use crate::contract::sink::weir::plugin::cql;
use crate::contract::wit::Rejection;
use address::{CqlUrl, parse_url};
use arrow::array::RecordBatch;
use bind::Bound;
use futures::StreamExt;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::{PartitionKeyError, PreparedStatement};
use scylla::value::{CqlValue, Row};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{HasData, Linker};

/// Statements (single rows or batches) in flight at once during a flush.
const CONCURRENCY: usize = 64;

/// The driver keeps background tasks (connection readers, metadata
/// refresh): they need a worker thread of their own.
const DRIVER: Driver = Driver::Background;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    DRIVER.block_on(future)
}

/// Errors of the cluster rather than of a statement: the nodes went away,
/// are overloaded or do not answer in time. The epoch cannot finish now.
fn is_lost(e: &ExecutionError) -> bool {
    match e {
        ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_)
        | ExecutionError::EmptyPlan => true,
        ExecutionError::LastAttemptError(attempt) => match attempt {
            RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => true,
            RequestAttemptError::DbError(db, _) => matches!(
                db,
                DbError::Unavailable { .. }
                    | DbError::Overloaded
                    | DbError::IsBootstrapping
                    | DbError::ReadTimeout { .. }
                    | DbError::WriteTimeout { .. }
            ),
            _ => false,
        },
        _ => false,
    }
}

/// A row bound and waiting for `flush`.
struct StagedRow {
    statement: u32,
    /// The serialized partition key, to batch rows of one partition.
    partition: Option<Vec<u8>>,
    /// The primary key's values, as text: a later row with the same one
    /// replaces this one.
    key: String,
    values: Vec<Option<CqlValue>>,
}

struct Granted {
    session: Arc<Session>,
    keyspace: Option<String>,
    staged: Vec<StagedRow>,
    /// Where each (statement, primary key) is in `staged`.
    by_key: HashMap<(u32, String), usize>,
    outage: Outage,
}

impl super::grants::Connection for Granted {
    fn lost(&self) -> Option<&str> {
        self.outage.reason()
    }
}

impl Granted {
    fn stage(&mut self, row: StagedRow) {
        match self.by_key.get(&(row.statement, row.key.clone())) {
            Some(&i) => self.staged[i] = row,
            None => {
                self.by_key
                    .insert((row.statement, row.key.clone()), self.staged.len());
                self.staged.push(row);
            }
        }
    }
}

struct Prepared {
    connection: String,
    statement: PreparedStatement,
}

/// The CQL connections of one sink, its prepared statements and its
/// staged rows.
pub struct Cql {
    connections: Grants<Granted>,
    statements: Vec<Prepared>,
}

/// What the capability sees during a call: the sink's connections and the
/// batch being written (none outside `write`).
pub struct CqlView<'a> {
    pub cql: &'a mut Cql,
    pub batch: Option<&'a RecordBatch>,
}

struct CqlData;
impl HasData for CqlData {
    type Data<'a> = CqlView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> CqlView<'_>,
) -> wasmtime::Result<()> {
    cql::add_to_linker::<T, CqlData>(linker, get)
}

async fn connect_once(url: &CqlUrl) -> Result<Session, String> {
    let mut builder = SessionBuilder::new()
        .known_nodes(&url.hosts)
        .auto_await_schema_agreement(url.schema_agreement)
        .connection_timeout(Duration::from_secs(5));
    if let Some((user, password)) = &url.credentials {
        builder = builder.user(user, password);
    }
    builder.build().await.map_err(|e| e.to_string())
}

impl Cql {
    /// Opens the sink's CQL connections, retrying with backoff (a node that
    /// is still starting is waited for, within the limit).
    pub fn connect(sink: &str, specs: &[ConnectionSpec]) -> Result<Self, ConnectError> {
        let connections = Grants::connect(sink, specs, |spec| {
            let url = parse_url(&spec.url).map_err(|e| ConnectError::refused(spec, e))?;
            let session = connect::with_backoff(sink, spec, || {
                block_on(connect_once(&url)).map_err(Attempt::Unreachable)
            })?;
            Ok(Granted {
                session: Arc::new(session),
                keyspace: url.keyspace,
                staged: Vec::new(),
                by_key: HashMap::new(),
                outage: Outage::default(),
            })
        })?;
        Ok(Cql {
            connections,
            statements: Vec::new(),
        })
    }

    /// Why a connection was lost, if one was: the cluster is down.
    pub fn outage(&self) -> Option<String> {
        self.connections.outage()
    }

    /// Drops every staged row: the epoch aborts.
    pub fn discard_all(&mut self) {
        for granted in self.connections.values_mut() {
            granted.staged.clear();
            granted.by_key.clear();
        }
    }

    fn granted(&mut self, name: &str) -> Result<&mut Granted, String> {
        self.connections.get(name)
    }
}

impl Drop for Cql {
    fn drop(&mut self) {
        if self.connections.is_empty() {
            return;
        }
        // The driver's tasks stop when their session is dropped, which
        // needs the runtime they run on.
        let _inside = DRIVER.runtime().enter();
        self.connections.clear();
        self.statements.clear();
    }
}

/// Sends one chunk: one statement, or an unlogged batch (one partition).
async fn send(
    session: &Session,
    statements: &[PreparedStatement],
    chunk: &[StagedRow],
) -> Result<(), ExecutionError> {
    if let [row] = chunk {
        session
            .execute_unpaged(&statements[row.statement as usize], &row.values)
            .await?;
        return Ok(());
    }
    let mut batch = Batch::new(BatchType::Unlogged);
    for row in chunk {
        batch.append_statement(statements[row.statement as usize].clone());
    }
    let values: Vec<&Vec<Option<CqlValue>>> = chunk.iter().map(|r| &r.values).collect();
    session.batch(&batch, values).await?;
    Ok(())
}

impl cql::Host for CqlView<'_> {
    fn keyspace_of(&mut self, connection: String) -> Result<Option<String>, String> {
        Ok(self.cql.granted(&connection)?.keyspace.clone())
    }

    fn execute(&mut self, connection: String, statement: String) -> Result<(), String> {
        let granted = self.cql.granted(&connection)?;
        let result = block_on(granted.session.query_unpaged(statement, ()));
        granted
            .outage
            .note(result, is_lost)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn query(
        &mut self,
        connection: String,
        statement: String,
    ) -> Result<Vec<Vec<Option<String>>>, String> {
        let granted = self.cql.granted(&connection)?;
        let result = block_on(granted.session.query_unpaged(statement, ()));
        let result = granted
            .outage
            .note(result, is_lost)
            .map_err(|e| e.to_string())?;
        let Ok(rows) = result.into_rows_result() else {
            return Ok(Vec::new());
        };
        rows.rows::<Row>()
            .map_err(|e| e.to_string())?
            .map(|row| {
                row.map(|r| {
                    r.columns
                        .iter()
                        .map(|v| v.as_ref().map(bind::text))
                        .collect()
                })
                .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn prepare(&mut self, connection: String, statement: String) -> Result<u32, String> {
        let session = self.cql.granted(&connection)?.session.clone();
        let prepared = block_on(session.prepare(statement)).map_err(|e| e.to_string())?;
        self.cql.statements.push(Prepared {
            connection,
            statement: prepared,
        });
        Ok(self.cql.statements.len() as u32 - 1)
    }

    fn stage(
        &mut self,
        statement: u32,
        params: Vec<u32>,
        key_params: u32,
        rows: Option<Vec<u32>>,
    ) -> Result<Vec<Rejection>, String> {
        let batch = rows::in_flight(self.batch, "rows can only be staged")?;
        let prepared = self
            .cql
            .statements
            .get(statement as usize)
            .ok_or_else(|| format!("there is no prepared statement {statement}"))?;
        let specs = prepared.statement.get_variable_col_specs();
        if specs.len() != params.len() {
            return Err(format!(
                "the statement has {} bind markers, but {} columns were given",
                specs.len(),
                params.len()
            ));
        }
        if key_params as usize > params.len() {
            return Err(format!(
                "{key_params} key columns, but only {} columns were given",
                params.len()
            ));
        }
        let schema = batch.schema();
        let mut bound = Vec::with_capacity(params.len());
        for (&i, spec) in params.iter().zip(specs.iter()) {
            let Some(column) = batch.columns().get(i as usize) else {
                return Err(format!(
                    "column {i} does not exist: the batch has {} columns",
                    batch.num_columns()
                ));
            };
            bound.push(Bound::new(
                column,
                schema.field(i as usize).name(),
                spec.typ(),
            )?);
        }
        // Markers that must not be null: the primary key the sink names,
        // and the partition key the database reports.
        let mut keys: Vec<usize> = (0..key_params as usize).collect();
        let partition: Vec<usize> = prepared
            .statement
            .get_variable_pk_indexes()
            .iter()
            .map(|p| p.index as usize)
            .collect();
        keys.extend(&partition);
        let mut rejections = Vec::new();
        let mut staged = Vec::new();
        for row in rows::named(batch, rows)? {
            let values: Result<Vec<Option<CqlValue>>, String> =
                bound.iter().map(|b| b.value(row as usize)).collect();
            let values = match values {
                Ok(v) => v,
                Err(reason) => {
                    rejections.push(Rejection { row, reason });
                    continue;
                }
            };
            if let Some(&null) = keys.iter().find(|&&i| values[i].is_none()) {
                rejections.push(Rejection {
                    row,
                    reason: format!(
                        "column `{}` is part of the primary key and is null; CQL refuses a null key",
                        schema.field(params[null] as usize).name()
                    ),
                });
                continue;
            }
            let partition_key = if partition.is_empty() {
                None
            } else {
                match prepared.statement.compute_partition_key(&values) {
                    Ok(bytes) => Some(bytes.to_vec()),
                    Err(PartitionKeyError::Serialization(e)) => {
                        rejections.push(Rejection {
                            row,
                            reason: e.to_string(),
                        });
                        continue;
                    }
                    Err(_) => None,
                }
            };
            staged.push(StagedRow {
                statement,
                partition: partition_key,
                key: format!("{:?}", &values[..key_params as usize]),
                values,
            });
        }
        let connection = prepared.connection.clone();
        let granted = self.cql.granted(&connection)?;
        for row in staged {
            granted.stage(row);
        }
        Ok(rejections)
    }

    fn flush(&mut self, connection: String, batch_rows: u32) -> Result<u64, String> {
        let statements: Arc<Vec<PreparedStatement>> = Arc::new(
            self.cql
                .statements
                .iter()
                .map(|p| p.statement.clone())
                .collect(),
        );
        let granted = self.cql.granted(&connection)?;
        granted.by_key.clear();
        let staged = std::mem::take(&mut granted.staged);
        // Rows of one partition (of one statement) go together.
        let mut groups: Vec<Vec<StagedRow>> = Vec::new();
        let mut group_of: HashMap<(u32, Vec<u8>), usize> = HashMap::new();
        for row in staged {
            match &row.partition {
                Some(p) => {
                    let i = *group_of
                        .entry((row.statement, p.clone()))
                        .or_insert_with(|| {
                            groups.push(Vec::new());
                            groups.len() - 1
                        });
                    groups[i].push(row);
                }
                None => groups.push(vec![row]),
            }
        }
        let per_chunk = batch_rows.max(1) as usize;
        let mut chunks: Vec<Vec<StagedRow>> = Vec::new();
        for mut group in groups {
            while group.len() > per_chunk {
                let rest = group.split_off(per_chunk);
                chunks.push(std::mem::replace(&mut group, rest));
            }
            chunks.push(group);
        }
        let session = granted.session.clone();
        let results: Vec<(Vec<StagedRow>, Result<(), ExecutionError>)> = block_on(
            futures::stream::iter(chunks.into_iter().map(|chunk| {
                let (session, statements) = (session.clone(), statements.clone());
                async move {
                    let result = send(&session, &statements, &chunk).await;
                    (chunk, result)
                }
            }))
            .buffer_unordered(CONCURRENCY)
            .collect(),
        );
        let mut sent = 0u64;
        let mut first_error = None;
        for (chunk, result) in results {
            match granted.outage.note(result, is_lost) {
                Ok(()) => sent += chunk.len() as u64,
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                    // Kept for a retry: CQL writes are idempotent upserts.
                    for row in chunk {
                        granted.stage(row);
                    }
                }
            }
        }
        match first_error {
            None => Ok(sent),
            Some(e) => Err(format!(
                "{} of {} rows could not be written to `{connection}`: {e}",
                granted.staged.len(),
                granted.staged.len() as u64 + sent
            )),
        }
    }

    fn discard(&mut self, connection: String) {
        if let Ok(granted) = self.cql.granted(&connection) {
            granted.staged.clear();
            granted.by_key.clear();
        }
    }
}

#[cfg(test)]
mod tests;

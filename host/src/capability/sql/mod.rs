//! The `sql` capability: the connections a pipeline grants a sink, through
//! sqlx (PostgreSQL, MySQL/MariaDB, SQLite). Statements bind whole columns
//! of the batch in flight, many rows per round trip; rows the database
//! refuses are found one by one and returned with the reason.

pub(crate) mod bind;

use super::blocking::Driver;
use super::connect::{self, Attempt, ConnectError};
use super::grants::{Grants, Outage};
use super::{ConnectionSpec, rows};
use crate::contract::sink::weir::plugin::sql::{self, BatchedStatement, Dialect};
use crate::contract::wit::Rejection;
use arrow::array::RecordBatch;
use bind::Columns;
use sqlx::{Connection, MySqlConnection, PgConnection, SqliteConnection};
use wasmtime::component::{HasData, Linker};

/// Parameters per statement: below every database's limit (SQLite 32766,
/// PostgreSQL and MySQL 65535), large enough to amortise round trips.
const MAX_PARAMS: usize = 30_000;

/// One open connection, of whichever database its URL names.
pub(crate) enum Db {
    Pg(PgConnection),
    My(MySqlConnection),
    Lite(SqliteConnection),
}

struct Granted {
    db: Db,
    in_transaction: bool,
    outage: Outage,
}

impl super::grants::Connection for Granted {
    fn lost(&self) -> Option<&str> {
        self.outage.reason()
    }
}

/// Errors of the connection rather than of a statement: the database went
/// away or cannot be reached. The epoch cannot finish on this connection.
pub(crate) fn is_lost(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// The connections of one sink.
pub struct Sql {
    connections: Grants<Granted>,
}

/// What the capability sees during a call: the sink's connections and the
/// batch being written (none outside `write`).
pub struct SqlView<'a> {
    pub sql: &'a mut Sql,
    pub batch: Option<&'a RecordBatch>,
}

struct SqlData;
impl HasData for SqlData {
    type Data<'a> = SqlView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> SqlView<'_>,
) -> wasmtime::Result<()> {
    sql::add_to_linker::<T, SqlData>(linker, get)
}

/// sqlx spawns no tasks of its own: its futures run on the calling thread.
pub(crate) fn block_on<F: std::future::Future>(future: F) -> F::Output {
    Driver::CallingThread.block_on(future)
}

async fn connect_once(url: &str) -> Result<Db, sqlx::Error> {
    Ok(
        if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Db::Pg(PgConnection::connect(url).await?)
        } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
            Db::My(MySqlConnection::connect(&url.replacen("mariadb:", "mysql:", 1)).await?)
        } else if let Some(rest) = url.strip_prefix("sqlite:") {
            // The database file is created if missing; so is its folder.
            let file = rest
                .trim_start_matches("//")
                .split('?')
                .next()
                .unwrap_or_default();
            if let Some(dir) = std::path::Path::new(file).parent()
                && !file.is_empty()
                && file != ":memory:"
            {
                std::fs::create_dir_all(dir).map_err(sqlx::Error::Io)?;
            }
            Db::Lite(SqliteConnection::connect(url).await?)
        } else {
            return Err(sqlx::Error::Configuration(
                "the URL must start with postgres://, mysql://, mariadb://, sqlite:, \
                 cassandra:// (or scylla://) or kafka://"
                    .into(),
            ));
        },
    )
}

/// Opens the connection `spec` for `stage`, retrying with backoff.
pub(crate) fn open(stage: &str, spec: &ConnectionSpec) -> Result<Db, ConnectError> {
    connect::with_backoff(stage, spec, || {
        block_on(connect_once(&spec.url)).map_err(|e| match e {
            // The URL or the credentials are wrong: no wait helps.
            sqlx::Error::Configuration(_) | sqlx::Error::Database(_) => {
                Attempt::Refused(e.to_string())
            }
            e => Attempt::Unreachable(e.to_string()),
        })
    })
}

impl Sql {
    /// Opens the sink's connections, retrying with backoff (a database that
    /// is still starting is waited for, within the limit).
    pub fn connect(sink: &str, specs: &[ConnectionSpec]) -> Result<Self, ConnectError> {
        let connections = Grants::connect(sink, specs, |spec| {
            let db = open(sink, spec)?;
            Ok(Granted {
                db,
                in_transaction: false,
                outage: Outage::default(),
            })
        })?;
        Ok(Sql { connections })
    }

    /// Why a connection was lost, if one was: the database is down.
    pub fn outage(&self) -> Option<String> {
        self.connections.outage()
    }

    /// Rolls back every open transaction: the run failed.
    pub fn abort_all(&mut self) {
        for granted in self.connections.values_mut() {
            if granted.in_transaction {
                granted.in_transaction = false;
                let _ = granted.run("ROLLBACK");
            }
        }
    }

    fn granted(&mut self, name: &str) -> Result<&mut Granted, String> {
        self.connections.get(name)
    }
}

impl Granted {
    fn dialect(&self) -> Dialect {
        match self.db {
            Db::Pg(_) => Dialect::Postgres,
            Db::My(_) => Dialect::Mysql,
            Db::Lite(_) => Dialect::Sqlite,
        }
    }

    /// Runs SQL without parameters (simple protocol).
    fn run(&mut self, statement: &str) -> Result<u64, sqlx::Error> {
        let raw = sqlx::raw_sql(statement);
        let result = block_on(async {
            Ok(match &mut self.db {
                Db::Pg(c) => raw.execute(c).await?.rows_affected(),
                Db::My(c) => raw.execute(c).await?.rows_affected(),
                Db::Lite(c) => raw.execute(c).await?.rows_affected(),
            })
        });
        self.noted(result)
    }

    /// Remembers a lost connection, so the host can tell an outage (retry
    /// the epoch later) from rows the database refused (dead-letter them).
    fn noted<R>(&mut self, result: Result<R, sqlx::Error>) -> Result<R, sqlx::Error> {
        self.outage.note(result, is_lost)
    }

    /// Runs `work` so that its failure leaves the transaction usable
    /// (PostgreSQL aborts a transaction at its first error otherwise).
    fn guarded<R>(
        &mut self,
        work: impl FnOnce(&mut Self) -> Result<R, sqlx::Error>,
    ) -> Result<R, sqlx::Error> {
        if !self.in_transaction {
            let result = work(self);
            return self.noted(result);
        }
        self.run("SAVEPOINT weir_rows")?;
        let result = work(self);
        match self.noted(result) {
            Ok(r) => {
                self.run("RELEASE SAVEPOINT weir_rows")?;
                Ok(r)
            }
            Err(e) => {
                self.run("ROLLBACK TO SAVEPOINT weir_rows")?;
                Err(e)
            }
        }
    }

    /// Runs `statement` over `rows`, as many rows per statement as the
    /// parameter limit allows; a chunk the database refuses is retried row
    /// by row, and the rows that still fail are returned with the reason.
    fn run_rows(
        &mut self,
        statement: &BatchedStatement,
        columns: &Columns,
        rows: &[u32],
    ) -> Result<Vec<Rejection>, String> {
        let per_statement = (MAX_PARAMS / columns.len().max(1)).max(1);
        let mut rejections = Vec::new();
        let dialect = self.dialect();
        for chunk in rows.chunks(per_statement) {
            let text = expand(statement, chunk.len(), dialect);
            match self.guarded(|g| g.bind_and_run(&text, columns, chunk)) {
                Ok(_) => {}
                Err(sqlx::Error::Database(_)) => {
                    let single = expand(statement, 1, dialect);
                    for &row in chunk {
                        match self.guarded(|g| g.bind_and_run(&single, columns, &[row])) {
                            Ok(_) => {}
                            Err(sqlx::Error::Database(e)) => rejections.push(Rejection {
                                row,
                                reason: e.message().to_string(),
                            }),
                            Err(e) => return Err(e.to_string()),
                        }
                    }
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(rejections)
    }

    fn bind_and_run(
        &mut self,
        text: &str,
        columns: &Columns,
        rows: &[u32],
    ) -> Result<u64, sqlx::Error> {
        block_on(async {
            Ok(match &mut self.db {
                Db::Pg(c) => bind::query(text, columns, rows)?
                    .execute(c)
                    .await?
                    .rows_affected(),
                Db::My(c) => bind::query(text, columns, rows)?
                    .execute(c)
                    .await?
                    .rows_affected(),
                Db::Lite(c) => bind::query(text, columns, rows)?
                    .execute(c)
                    .await?
                    .rows_affected(),
            })
        })
    }

    /// PostgreSQL COPY … FROM STDIN of the selected rows, as CSV.
    fn copy(
        &mut self,
        table: &str,
        names: &[String],
        batch: &RecordBatch,
    ) -> Result<u64, sqlx::Error> {
        let Db::Pg(c) = &mut self.db else {
            unreachable!("COPY is only tried on PostgreSQL")
        };
        let mut bytes = Vec::with_capacity(batch.get_array_memory_size());
        {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(false)
                .with_null("\\N".to_string())
                .build(&mut bytes);
            writer
                .write(batch)
                .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        }
        let statement = format!(
            "COPY {table} ({}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
            names.join(", ")
        );
        block_on(async {
            let mut copy = c.copy_in_raw(&statement).await?;
            copy.send(bytes).await?;
            copy.finish().await
        })
    }
}

/// The statement text for `rows` rows, placeholders numbered for PostgreSQL.
fn expand(statement: &BatchedStatement, rows: usize, dialect: Dialect) -> String {
    let mut text = String::with_capacity(statement.head.len() + rows * (statement.row.len() + 2));
    text.push_str(&statement.head);
    text.push(' ');
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            text.push_str(", ");
        }
        if dialect == Dialect::Postgres {
            for (i, part) in statement.row.split('?').enumerate() {
                if i > 0 {
                    n += 1;
                    text.push_str(&format!("${n}"));
                }
                text.push_str(part);
            }
        } else {
            text.push_str(&statement.row);
        }
    }
    if !statement.tail.is_empty() {
        text.push(' ');
        text.push_str(&statement.tail);
    }
    text
}

fn in_flight(batch: Option<&RecordBatch>) -> Result<&RecordBatch, String> {
    rows::in_flight(batch, "rows can only be written")
}

impl sql::Host for SqlView<'_> {
    fn dialect_of(&mut self, connection: String) -> Result<Dialect, String> {
        Ok(self.sql.granted(&connection)?.dialect())
    }

    fn execute(&mut self, connection: String, statement: String) -> Result<u64, String> {
        let granted = self.sql.granted(&connection)?;
        granted
            .guarded(|g| g.run(&statement))
            .map_err(|e| e.to_string())
    }

    fn query(
        &mut self,
        connection: String,
        statement: String,
    ) -> Result<Vec<Vec<Option<String>>>, String> {
        let granted = self.sql.granted(&connection)?;
        granted
            .guarded(|g| bind::query_text(&mut g.db, &statement))
            .map_err(|e| e.to_string())
    }

    fn execute_batched(
        &mut self,
        connection: String,
        statement: BatchedStatement,
        params: Vec<u32>,
        rows: Option<Vec<u32>>,
    ) -> Result<Vec<Rejection>, String> {
        let batch = in_flight(self.batch)?;
        let columns = Columns::new(batch, &params)?;
        let rows = rows::named(batch, rows)?;
        let granted = self.sql.granted(&connection)?;
        granted.run_rows(&statement, &columns, &rows)
    }

    fn bulk_insert(
        &mut self,
        connection: String,
        table: String,
        columns: Vec<(String, u32)>,
        rows: Option<Vec<u32>>,
    ) -> Result<Vec<Rejection>, String> {
        let batch = in_flight(self.batch)?;
        let (names, indices): (Vec<String>, Vec<u32>) = columns.into_iter().unzip();
        let bound = Columns::new(batch, &indices)?;
        let rows = rows::named(batch, rows)?;
        let granted = self.sql.granted(&connection)?;
        if granted.dialect() == Dialect::Postgres && bound.copyable() {
            let selected = bound.select(&rows)?;
            match granted.guarded(|g| g.copy(&table, &names, &selected)) {
                Ok(_) => return Ok(Vec::new()),
                // Some row is refused: find which, through INSERTs.
                Err(sqlx::Error::Database(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
        let statement = BatchedStatement {
            head: format!("INSERT INTO {table} ({}) VALUES", names.join(", ")),
            row: format!("({})", vec!["?"; names.len()].join(", ")),
            tail: String::new(),
        };
        granted.run_rows(&statement, &bound, &rows)
    }

    fn begin(&mut self, connection: String) -> Result<(), String> {
        let granted = self.sql.granted(&connection)?;
        if granted.in_transaction {
            return Err(format!(
                "connection `{connection}` is already in a transaction"
            ));
        }
        granted.run("BEGIN").map_err(|e| e.to_string())?;
        granted.in_transaction = true;
        Ok(())
    }

    fn commit(&mut self, connection: String) -> Result<(), String> {
        let granted = self.sql.granted(&connection)?;
        granted.in_transaction = false;
        granted.run("COMMIT").map(|_| ()).map_err(|e| e.to_string())
    }

    fn rollback(&mut self, connection: String) -> Result<(), String> {
        let granted = self.sql.granted(&connection)?;
        granted.in_transaction = false;
        granted
            .run("ROLLBACK")
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_only() {
        let s = BatchedStatement {
            head: "INSERT INTO t (a, b) VALUES".into(),
            row: "(?, ?)".into(),
            tail: "ON CONFLICT (a) DO NOTHING".into(),
        };
        assert_eq!(
            expand(&s, 2, Dialect::Postgres),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT (a) DO NOTHING"
        );
        assert_eq!(
            expand(&s, 2, Dialect::Mysql),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT (a) DO NOTHING"
        );
    }
}

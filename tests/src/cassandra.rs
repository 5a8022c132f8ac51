//! The tests' stand-in for Cassandra: `kassandra`, an in-memory single-node
//! CQL server, served by `kassandra-tester` on a free port inside the test
//! process (no Cassandra or ScyllaDB server can be installed here). Rows
//! are read back through the scylla driver by point reads on the key:
//! kassandra's full-table scans return only some of the rows.

use kassandra_tester::KassandraTester;
use kassandra_tester::kassandra::KassandraSession;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::{CqlValue, Row};
use std::net::SocketAddr;

pub struct Cassandra {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: tokio::runtime::Runtime,
    /// Dropped inside the runtime, whose tasks it owns.
    session: Option<Session>,
}

impl Cassandra {
    /// Starts an empty server.
    pub fn start() -> Cassandra {
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for kassandra");
            let mut stopped = Some(stopped);
            // Ends when the test drops its handle (or the process exits).
            let _ = runtime.block_on(KassandraTester::new(KassandraSession::new()).in_scope(
                move |address| {
                    let _ = address_tx.send(address);
                    let stopped = stopped.take();
                    async move {
                        if let Some(stopped) = stopped {
                            let _ = stopped.await;
                        }
                        Ok::<(), ()>(())
                    }
                },
            ));
        });
        let address = address_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("kassandra listens");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the test's CQL client");
        let session = runtime
            .block_on(
                SessionBuilder::new()
                    .known_node(address.to_string())
                    .auto_await_schema_agreement(false)
                    .build(),
            )
            .expect("the scylla driver connects to kassandra");
        Cassandra {
            address,
            stop: Some(stop),
            runtime,
            session: Some(session),
        }
    }

    pub fn create_keyspace(&self, keyspace: &str) {
        self.execute(&format!(
            "CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = \
             {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ));
    }

    /// The URL a pipeline's `[connections]` entry gives: kassandra cannot
    /// report schema agreement, so the driver must not wait for it.
    pub fn url(&self, keyspace: &str) -> String {
        format!(
            "cassandra://{}/{keyspace}?schema_agreement=false",
            self.address
        )
    }

    fn session(&self) -> &Session {
        self.session.as_ref().expect("open until dropped")
    }

    pub fn execute(&self, cql: &str) {
        self.runtime
            .block_on(self.session().query_unpaged(cql, ()))
            .unwrap_or_else(|e| panic!("kassandra refused {cql}: {e}"));
    }

    /// The row of `table` whose `key` column (a bigint) is `id`, as
    /// `a|b|c` text of `columns` (`null` for null), or `None`.
    pub fn row(&self, table: &str, columns: &str, key: &str, id: i64) -> Option<String> {
        let cql = format!("SELECT {columns} FROM {table} WHERE {key} = ?");
        let result = self
            .runtime
            .block_on(async {
                let session = self.session();
                let prepared = session
                    .prepare(cql.as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                session
                    .execute_unpaged(&prepared, (id,))
                    .await
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| panic!("kassandra refused {cql}: {e}"));
        let rows = result.into_rows_result().expect("rows");
        let mut rows = rows.rows::<Row>().expect("rows of values");
        let row = rows.next()?.expect("a row");
        Some(
            row.columns
                .iter()
                .map(|v| match v {
                    None => "null".to_string(),
                    Some(CqlValue::Text(s) | CqlValue::Ascii(s)) => s.clone(),
                    Some(other) => other.to_string().trim_matches('\'').to_string(),
                })
                .collect::<Vec<_>>()
                .join("|"),
        )
    }

    /// The rows of `ids` that exist, one `a|b|c` line each, in that order.
    pub fn rows(&self, table: &str, columns: &str, key: &str, ids: &[i64]) -> String {
        ids.iter()
            .filter_map(|&id| self.row(table, columns, key, id))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Cassandra {
    fn drop(&mut self) {
        let inside = self.runtime.enter();
        self.session = None;
        drop(inside);
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

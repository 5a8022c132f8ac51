//! Exactly-once by epoch markers: the table `weir_epochs` holds, per sink,
//! the newest epoch committed. The marker is written in the epoch's own
//! transaction, so rows and marker commit together; an epoch replayed after
//! a crash that is already marked is skipped.

use crate::ddl::Flavor;
use weir_sink::sql::{self, Dialect};

pub const TABLE: &str = "weir_epochs";

pub struct Markers {
    sink_id: String,
    /// The newest epoch this sink committed, as the table says.
    pub committed: u64,
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

impl Markers {
    /// Creates the table if missing and reads this sink's newest epoch.
    pub fn open(connection: &str, sink_id: &str) -> Result<Markers, String> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (sink_id VARCHAR(255) NOT NULL PRIMARY KEY, epoch BIGINT NOT NULL)"
        );
        // Two sinks creating the table at once can both miss it and one then
        // fails (PostgreSQL: a duplicate key in pg_type). Once the other has
        // committed, the same statement finds the table and succeeds.
        let mut created = sql::execute(connection, &create);
        if created.is_err() {
            created = sql::execute(connection, &create);
        }
        created.map_err(|e| format!("cannot create the epoch marker table {TABLE}: {e}"))?;
        let rows = sql::query(
            connection,
            &format!(
                "SELECT epoch FROM {TABLE} WHERE sink_id = {}",
                literal(sink_id)
            ),
        )
        .map_err(|e| format!("cannot read the epoch marker table {TABLE}: {e}"))?;
        let committed = rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .map(|text| {
                text.parse::<u64>()
                    .map_err(|_| format!("{TABLE} holds a bad epoch {text:?}"))
            })
            .transpose()?
            .unwrap_or(0);
        Ok(Markers {
            sink_id: sink_id.to_string(),
            committed,
        })
    }

    /// Records `epoch` inside the open transaction.
    pub fn mark(&self, connection: &str, flavor: &Flavor, epoch: u64) -> Result<(), String> {
        let id = literal(&self.sink_id);
        let statements = match (flavor.dialect, flavor.redshift) {
            // Redshift has no upsert: delete, then insert, in the transaction.
            (_, true) => vec![
                format!("DELETE FROM {TABLE} WHERE sink_id = {id}"),
                format!("INSERT INTO {TABLE} (sink_id, epoch) VALUES ({id}, {epoch})"),
            ],
            (Dialect::Mysql, false) => vec![format!(
                "INSERT INTO {TABLE} (sink_id, epoch) VALUES ({id}, {epoch}) ON DUPLICATE KEY UPDATE epoch = VALUES(epoch)"
            )],
            (Dialect::Postgres | Dialect::Sqlite, false) => vec![format!(
                "INSERT INTO {TABLE} (sink_id, epoch) VALUES ({id}, {epoch}) ON CONFLICT (sink_id) DO UPDATE SET epoch = excluded.epoch"
            )],
        };
        for statement in statements {
            sql::execute(connection, &statement)
                .map_err(|e| format!("cannot mark epoch {epoch} in {TABLE}: {e}"))?;
        }
        Ok(())
    }
}

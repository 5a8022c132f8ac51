//! The SQL each database needs: identifier quoting, column types for
//! create-table-if-missing, and the upsert statement (or, for Redshift,
//! which has no ON CONFLICT, a delete of the keys before the insert).

use weir_sink::DataType;
use weir_sink::sql::{BatchedStatement, Dialect};

pub struct Flavor {
    pub dialect: Dialect,
    /// PostgreSQL wire protocol, Redshift's SQL: no ON CONFLICT, no BYTEA.
    pub redshift: bool,
}

type Column = (String, DataType, bool);

impl Flavor {
    pub fn new(dialect: Dialect, redshift: bool) -> Result<Self, String> {
        if redshift && dialect != Dialect::Postgres {
            return Err("config key `flavor`: redshift needs a postgres connection".into());
        }
        Ok(Flavor { dialect, redshift })
    }

    pub fn dialect_name(&self) -> &'static str {
        match self.dialect {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }

    pub fn quote(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// `schema.table` quotes each part.
    pub fn quote_table(&self, table: &str) -> String {
        table
            .split('.')
            .map(|part| self.quote(part))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// The column type a `create_table` uses (`key`: part of the primary key,
    /// which MySQL cannot build on TEXT).
    pub fn column_type(&self, data_type: &DataType, key: bool) -> Result<String, String> {
        use Dialect::*;
        Ok(match (data_type, self.dialect) {
            (DataType::Boolean, Sqlite) => "INTEGER".into(),
            (DataType::Boolean, _) => "BOOLEAN".into(),
            (DataType::Int32, Mysql) => "INT".into(),
            (DataType::Int32, _) => "INTEGER".into(),
            (DataType::Int64, Sqlite) => "INTEGER".into(),
            (DataType::Int64, _) => "BIGINT".into(),
            (DataType::Float32, Mysql) => "FLOAT".into(),
            (DataType::Float32, _) => "REAL".into(),
            (DataType::Float64, Postgres) => "DOUBLE PRECISION".into(),
            (DataType::Float64, Mysql) => "DOUBLE".into(),
            (DataType::Float64, Sqlite) => "REAL".into(),
            (DataType::Utf8, Mysql) if key => "VARCHAR(255)".into(),
            (DataType::Utf8, Mysql) => "LONGTEXT".into(),
            (DataType::Utf8, Postgres) if self.redshift => "VARCHAR(65535)".into(),
            (DataType::Utf8, _) => "TEXT".into(),
            (DataType::Binary, Postgres) if self.redshift => "VARBYTE".into(),
            (DataType::Binary, Postgres) => "BYTEA".into(),
            (DataType::Binary, Mysql) if key => "VARBINARY(255)".into(),
            (DataType::Binary, _) => "BLOB".into(),
            (DataType::Timestamp(t), Postgres) if t.timezone.is_some() => "TIMESTAMPTZ".into(),
            (DataType::Timestamp(_), Postgres) => "TIMESTAMP".into(),
            (DataType::Timestamp(_), Mysql) => "DATETIME(6)".into(),
            (DataType::Timestamp(_), Sqlite) => "TEXT".into(),
            (DataType::Date32, Sqlite) => "TEXT".into(),
            (DataType::Date32, _) => "DATE".into(),
            (DataType::Decimal128(d), Sqlite) => format!("NUMERIC({}, {})", d.precision, d.scale),
            (DataType::Decimal128(d), Postgres) => format!("NUMERIC({}, {})", d.precision, d.scale),
            (DataType::Decimal128(d), Mysql) => format!("DECIMAL({}, {})", d.precision, d.scale),
            (DataType::List(_) | DataType::Struct(_), _) => {
                return Err(
                    "lists and structs cannot be written to SQL tables yet; flatten them in a \
                     transform"
                        .into(),
                );
            }
        })
    }

    pub fn create_table(
        &self,
        table: &str,
        columns: &[Column],
        keys: &[u32],
    ) -> Result<String, String> {
        let mut parts = Vec::new();
        for (i, (name, data_type, nullable)) in columns.iter().enumerate() {
            let key = keys.contains(&(i as u32));
            let not_null = if *nullable && !key { "" } else { " NOT NULL" };
            parts.push(format!(
                "{} {}{not_null}",
                self.quote(name),
                self.column_type(data_type, key)?
            ));
        }
        if !keys.is_empty() {
            parts.push(format!("PRIMARY KEY ({})", self.names(columns, keys)));
        }
        Ok(format!(
            "CREATE TABLE IF NOT EXISTS {} ({})",
            self.quote_table(table),
            parts.join(", ")
        ))
    }

    fn names(&self, columns: &[Column], which: &[u32]) -> String {
        which
            .iter()
            .map(|&i| self.quote(&columns[i as usize].0))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// One placeholder per column; PostgreSQL needs casts where the host
    /// binds text (decimals).
    fn placeholders(&self, columns: &[Column], which: &[u32]) -> String {
        let marks: Vec<String> = which
            .iter()
            .map(|&i| match (&columns[i as usize].1, self.dialect) {
                (DataType::Decimal128(_), Dialect::Postgres) => "CAST(? AS NUMERIC)".to_string(),
                _ => "?".to_string(),
            })
            .collect();
        format!("({})", marks.join(", "))
    }

    pub fn insert(&self, table: &str, columns: &[Column]) -> BatchedStatement {
        let all: Vec<u32> = (0..columns.len() as u32).collect();
        BatchedStatement {
            head: format!(
                "INSERT INTO {} ({}) VALUES",
                self.quote_table(table),
                self.names(columns, &all)
            ),
            row: self.placeholders(columns, &all),
            tail: String::new(),
        }
    }

    pub fn upsert(&self, table: &str, columns: &[Column], keys: &[u32]) -> BatchedStatement {
        let mut statement = self.insert(table, columns);
        let others: Vec<u32> = (0..columns.len() as u32)
            .filter(|i| !keys.contains(i))
            .collect();
        let set = |template: &dyn Fn(&str) -> String| {
            others
                .iter()
                .map(|&i| {
                    let q = self.quote(&columns[i as usize].0);
                    format!("{q} = {}", template(&q))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        statement.tail = match self.dialect {
            Dialect::Mysql if others.is_empty() => {
                // Nothing to update: a duplicate key is simply already there.
                let k = self.quote(&columns[keys[0] as usize].0);
                format!("ON DUPLICATE KEY UPDATE {k} = {k}")
            }
            Dialect::Mysql => format!(
                "ON DUPLICATE KEY UPDATE {}",
                set(&|q| format!("VALUES({q})"))
            ),
            _ if others.is_empty() => {
                format!("ON CONFLICT ({}) DO NOTHING", self.names(columns, keys))
            }
            _ => format!(
                "ON CONFLICT ({}) DO UPDATE SET {}",
                self.names(columns, keys),
                set(&|q| format!("excluded.{q}"))
            ),
        };
        statement
    }

    /// `DELETE FROM t WHERE (k1, k2) IN ((?, ?), …)`, bound to the key columns.
    pub fn delete_keys(&self, table: &str, columns: &[Column], keys: &[u32]) -> BatchedStatement {
        BatchedStatement {
            head: format!(
                "DELETE FROM {} WHERE ({}) IN (",
                self.quote_table(table),
                self.names(columns, keys)
            ),
            row: self.placeholders(columns, keys),
            tail: ")".to_string(),
        }
    }
}

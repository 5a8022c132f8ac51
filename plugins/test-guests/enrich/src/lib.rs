//! Adds a granted table's columns to each row through the `lookup`
//! capability, one lookup per batch: `table` names the table, `on` the
//! input's key columns (comma-separated, in the table's key order), `add`
//! the table's columns to add (text, BIGINT or DOUBLE). A row whose key
//! the table lacks keeps nulls, or with `on_miss = "reject"` goes to the
//! dead-letter naming its key. `found` (optional) names a BOOLEAN column
//! saying whether the key was found.
use weir_sdk::host::lookup;
use weir_sdk::prelude::*;

struct Enrich {
    table: String,
    on: Vec<String>,
    add: Vec<Field>,
    reject: bool,
    found: Option<String>,
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Transform for Enrich {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Enrich {
            table: config.require::<String>("table")?,
            on: list(&config.require::<String>("on")?),
            add: Vec::new(),
            reject: match config.text("on_miss").unwrap_or("null") {
                "null" => false,
                "reject" => true,
                other => return Err(Error::new(format!("on_miss: {other:?} is not null or reject"))),
            },
            found: config.text("found").map(str::to_string),
        })
        .and_then(|mut e: Enrich| {
            let table = lookup::describe(&e.table)?;
            let add = match config.text("add") {
                Some(add) => list(add),
                None => table
                    .columns
                    .fields
                    .iter()
                    .map(|f| f.name.clone())
                    .filter(|n| !table.keys.contains(n))
                    .collect(),
            };
            for name in add {
                let field = table.columns.field(&name).ok_or_else(|| {
                    Error::new(format!("table `{}` has no column `{name}`", e.table))
                })?;
                e.add.push(Field::new(name, field.data_type.clone(), true));
            }
            Ok(e)
        })
    }

    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        let mut output = input.clone();
        for key in &self.on {
            input.require(key)?;
        }
        for field in &self.add {
            match field.data_type {
                DataType::Utf8 | DataType::Int64 | DataType::Float64 => {}
                ref other => {
                    return Err(Error::new(format!(
                        "column `{}` is {other:?}; this plugin adds text, BIGINT and DOUBLE",
                        field.name
                    )));
                }
            }
            output = output.with(field.clone());
        }
        if let Some(found) = &self.found {
            output = output.with(Field::new(found.clone(), DataType::Boolean, false));
        }
        Ok(Plan::new(output))
    }

    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let on: Vec<&str> = self.on.iter().map(String::as_str).collect();
        let found = lookup::get(&self.table, &batch.select(&on)?)?;
        let mut out = batch.output();
        if self.reject {
            for row in (0..batch.num_rows()).filter(|&r| !found.found(r)) {
                let key: Vec<String> = on
                    .iter()
                    .map(|k| shown(batch.row(row), batch, k))
                    .collect();
                out.reject(row, format!("no {} row has key {}", self.table, key.join(", ")));
            }
        }
        for field in &self.add {
            let name = field.name.as_str();
            out = match field.data_type {
                DataType::Utf8 => out.map(name, |row| found.get(row.index()).and_then(|r| r.utf8(name))),
                DataType::Int64 => out.map(name, |row| found.get(row.index()).and_then(|r| r.int64(name))),
                _ => out.map(name, |row| found.get(row.index()).and_then(|r| r.float64(name))),
            };
        }
        if let Some(column) = &self.found {
            out = out.map(column, |row| found.found(row.index()));
        }
        Ok(out)
    }
}

/// A key value as a dead letter shows it.
fn shown(row: Row<'_>, batch: &Batch, column: &str) -> String {
    let value = match batch.schema().field(column).map(|f| &f.data_type) {
        Some(DataType::Int64) => row.int64(column).map(|v| v.to_string()),
        Some(DataType::Int32) => row.int32(column).map(|v| v.to_string()),
        _ => row.utf8(column).map(str::to_string),
    };
    format!("{column} = {}", value.unwrap_or_else(|| "null".to_string()))
}

export_transform!(Enrich);

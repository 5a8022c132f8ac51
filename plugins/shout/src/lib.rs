//! The first transform from the SDK docs: uppercases the `name` column.
use weir_sdk::prelude::*;

struct Shout;

impl Transform for Shout {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Shout)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        input.require("name")?;
        Ok(Plan::new(input.clone()))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        Ok(batch.map("name", |row| row.utf8("name").map(str::to_uppercase)))
    }
}

export_transform!(Shout);

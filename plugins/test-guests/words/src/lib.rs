//! Splits the `value` column into one row per word (`word`), as Spark's
//! `explode(split(value, " "))` does, so a test can check flat-map.
use weir_sdk::prelude::*;

struct Words;

impl Transform for Words {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Words)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        input.require("value")?;
        Ok(Plan::new(input.clone().with(Field::new(
            "word",
            DataType::Utf8,
            false,
        ))))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let lines = batch.utf8("value")?;
        Ok(batch.flat_map("word", |row| {
            lines
                .get(row.index())
                .unwrap_or_default()
                .split_whitespace()
        }))
    }
}

export_transform!(Words);

//! Sends every input column back as a computed column, so a test can check
//! that each column type survives both directions of the boundary.
use weir_sdk::prelude::*;

struct Echo;

impl Transform for Echo {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Echo)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        Ok(Plan::new(input.clone()))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let mut out = batch.output();
        for field in &batch.schema().fields {
            out = out.copy(&field.name, batch.column(&field.name)?);
        }
        Ok(out)
    }
}

export_transform!(Echo);

//! Numbers rows across batches (`seq`) with a counter kept in the host's
//! state, so a test can check that state outlives a batch and an instance.
//! A `value` of `trap` panics after the counter was advanced: the host must
//! roll the advance back with the failed batch.
use weir_sdk::host::{log, state};
use weir_sdk::prelude::*;

struct Counter;

impl Transform for Counter {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Counter)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        let output = input
            .clone()
            .with(Field::new("seq", DataType::Int64, false));
        let reads: &[&str] = if input.field("value").is_some() {
            &["value"]
        } else {
            &[]
        };
        Ok(Plan::new(output).reads(reads))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let mut next = state::get("next")
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(1);
        let out = batch.map("seq", |_| {
            next += 1;
            next - 1
        });
        state::set("next", &next.to_le_bytes());
        if batch
            .rows()
            .any(|row| batch.schema().field("value").is_some() && row.utf8("value") == Some("trap"))
        {
            panic!("trapped after numbering");
        }
        log::debug(&format!("numbered up to {}", next - 1));
        Ok(out)
    }
}

export_transform!(Counter);

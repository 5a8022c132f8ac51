// The body shared by the tag-* builds (each defines VERSION and BROKEN):
// a transform that tags each row with its build (`version`) and numbers rows
// across batches (`seq`) with a counter in the host's state, so a test can
// see which build processed each row, and that state survives a reload.
use weir_sdk::host::state;
use weir_sdk::prelude::*;

struct Tag;

impl Transform for Tag {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Tag)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        let output = input
            .clone()
            .with(Field::new("version", DataType::Utf8, false))
            .with(Field::new("seq", DataType::Int64, false));
        Ok(Plan::new(output).reads(&[]))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        if BROKEN {
            panic!("build {VERSION} is broken");
        }
        let mut next = state::get("next")
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            .unwrap_or(1);
        let out = batch.map("version", |_| VERSION).map("seq", |_| {
            next += 1;
            next - 1
        });
        state::set("next", &next.to_le_bytes());
        Ok(out)
    }
}

export_transform!(Tag);

//! A pass-through transform built against `weir:plugin@0.1.0`, with
//! wit-bindgen directly and the contract as it was then: a host of a later
//! 0.1.x must still load it (semver-compatible imports).
wit_bindgen::generate!({ path: "wit", world: "transform" });

use exports::weir::plugin::transformer::Guest;
use weir::plugin::types::{
    Batch, ColumnSource, OutputColumn, Plan, RowSelection, Schema, TransformOutput,
};

struct Passthrough;

/// The input's column names, from `describe`: `process` sends them back.
static COLUMNS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

impl Guest for Passthrough {
    fn init(_config: Vec<(String, String)>) -> Result<(), String> {
        weir::plugin::log::log(weir::plugin::log::Level::Info, "built for 0.1.0");
        Ok(())
    }

    fn describe(input: Schema) -> Result<Plan, String> {
        *COLUMNS.lock().unwrap() = input
            .columns
            .iter()
            .map(|&i| input.fields[i as usize].name.clone())
            .collect();
        Ok(Plan {
            output: input,
            projection: Some(Vec::new()),
        })
    }

    fn process(input: Batch) -> Result<TransformOutput, String> {
        // The batch carries no columns (the plan reads none): every input
        // column passes through, by index.
        let _ = input;
        let columns = COLUMNS.lock().unwrap();
        Ok(TransformOutput {
            rows: RowSelection::All,
            columns: (0..columns.len() as u32)
                .map(|i| OutputColumn {
                    name: columns[i as usize].clone(),
                    source: ColumnSource::Input(i),
                })
                .collect(),
            arrays: Vec::new(),
            rejections: Vec::new(),
        })
    }
}

export!(Passthrough);

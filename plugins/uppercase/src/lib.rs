//! The benchmark transform: keeps rows whose `score` is at least `min_score`
//! and uppercases their `name`. `weir bench transform` runs the same logic
//! natively and compares both outputs.

use weir_sdk::prelude::*;
use weir_sdk::{Builder, Utf8Builder};

struct Uppercase {
    min_score: f64,
}

impl Transform for Uppercase {
    fn new(config: &Config) -> Result<Self, Error> {
        Ok(Uppercase {
            min_score: config.get("min_score", 0.5)?,
        })
    }

    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        for (name, ty) in [("name", DataType::Utf8), ("score", DataType::Float64)] {
            if input.require(name)?.data_type != ty {
                return Err(format!("column `{name}` must be {ty:?}").into());
            }
        }
        // Only `name` and `score` cross the boundary; the other columns are
        // passed through by the host.
        Ok(Plan::new(input.clone()).reads(&["name", "score"]))
    }

    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let names = batch.utf8("name")?;
        let scores = batch.float64("score")?;
        let min = self.min_score;
        let out = batch.filter(|row| scores.get(row.index()).is_some_and(|s| s >= min));
        let mut upper = Utf8Builder::with_capacity(out.num_rows(), names.len() * 16);
        for row in out.selected_rows() {
            match names.get(row) {
                Some(name) if name.is_ascii() => upper.append_ascii_uppercase(name),
                Some(name) => {
                    upper.append_with(|text| text.extend(name.chars().flat_map(char::to_uppercase)))
                }
                None => upper.push_null(),
            }
        }
        Ok(out.set("name", upper))
    }
}

export_transform!(Uppercase);

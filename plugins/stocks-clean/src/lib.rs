//! The stocks benchmark's transform (bench/stocks.toml): drops ticks that
//! traded nothing (`volume` null or not above zero, as a halted quote is) and
//! upper-cases `symbol`, the same `filter` + `upper` as the PySpark job in
//! bench/stocks_spark.py.

use weir_sdk::prelude::*;
use weir_sdk::{Builder, Utf8Builder};

struct StocksClean;

impl Transform for StocksClean {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(StocksClean)
    }

    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        for (name, ty) in [("symbol", DataType::Utf8), ("volume", DataType::Int64)] {
            if input.require(name)?.data_type != ty {
                return Err(format!("column `{name}` must be {ty:?}").into());
            }
        }
        // Only these two columns cross the boundary; the host passes the
        // others through.
        Ok(Plan::new(input.clone()).reads(&["symbol", "volume"]))
    }

    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let symbols = batch.utf8("symbol")?;
        let volumes = batch.int64("volume")?;
        let out = batch.filter(|row| volumes.get(row.index()).is_some_and(|v| v > 0));
        let mut upper = Utf8Builder::with_capacity(out.num_rows(), symbols.len() * 12);
        for row in out.selected_rows() {
            match symbols.get(row) {
                Some(s) if s.is_ascii() => upper.append_ascii_uppercase(s),
                // Spark's upper() maps every character, not only ASCII.
                Some(s) => upper.append_with(|text| text.push_str(&s.to_uppercase())),
                None => upper.push_null(),
            }
        }
        Ok(out.set("symbol", upper))
    }
}

export_transform!(StocksClean);

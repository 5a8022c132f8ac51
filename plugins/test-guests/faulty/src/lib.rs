//! Misbehaves on request, row by row: a `value` of `reject` is rejected,
//! `fail` fails the whole batch, `trap` panics (a trap in the host's eyes),
//! `loop` never returns, `hog` allocates memory until it is refused.
//! Every other row passes through unchanged.
use weir_sdk::prelude::*;

struct Faulty;

impl Transform for Faulty {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Faulty)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        input.require("value")?;
        Ok(Plan::new(input.clone()).reads(&["value"]))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let values = batch.utf8("value")?;
        let mut out = batch.output();
        for row in 0..batch.num_rows() {
            match values.get(row) {
                Some("reject") => out.reject(row, "rejected on request"),
                Some("fail") => return Err("failed the batch on request".into()),
                Some("trap") => panic!("trapped on request"),
                Some("loop") => loop {
                    std::hint::spin_loop();
                },
                Some("hog") => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1u8; 16 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

export_transform!(Faulty);

//! A sink that writes nothing and fails where its config says: `fail_in =
//! "pre-commit"` returns an error there, `"write"` traps in `write`.
use weir_sink::{Batch, Config, Schema, Sink, SinkPlan, WriteReport, export_sink};

struct FailingSink {
    fail_in: String,
}

impl Sink for FailingSink {
    fn open(config: &Config, _input: &Schema) -> Result<(Self, SinkPlan), String> {
        let fail_in = config.require("fail_in")?.to_string();
        config.reject_unknown()?;
        let plan = SinkPlan {
            reads: Some(vec![]),
        };
        Ok((FailingSink { fail_in }, plan))
    }

    fn write(&mut self, _rows: Batch) -> Result<WriteReport, String> {
        if self.fail_in == "write" {
            panic!("failing-sink traps in write, as configured");
        }
        Ok(WriteReport {
            rejections: Vec::new(),
        })
    }

    fn pre_commit(&mut self, _epoch: u64) -> Result<(), String> {
        if self.fail_in == "pre-commit" {
            return Err("failing-sink refuses to prepare, as configured".to_string());
        }
        Ok(())
    }
}

export_sink!(FailingSink);

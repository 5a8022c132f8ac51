//! A sink that writes nothing and fails where its config says: `fail_in =
//! "pre-commit"` returns an error there, `"write"` traps in `write`.
use std::cell::RefCell;
use weir_sink::{Batch, Config, Guest, Schema, SinkPlan, WriteReport, export_sink};

struct FailingSink;

thread_local! {
    static FAIL_IN: RefCell<String> = const { RefCell::new(String::new()) };
}

fn fails_in(call: &str) -> bool {
    FAIL_IN.with_borrow(|f| f == call)
}

impl Guest for FailingSink {
    fn open(config: Vec<(String, String)>, _input: Schema) -> Result<SinkPlan, String> {
        let config = Config::new(config);
        let fail_in = config.require("fail_in")?.to_string();
        config.reject_unknown()?;
        FAIL_IN.with_borrow_mut(|f| *f = fail_in);
        Ok(SinkPlan {
            reads: Some(vec![]),
        })
    }

    fn write(_rows: Batch) -> Result<WriteReport, String> {
        if fails_in("write") {
            panic!("failing-sink traps in write, as configured");
        }
        Ok(WriteReport {
            rejections: Vec::new(),
        })
    }

    fn pre_commit(_epoch: u64) -> Result<(), String> {
        if fails_in("pre-commit") {
            return Err("failing-sink refuses to prepare, as configured".to_string());
        }
        Ok(())
    }

    fn commit(_epoch: u64) -> Result<(), String> {
        Ok(())
    }

    fn abort(_epoch: u64) {}

    fn close() -> Result<(), String> {
        Ok(())
    }
}

export_sink!(FailingSink);

//! A hostile transform built on the raw contract (no SDK), so it can break
//! the contract in ways the SDK never would. Its `mode` config key says how;
//! rows whose `value` is `go` trigger it, other rows pass through with a
//! computed `note` of "ok" (so the batches around a failure are visible):
//!
//! - `loop-init`, `loop-describe`: never return from `init` / `describe`.
//! - `spin`: never returns from `process`.
//! - `sleep`: sleeps 30 s in `process`; `note` says how long it slept by
//!   the monotonic clock (grant it the clock to see real time).
//! - `wait-for-clock`: waits, sleeping 10 ms at a time, until the monotonic
//!   clock has moved 30 s.
//! - `state-bomb`: sets 32 new state keys of 64 KiB per call, without end.
//! - `reject-twice`: rejects row 0 twice and keeps no row.
//! - `take-out-of-range`: selects a row past the end of the batch.
//! - `offsets-past-end`: a utf8 column whose offsets end past its bytes.
//! - `short-validity`: a validity bitmap with fewer bits than rows.
//! - `bad-utf8`: a utf8 column whose bytes are not UTF-8.
//! - `log-flood`: logs a million messages, then passes the batch.
//! - `trap`: panics on every call.
wit_bindgen::generate!({ path: "../../../wit", world: "transform" });

use exports::weir::plugin::transformer::Guest;
use std::cell::RefCell;
use weir::plugin::types::{
    Array, Batch, ColumnSource, DataType, Field, OutputColumn, Plan, Rejection, RowSelection,
    Schema, TransformOutput, Values, VarBytes,
};
use weir::plugin::{log, state};

struct Rogue;

thread_local! {
    static MODE: RefCell<String> = const { RefCell::new(String::new()) };
    static KEYS: RefCell<u64> = const { RefCell::new(0) };
}

fn mode() -> String {
    MODE.with_borrow(|m| m.clone())
}

fn spin() -> ! {
    loop {
        std::hint::spin_loop();
    }
}

/// `note` of "ok" for each of `rows` rows.
fn notes(rows: usize, text: &str) -> Array {
    let mut bytes = Vec::new();
    let mut offsets = vec![0i32];
    for _ in 0..rows {
        bytes.extend_from_slice(text.as_bytes());
        offsets.push(bytes.len() as i32);
    }
    Array {
        len: rows as u32,
        validity: None,
        values: Values::Utf8(VarBytes { offsets, bytes }),
    }
}

/// Whether row `row` of the batch's `value` column is `go`.
fn is_go(batch: &Batch, row: usize) -> bool {
    let Some(column) = batch
        .schema
        .columns
        .iter()
        .position(|&f| batch.schema.fields[f as usize].name == "value")
    else {
        return false;
    };
    let array = &batch.arrays[batch.columns[column] as usize];
    match &array.values {
        Values::Utf8(v) => {
            let (start, end) = (v.offsets[row] as usize, v.offsets[row + 1] as usize);
            &v.bytes[start..end] == b"go"
        }
        _ => false,
    }
}

fn output(
    input: &Batch,
    rows: RowSelection,
    note: Array,
    rejections: Vec<Rejection>,
) -> TransformOutput {
    let mut columns: Vec<OutputColumn> = input
        .schema
        .columns
        .iter()
        .enumerate()
        .map(|(i, &f)| OutputColumn {
            name: input.schema.fields[f as usize].name.clone(),
            source: ColumnSource::Input(i as u32),
        })
        .collect();
    columns.push(OutputColumn {
        name: "note".to_string(),
        source: ColumnSource::Computed(0),
    });
    TransformOutput {
        rows,
        columns,
        arrays: vec![note],
        rejections,
    }
}

impl Guest for Rogue {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        let mode = config
            .into_iter()
            .find(|(k, _)| k == "mode")
            .map(|(_, v)| v)
            .ok_or("config key `mode` is required")?;
        if mode == "loop-init" {
            spin();
        }
        MODE.with_borrow_mut(|m| *m = mode);
        Ok(())
    }

    fn describe(input: Schema) -> Result<Plan, String> {
        if mode() == "loop-describe" {
            spin();
        }
        let mut output = input.clone();
        output.fields.push(Field {
            name: "note".to_string(),
            data_type: DataType::Utf8,
            nullable: true,
        });
        output.columns.push(output.fields.len() as u32 - 1);
        Ok(Plan {
            output,
            projection: None,
        })
    }

    fn process(input: Batch) -> Result<TransformOutput, String> {
        let n = input.num_rows as usize;
        let go = (0..n).any(|row| is_go(&input, row));
        if !go {
            return Ok(output(&input, RowSelection::All, notes(n, "ok"), vec![]));
        }
        let mode = mode();
        let mut note = notes(n, "ok");
        let mut rows = RowSelection::All;
        let mut rejections = Vec::new();
        match mode.as_str() {
            "spin" => spin(),
            "trap" => panic!("trapping on every call, on purpose"),
            "sleep" => {
                let started = std::time::Instant::now();
                std::thread::sleep(std::time::Duration::from_secs(30));
                note = notes(n, &format!("slept {} ms", started.elapsed().as_millis()));
            }
            "wait-for-clock" => {
                let started = std::time::Instant::now();
                while started.elapsed() < std::time::Duration::from_secs(30) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
            "state-bomb" => {
                for _ in 0..32 {
                    let key = KEYS.with_borrow_mut(|k| {
                        *k += 1;
                        format!("key-{k}")
                    });
                    state::set(&key, &vec![7u8; 64 << 10]);
                }
            }
            "reject-twice" => {
                rows = RowSelection::Mask(vec![0; n.div_ceil(8)]);
                note = notes(0, "");
                rejections = vec![
                    Rejection {
                        row: 0,
                        reason: "first".to_string(),
                    },
                    Rejection {
                        row: 0,
                        reason: "again".to_string(),
                    },
                ];
            }
            "take-out-of-range" => {
                rows = RowSelection::Take(vec![n as u32 + 5]);
                note = notes(1, "ok");
            }
            "offsets-past-end" => {
                if let Values::Utf8(v) = &mut note.values {
                    *v.offsets.last_mut().unwrap() += 100;
                }
            }
            "short-validity" => note.validity = Some(Vec::new()),
            "bad-utf8" => {
                if let Values::Utf8(v) = &mut note.values {
                    v.bytes.iter_mut().for_each(|b| *b = 0xff);
                }
            }
            "log-flood" => {
                for i in 0..1_000_000 {
                    log::log(
                        log::Level::Info,
                        &format!("message {i} of a flood that has no end in sight"),
                    );
                }
            }
            other => return Err(format!("unknown mode {other:?}")),
        }
        Ok(output(&input, rows, note, rejections))
    }
}

export!(Rogue);

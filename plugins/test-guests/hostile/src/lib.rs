//! Tries, row by row, what a hostile or careless plugin would: a `value` of
//! `recurse` overflows the stack, `flood` returns millions of rows,
//! `read-file` reads /etc/hostname, `connect` opens a socket to the local
//! PostgreSQL, `env` reads `HOME`, `clock` reads the wall clock. What it saw
//! is written in `seen`, so a test can tell whether the sandbox held.
use weir_sdk::prelude::*;

struct Hostile;

/// Rows `flood` asks for: far past any sane output of one input row.
const FLOOD_ROWS: usize = 5_000_000;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // A frame with a buffer that cannot be optimised away.
    let frame = std::hint::black_box([depth as u8; 512]);
    if depth == u64::MAX {
        return frame[0] as u64;
    }
    recurse(depth + 1) + frame[1] as u64
}

fn seen(value: &str) -> String {
    match value {
        "recurse" => format!("returned {}", recurse(0)),
        "read-file" => match std::fs::read_to_string("/etc/hostname") {
            Ok(text) => format!("read: {}", text.trim()),
            Err(e) => format!("denied: {e}"),
        },
        "connect" => match std::net::TcpStream::connect("127.0.0.1:5432") {
            Ok(_) => "connected".to_string(),
            Err(e) => format!("denied: {e}"),
        },
        "env" => match std::env::var("HOME") {
            Ok(home) => format!("read: {home}"),
            Err(e) => format!("denied: {e}"),
        },
        "clock" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!("unix seconds: {}", now.as_secs())
        }
        other => other.to_string(),
    }
}

impl Transform for Hostile {
    fn new(_config: &Config) -> Result<Self, Error> {
        Ok(Hostile)
    }
    fn describe(&self, input: &Schema) -> Result<Plan, Error> {
        input.require("value")?;
        Ok(Plan::new(input.clone().with(Field::new(
            "seen",
            DataType::Utf8,
            false,
        ))))
    }
    fn process(&mut self, batch: &Batch) -> Result<Output, Error> {
        let values = batch.utf8("value")?;
        Ok(batch.flat_map("seen", |row| {
            let value = values.get(row.index()).unwrap_or_default();
            let times = if value == "flood" { FLOOD_ROWS } else { 1 };
            std::iter::repeat_n(seen(value), times)
        }))
    }
}

export_transform!(Hostile);

//! The generator source: simulated events at a given rate, the same for the
//! same seed, for examples, tests and benchmarks without a broker.

use super::{Mark, Position, RunMode, Source, SourceBatch, SourceError};
use crate::config::GeneratorConfig;
use crate::envelope::Envelope;
use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const COUNTRIES: [&str; 8] = ["KR", "US", "DE", "JP", "FR", "BR", "IN", "GB"];

/// Simulated user registrations, logins and logouts.
pub struct GeneratorSource {
    schema: SchemaRef,
    rng: ChaCha8Rng,
    count: Option<u64>,
    rate: u64,
    users: u64,
    start_ms: i64,
    step_ms: i64,
    /// Maximum lag of an event behind its place in the stream, in ms.
    disorder_ms: i64,
    batch_size: usize,
    emitted: u64,
    started: Instant,
    /// Batch sizes a replayed epoch must reproduce.
    replay: std::collections::VecDeque<u64>,
    mode: RunMode,
}

impl GeneratorSource {
    pub fn new(config: &GeneratorConfig, mode: RunMode) -> Result<Self, SourceError> {
        if mode.available_now && config.count.is_none() {
            return Err(SourceError::Config(
                "key `source.count`: a generator without a count never ends; set one for --available-now".to_string(),
            ));
        }
        let start_ms = string_to_timestamp_nanos(&config.start_time)
            .map_err(|e| SourceError::Config(format!("key `source.start_time`: {e}")))?
            / 1_000_000;
        let disorder_ms = match &config.disorder {
            None => 0,
            Some(text) => {
                crate::config::duration::parse_micros(text)
                    .map_err(|e| SourceError::Config(format!("key `source.disorder`: {e}")))?
                    / 1_000
            }
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("event_id", DataType::Int64, false),
            Field::new("user_id", DataType::Int64, false),
            Field::new("event_type", DataType::Utf8, false),
            Field::new("country", DataType::Utf8, false),
            Field::new(
                "event_time",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]));
        Ok(GeneratorSource {
            schema,
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            count: config.count,
            rate: config.rate,
            users: config.users.max(1),
            start_ms,
            step_ms: config.step_ms as i64,
            disorder_ms,
            batch_size: config.batch_size,
            emitted: 0,
            started: Instant::now(),
            replay: Default::default(),
            mode,
        })
    }

    fn next_size(&mut self) -> usize {
        if let Some(records) = self.replay.pop_front() {
            return records as usize;
        }
        let remaining = self.count.map_or(u64::MAX, |c| c - self.emitted);
        // At a set rate, batches of a tenth of a second keep latency low.
        let paced = if self.rate > 0 {
            (self.rate / 10).max(1)
        } else {
            u64::MAX
        };
        (self.batch_size as u64).min(remaining).min(paced) as usize
    }
}

impl Source for GeneratorSource {
    fn position(&self) -> Position {
        Position::Generator {
            emitted: self.emitted,
            word_pos: self.rng.get_word_pos(),
        }
    }

    fn restore(&mut self, position: &Position) -> Result<(), SourceError> {
        let &Position::Generator { emitted, word_pos } = position else {
            return Err(SourceError::Restore(format!(
                "the checkpoint is of another kind of source: {position:?}"
            )));
        };
        self.emitted = emitted;
        self.rng.set_word_pos(word_pos);
        // Pace from here as if the run had never stopped.
        if self.rate > 0 {
            let ahead = Duration::from_secs_f64(emitted as f64 / self.rate as f64);
            self.started = Instant::now().checked_sub(ahead).unwrap_or(self.started);
        }
        Ok(())
    }

    fn replay(&mut self, batches: &[Mark]) {
        self.replay = batches.iter().map(|m| m.records).collect();
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn describe(&self) -> String {
        "generator user-events".to_string()
    }

    /// With a count, the generator's events are all there will be.
    fn bounded(&self) -> bool {
        self.count.is_some()
    }

    fn next_batch(&mut self) -> Result<Option<SourceBatch>, SourceError> {
        let n = self.next_size();
        if n == 0 || self.mode.stop.load(Ordering::Relaxed) {
            return Ok(None);
        }
        if self.rate > 0 {
            let due = Duration::from_secs_f64(self.emitted as f64 / self.rate as f64);
            if let Some(wait) = due.checked_sub(self.started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        let first = self.emitted as i64;
        let ids: Vec<i64> = (first..first + n as i64).collect();
        let mut users = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut countries = Vec::with_capacity(n);
        for _ in 0..n {
            users.push(self.rng.random_range(1..=self.users as i64));
            let roll: u32 = self.rng.random_range(0..100);
            types.push(match roll {
                0..10 => "registration",
                10..75 => "login",
                _ => "logout",
            });
            countries.push(COUNTRIES[self.rng.random_range(0..COUNTRIES.len())]);
        }
        let mut times = Vec::with_capacity(n);
        for i in &ids {
            let lag = if self.disorder_ms > 0 {
                self.rng.random_range(0..=self.disorder_ms)
            } else {
                0
            };
            times.push(self.start_ms + i * self.step_ms - lag);
        }
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            vec![
                Arc::new(Int64Array::from(ids.clone())),
                Arc::new(Int64Array::from(users)),
                Arc::new(StringArray::from(types)),
                Arc::new(StringArray::from(countries)),
                Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")),
            ],
        )
        .expect("columns follow the schema");
        self.emitted += n as u64;
        let rows = Envelope::new(batch, vec!["generator"; n], ids);
        Ok(Some(SourceBatch {
            rows,
            rejected: Vec::new(),
            partition: 0,
        }))
    }
}

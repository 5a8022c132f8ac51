//! Event-time windows and aggregates, computed by the host: rows are
//! assigned to windows by event time, aggregated per group-by key, and emitted
//! according to the output mode as the watermark passes.

pub mod aggregate;
mod assign;
mod emit;
mod stage;
mod state;
mod watermark;

pub use assign::WindowSpec;
pub use stage::WindowStage;
pub use state::{STATE_VERSION, WindowState};
pub use watermark::{WatermarkSnapshot, WatermarkTracker};

use crate::config::{LatePolicy, OutputMode, WindowConfig, WindowKind, duration};
use aggregate::{Acc, Aggregate, Prepared};
use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use arrow::row::{RowConverter, SortField};
use state::{FastMap, FastSet, Key, Session};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

/// Where event time comes from.
enum EventTime {
    Column(usize),
    /// The wall clock when the row arrives.
    Processing,
}

/// What one batch did to the window.
#[derive(Default)]
pub struct WindowOutput {
    /// Aggregate rows to emit now.
    pub rows: Option<RecordBatch>,
    /// Input rows whose windows had closed, with their event time.
    pub late: Vec<(usize, i64)>,
    /// Input rows without an event time.
    pub untimed: Vec<usize>,
}

pub struct WindowOperator {
    spec: WindowSpec,
    time: EventTime,
    keys: Vec<usize>,
    key_converter: Option<RowConverter>,
    aggregates: Vec<Aggregate>,
    mode: OutputMode,
    pub late_policy: LatePolicy,
    watermark: WatermarkTracker,
    state: WindowState,
    /// Groups changed since the last emission, for update mode: by window (or
    /// session) start, 0 for the global window, then key.
    dirty: FastMap<i64, FastSet<Key>>,
    output_schema: SchemaRef,
    starts: Vec<i64>,
}

const UTC_MICROS: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

fn window_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

impl WindowOperator {
    pub fn new(config: &WindowConfig, input: &Schema) -> Result<Self, String> {
        let micros =
            |text: &Option<String>| text.as_deref().map(duration::parse_micros).transpose();
        let spec = match config.kind {
            WindowKind::Tumbling => WindowSpec::Tumbling {
                size: micros(&config.size)?.expect("validated"),
            },
            WindowKind::Sliding => WindowSpec::Sliding {
                size: micros(&config.size)?.expect("validated"),
                slide: micros(&config.slide)?.expect("validated"),
            },
            WindowKind::Session => WindowSpec::Session {
                gap: micros(&config.gap)?.expect("validated"),
            },
            WindowKind::Global => WindowSpec::Global,
        };
        let column = |name: &str, what: &str| {
            input.index_of(name).map_err(|_| {
                let names: Vec<&str> = input.fields().iter().map(|f| f.name().as_str()).collect();
                format!("{what}: no column `{name}` (columns: {})", names.join(", "))
            })
        };
        let time = match config.time.as_deref() {
            None | Some("processing") => EventTime::Processing,
            Some(name) => {
                let i = column(name, "time")?;
                match input.field(i).data_type() {
                    DataType::Timestamp(_, _) => EventTime::Column(i),
                    other => {
                        return Err(format!("time: column `{name}` is {other}, not a TIMESTAMP"));
                    }
                }
            }
        };
        let keys = config
            .group_by
            .iter()
            .map(|k| column(k, "group_by"))
            .collect::<Result<Vec<_>, _>>()?;
        let key_converter = if keys.is_empty() {
            None
        } else {
            let fields = keys
                .iter()
                .map(|&k| SortField::new(input.field(k).data_type().clone()))
                .collect();
            Some(RowConverter::new(fields).map_err(|e| format!("group_by: {e}"))?)
        };
        let aggregates = config
            .aggregates
            .iter()
            .map(|a| aggregate::parse(a).and_then(|expr| Aggregate::bind(expr, input)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut fields = Vec::new();
        if spec != WindowSpec::Global {
            fields.push(Field::new("window_start", window_time_type(), false));
            fields.push(Field::new("window_end", window_time_type(), false));
        }
        fields.extend(keys.iter().map(|&k| input.field(k).clone()));
        fields.extend(aggregates.iter().map(Aggregate::output_field));
        let output_schema = Arc::new(Schema::new(fields));
        let mut names = HashSet::new();
        if let Some(dup) = output_schema
            .fields()
            .iter()
            .find(|f| !names.insert(f.name()))
        {
            return Err(format!(
                "aggregates: the output has two columns named `{}`; give one an alias (AS ...)",
                dup.name()
            ));
        }
        let delay = duration::parse_micros(&config.watermark)?;
        let idle = config
            .idle_timeout()
            .map_err(|e| format!("idle_timeout: {e}"))?;
        Ok(WindowOperator {
            spec,
            time,
            keys,
            key_converter,
            aggregates,
            mode: config.output,
            late_policy: config.late,
            watermark: WatermarkTracker::new(delay, idle),
            state: WindowState::default(),
            dirty: FastMap::default(),
            output_schema,
            starts: Vec::new(),
        })
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The watermark, in microseconds since the epoch; `None` before any event.
    pub fn watermark(&self) -> Option<i64> {
        Some(self.watermark.current()).filter(|&w| w != i64::MIN)
    }

    /// Each source partition's watermark, in microseconds, and whether it
    /// is idle (see [`WatermarkTracker::partitions`]).
    pub fn partition_watermarks(&self) -> Vec<(i32, Option<i64>, bool)> {
        self.watermark.partitions(Instant::now())
    }

    pub fn open_groups(&self) -> usize {
        self.state.open_groups()
    }

    /// The state as a checkpoint would store it.
    pub fn snapshot(&mut self) -> Vec<u8> {
        self.state.watermark = Some(self.watermark.snapshot());
        self.state.snapshot()
    }

    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        let mut state = WindowState::restore(bytes)?;
        if let Some(w) = state.watermark.take() {
            self.watermark.restore(w, Instant::now());
        }
        self.state = state;
        Ok(())
    }

    /// The source's partitions are now `assigned` (their watermark ids): the
    /// watermark waits for each of them (see [`WatermarkTracker::assign`]).
    pub fn assign(&mut self, assigned: &[i32], now: Instant) {
        self.watermark.assign(assigned, now);
    }

    /// No records came: partitions that went idle may let the watermark
    /// advance, and what the output mode emits then is returned.
    pub fn tick(&mut self, now: Instant) -> Result<Option<RecordBatch>, String> {
        let before = self.watermark.current();
        if self.watermark.advance(now) == before {
            return Ok(None);
        }
        self.emit(false)
    }

    fn event_times(&self, batch: &RecordBatch) -> Result<TimestampMicrosecondArray, String> {
        match self.time {
            EventTime::Column(i) => {
                let times =
                    cast(batch.column(i), &UTC_MICROS).map_err(|e| format!("event time: {e}"))?;
                Ok(times.as_primitive::<TimestampMicrosecondType>().clone())
            }
            EventTime::Processing => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Ok(TimestampMicrosecondArray::from(vec![
                    now.as_micros() as i64;
                    batch.num_rows()
                ]))
            }
        }
    }

    /// Aggregates one batch from source partition `partition`, advances the
    /// watermark, and returns what the output mode emits now.
    pub fn process(
        &mut self,
        batch: &RecordBatch,
        partition: i32,
        now: Instant,
    ) -> Result<WindowOutput, String> {
        let times = self.event_times(batch)?;
        let watermark = self.watermark.current();
        let inputs = self
            .aggregates
            .iter()
            .map(|a| a.prepare(batch))
            .collect::<Result<Vec<_>, _>>()?;
        let keys = match &self.key_converter {
            None => None,
            Some(c) => {
                let columns: Vec<ArrayRef> =
                    self.keys.iter().map(|&k| batch.column(k).clone()).collect();
                Some(
                    c.convert_columns(&columns)
                        .map_err(|e| format!("group_by: {e}"))?,
                )
            }
        };
        let mut out = WindowOutput::default();
        let mut max_time = None;
        for row in 0..batch.num_rows() {
            if times.is_null(row) {
                out.untimed.push(row);
                continue;
            }
            let t = times.value(row);
            max_time = Some(max_time.map_or(t, |m: i64| m.max(t)));
            if self.spec.last_end(t).is_some_and(|end| end <= watermark) {
                out.late.push((row, t));
                continue;
            }
            let key: &[u8] = keys.as_ref().map_or(&[], |k| k.row(row).data());
            self.add(key, t, watermark, &inputs, row);
        }
        if let Some(t) = max_time {
            self.watermark.observe(partition, t, now);
        }
        self.watermark.advance(now);
        out.rows = self.emit(false)?;
        Ok(out)
    }

    /// Adds one on-time row to every open window it belongs to.
    fn add(&mut self, key: &[u8], t: i64, watermark: i64, inputs: &[Prepared], row: usize) {
        let update = |aggregates: &[Aggregate], accs: &mut Vec<Acc>| {
            for ((agg, acc), input) in aggregates.iter().zip(accs.iter_mut()).zip(inputs) {
                agg.update(acc, input, row, t);
            }
        };
        let new_accs = |aggregates: &[Aggregate]| {
            aggregates
                .iter()
                .map(Aggregate::new_acc)
                .collect::<Vec<_>>()
        };
        match self.spec {
            WindowSpec::Global => {
                if !self.state.global.contains_key(key) {
                    self.state
                        .global
                        .insert(key.into(), new_accs(&self.aggregates));
                }
                update(
                    &self.aggregates,
                    self.state.global.get_mut(key).expect("inserted above"),
                );
                self.mark_dirty(0, key);
            }
            WindowSpec::Tumbling { size } | WindowSpec::Sliding { size, .. } => {
                self.spec.starts(t, &mut self.starts);
                for &start in &self.starts {
                    // A window already closed is not reopened by an earlier window's row.
                    if start.saturating_add(size) <= watermark {
                        continue;
                    }
                    if !self.state.windows.contains_key(&start) {
                        // Windows tend to hold as many keys as the last one:
                        // sizing the map up front saves rehashing as it fills.
                        let expected = self
                            .state
                            .windows
                            .values()
                            .next_back()
                            .map_or(0, FastMap::len);
                        self.state.windows.insert(
                            start,
                            FastMap::with_capacity_and_hasher(expected, Default::default()),
                        );
                    }
                    let groups = self.state.windows.get_mut(&start).expect("inserted above");
                    if !groups.contains_key(key) {
                        groups.insert(key.into(), new_accs(&self.aggregates));
                    }
                    update(
                        &self.aggregates,
                        groups.get_mut(key).expect("inserted above"),
                    );
                }
                for i in 0..self.starts.len() {
                    let start = self.starts[i];
                    if start.saturating_add(size) > watermark {
                        self.mark_dirty(start, key);
                    }
                }
            }
            WindowSpec::Session { gap } => {
                if !self.state.sessions.contains_key(key) {
                    self.state.sessions.insert(key.into(), Vec::new());
                }
                let sessions = self.state.sessions.get_mut(key).expect("inserted above");
                let (start, end) = (t, t.saturating_add(gap));
                // Every session this event's [t, t + gap) overlaps merges into one.
                let mut merged = Session {
                    start,
                    end,
                    accs: new_accs(&self.aggregates),
                };
                let mut i = 0;
                while i < sessions.len() {
                    if sessions[i].start < end && start < sessions[i].end {
                        let other = sessions.swap_remove(i);
                        merged.start = merged.start.min(other.start);
                        merged.end = merged.end.max(other.end);
                        for ((agg, acc), o) in self
                            .aggregates
                            .iter()
                            .zip(merged.accs.iter_mut())
                            .zip(other.accs)
                        {
                            agg.merge(acc, o);
                        }
                        if let Some(keys) = self.dirty.get_mut(&other.start) {
                            keys.remove(key);
                        }
                    } else {
                        i += 1;
                    }
                }
                update(&self.aggregates, &mut merged.accs);
                let start = merged.start;
                sessions.push(merged);
                self.mark_dirty(start, key);
            }
        }
    }

    fn mark_dirty(&mut self, start: i64, key: &[u8]) {
        if self.mode == OutputMode::Update {
            let keys = self.dirty.entry(start).or_default();
            if !keys.contains(key) {
                keys.insert(key.into());
            }
        }
    }

    /// Takes the input as complete: the watermark jumps past every window, and
    /// what the output mode still owes is emitted.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>, String> {
        self.watermark.flush();
        self.emit(true)
    }
}

/// An event time for messages: RFC 3339 in UTC.
pub fn show_time(micros: i64) -> String {
    match arrow::temporal_conversions::timestamp_us_to_datetime(micros) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string(),
        None => format!("{micros} µs"),
    }
}

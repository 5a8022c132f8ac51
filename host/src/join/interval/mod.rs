//! The interval join: rows of two sources whose keys are equal and whose
//! event times are within a bound (`right_time - left_time` in
//! `[lower, upper]`), as Flink's interval join and Spark's stream–stream
//! join with a time-range condition match them.
//!
//! Each side keeps a watermark of its own (per partition, as the window's).
//! A left row is held until the right side's watermark passes its
//! interval's end, a right row until the left side's passes its start;
//! then no row of the other side can match them, and they go. Joined rows
//! leave the stage in the left rows' event-time order, once no later
//! arrival can make a row that precedes them: a window after the join never
//! finds them late. A `left` join emits each left row that never matched,
//! with nulls, when it goes.

mod output;
mod side;
mod state;

use crate::config::join::JoinKind;
use crate::config::{Bounds, IntervalJoinConfig, LatePolicy};
use crate::envelope::Envelope;
use crate::observe::summary::{IntervalJoinCounts, StageCounts};
use crate::operator::{Operator, OperatorError, Processed, Refusal, StateTables, Watermark};
use crate::source::merged::input_of;
use crate::window::WatermarkTracker;
use arrow::array::{Array, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use output::{Output, Pending};
use side::{Keys, RowRef, Side};
use std::time::Instant;

const LEFT: usize = 0;
const RIGHT: usize = 1;

pub struct IntervalJoin {
    stage: String,
    kind: JoinKind,
    bounds: Bounds,
    late: LatePolicy,
    /// The merged source's index of each side's input.
    inputs: [usize; 2],
    /// Each side's source name, for messages.
    sources: [String; 2],
    time_columns: [usize; 2],
    time_names: [String; 2],
    keys: [Keys; 2],
    sides: [Side; 2],
    watermarks: [WatermarkTracker; 2],
    output: Output,
    pending: Pending,
    counts: IntervalJoinCounts,
}

impl IntervalJoin {
    /// Binds `config` to the merged source's inputs (`(name, schema)` in
    /// the pipeline's order); errors start with the key under `interval_join`.
    pub fn new(
        config: &IntervalJoinConfig,
        inputs: &[(String, SchemaRef)],
    ) -> Result<IntervalJoin, String> {
        let find = |name: &str| {
            inputs
                .iter()
                .position(|(n, _)| n == name)
                .expect("validated against the sources")
        };
        let index = [find(&config.left), find(&config.right)];
        let schemas = [inputs[index[0]].1.clone(), inputs[index[1]].1.clone()];
        let names = [config.left.clone(), config.right.clone()];
        let time_names = [config.left_time.clone(), config.right_time().to_string()];
        let mut time_columns = [0; 2];
        for s in [LEFT, RIGHT] {
            time_columns[s] = time_column(&schemas[s], &time_names[s]).map_err(|e| {
                let key = ["left_time", "right_time"][s];
                format!("{key}`: source `{}`: {e}", names[s])
            })?;
        }
        let key_names = [config.on.clone(), config.right_on().to_vec()];
        let mut key_columns = [Vec::new(), Vec::new()];
        for s in [LEFT, RIGHT] {
            for k in &key_names[s] {
                let i = schemas[s].index_of(k).map_err(|_| {
                    let key = ["on", "right_on"][s];
                    format!(
                        "{key}`: source `{}` has no column `{k}` (it has: {})",
                        names[s],
                        crate::join::table::names(&schemas[s])
                    )
                })?;
                key_columns[s].push(i);
            }
        }
        for (l, r) in key_columns[LEFT].iter().zip(&key_columns[RIGHT]) {
            let (lf, rf) = (schemas[LEFT].field(*l), schemas[RIGHT].field(*r));
            if lf.data_type() != rf.data_type() {
                return Err(format!(
                    "on`: the key `{}.{}` is {} but `{}.{}` is {}; the keys of the two sides must be of one type",
                    names[LEFT],
                    lf.name(),
                    lf.data_type(),
                    names[RIGHT],
                    rf.name(),
                    rf.data_type()
                ));
            }
        }
        let converter = |s: usize| {
            let fields = key_columns[s]
                .iter()
                .map(|&i| arrow::row::SortField::new(schemas[s].field(i).data_type().clone()))
                .collect();
            arrow::row::RowConverter::new(fields).map_err(|e| format!("on`: {e}"))
        };
        let keys = [
            Keys::new(key_columns[LEFT].clone(), converter(LEFT)?),
            Keys::new(key_columns[RIGHT].clone(), converter(RIGHT)?),
        ];
        let output = Output::new(
            &schemas,
            &names,
            &key_columns[RIGHT],
            config.kind == JoinKind::Left,
        )?;
        let delay = config.delay()?;
        let idle = config.idle_timeout()?;
        let left_schema = Output::left_held_schema(&schemas[LEFT]);
        for schema in [&left_schema, &schemas[RIGHT], &output.schema()] {
            state::check_schema(schema)
                .map_err(|e| format!("left`: these rows cannot be checkpointed: {e}"))?;
        }
        Ok(IntervalJoin {
            stage: format!("join:{}", config.name),
            kind: config.kind,
            bounds: config.bounds()?,
            late: config.late,
            inputs: index,
            sources: names,
            time_columns,
            time_names,
            keys,
            sides: [Side::new(left_schema), Side::new(schemas[RIGHT].clone())],
            watermarks: [
                WatermarkTracker::new(delay, idle),
                WatermarkTracker::new(delay, idle),
            ],
            pending: Pending::default(),
            output,
            counts: IntervalJoinCounts {
                name: config.name.clone(),
                ..Default::default()
            },
        })
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.output.schema()
    }

    /// Takes one side's batch: late and untimed rows refused, the others
    /// matched against the other side's held rows and held themselves.
    fn take(
        &mut self,
        side: usize,
        rows: &Envelope,
        partition: i32,
    ) -> Result<Vec<Refusal>, String> {
        let data = &rows.data;
        let times = cast(
            data.column(self.time_columns[side]),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .map_err(|e| format!("event time: {e}"))?;
        let times = times.as_primitive::<TimestampMicrosecondType>();
        let watermark = self.watermarks[side].current();
        let encoded = self.keys[side].encode(data)?;
        let kept = match side {
            LEFT => Output::left_held(data, rows.origins())?,
            _ => data.clone(),
        };
        let batch = self.sides[side].keep(kept);
        let Bounds { lower, upper } = self.bounds;
        let mut refused = Vec::new();
        let mut pairs: Vec<(i64, RowRef, RowRef)> = Vec::new();
        let mut newest = None;
        for row in 0..data.num_rows() {
            if times.is_null(row) {
                self.counts.untimed += 1;
                refused.push(
                    self.refusal(row, format!("no event time in `{}`", self.time_names[side])),
                );
                continue;
            }
            let time = times.value(row);
            newest = newest.max(Some(time));
            if time < watermark {
                match self.late {
                    LatePolicy::Drop => self.counts.late_dropped += 1,
                    LatePolicy::DeadLetter => {
                        self.counts.late_dead_lettered += 1;
                        let reason = format!(
                            "late: event time {} is behind the {} side's watermark {}",
                            crate::window::show_time(time),
                            ["left", "right"][side],
                            crate::window::show_time(watermark)
                        );
                        refused.push(self.refusal(row, reason));
                    }
                }
                continue;
            }
            self.counts.held += 1;
            let at = RowRef {
                batch,
                row: row as u32,
            };
            let key = encoded.key(row);
            let mut matched = false;
            if let Some(key) = &key {
                if side == LEFT {
                    let found = self.sides[RIGHT].probe(
                        key,
                        time.saturating_add(lower),
                        time.saturating_add(upper),
                        false,
                    );
                    matched = !found.is_empty();
                    pairs.extend(found.into_iter().map(|(_, r)| (time, at, r)));
                } else {
                    let found = self.sides[LEFT].probe(
                        key,
                        time.saturating_sub(upper),
                        time.saturating_sub(lower),
                        true,
                    );
                    pairs.extend(found.into_iter().map(|(t, l)| (t, l, at)));
                }
            }
            self.sides[side].hold(time, key.as_deref(), at, matched);
        }
        if let Some(newest) = newest {
            self.watermarks[side].observe(partition, newest, Instant::now());
        }
        if !pairs.is_empty() {
            self.counts.matched += pairs.len() as u64;
            let lefts: Vec<RowRef> = pairs.iter().map(|p| p.1).collect();
            let rights: Vec<RowRef> = pairs.iter().map(|p| p.2).collect();
            let left = self.sides[LEFT].gather(&lefts)?;
            let right = self.sides[RIGHT].gather(&rights)?;
            let joined = self.output.joined(&left, Some(&right))?;
            self.pending
                .push(joined, pairs.iter().map(|p| p.0).collect());
        }
        self.sides[side].release_if_unused(batch);
        Ok(refused)
    }

    fn refusal(&self, row: usize, reason: String) -> Refusal {
        Refusal {
            stage: self.stage.clone(),
            row,
            reason,
        }
    }

    /// Advances both watermarks; lets go of the rows no later arrival can
    /// match (a `left` join's unmatched ones become rows with nulls), and
    /// emits, in event-time order, the joined rows no later arrival can
    /// precede.
    fn advance(&mut self, now: Instant) -> Result<Option<Envelope>, String> {
        let left_mark = self.watermarks[LEFT].advance(now);
        let right_mark = self.watermarks[RIGHT].advance(now);
        let Bounds { lower, upper } = self.bounds;
        // No right row to come is older than its watermark, so none can
        // reach a left row whose interval ended before it.
        let gone = self.sides[LEFT].evict_before(right_mark.saturating_sub(upper));
        if self.kind == JoinKind::Left {
            let unmatched: Vec<&side::Evicted> = gone.iter().filter(|e| !e.matched).collect();
            if !unmatched.is_empty() {
                self.counts.unmatched += unmatched.len() as u64;
                let rows: Vec<RowRef> = unmatched.iter().map(|e| e.at).collect();
                let left = self.sides[LEFT].gather(&rows)?;
                let joined = self.output.joined(&left, None)?;
                self.pending
                    .push(joined, unmatched.iter().map(|e| e.time).collect());
            }
        }
        self.sides[LEFT].release(&gone);
        let gone = self.sides[RIGHT].evict_before(left_mark.saturating_add(lower));
        self.sides[RIGHT].release(&gone);
        let ready = left_mark.min(right_mark.saturating_sub(upper));
        let out = self.pending.take_before(ready)?;
        self.counts.rows_out += out.as_ref().map_or(0, |e| e.num_rows() as u64);
        Ok(out)
    }
}

/// The index of `name` in `schema`, a TIMESTAMP column.
fn time_column(schema: &Schema, name: &str) -> Result<usize, String> {
    let i = schema.index_of(name).map_err(|_| {
        format!(
            "no column `{name}` (it has: {})",
            crate::join::table::names(schema)
        )
    })?;
    match schema.field(i).data_type() {
        DataType::Timestamp(_, _) => Ok(i),
        other => Err(format!("column `{name}` is {other}, not a TIMESTAMP")),
    }
}

impl Operator for IntervalJoin {
    fn name(&self) -> &str {
        &self.stage
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        partition: i32,
    ) -> Result<Processed, OperatorError> {
        let stage = self.stage.clone();
        let fail = |reason: String| OperatorError::Join {
            stage: stage.clone(),
            reason,
        };
        let input = input_of(partition);
        let side = match self.inputs.iter().position(|&i| i == input) {
            Some(side) => side,
            None => {
                return Err(fail(format!(
                    "a batch from an unknown source ({partition})"
                )));
            }
        };
        self.counts.rows_in[side] += rows.num_rows() as u64;
        let refused = self.take(side, rows, partition).map_err(&fail)?;
        let out = self.advance(Instant::now()).map_err(fail)?;
        Ok(Processed {
            rows: out,
            refused,
            ..Processed::default()
        })
    }

    fn merges_partitions(&self) -> bool {
        true
    }

    fn on_assignment(&mut self, partitions: &[i32]) {
        let now = Instant::now();
        for side in [LEFT, RIGHT] {
            let own: Vec<i32> = partitions
                .iter()
                .copied()
                .filter(|&p| input_of(p) == self.inputs[side])
                .collect();
            self.watermarks[side].assign(&own, now);
        }
    }

    fn handle_watermark(
        &mut self,
        watermark: Watermark,
    ) -> Result<Option<Envelope>, OperatorError> {
        if watermark == Watermark::EndOfInput {
            for w in &mut self.watermarks {
                w.flush();
            }
        }
        self.advance(Instant::now())
            .map_err(|reason| OperatorError::Join {
                stage: self.stage.clone(),
                reason,
            })
    }

    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        // Every schema was written once when the pipeline was planned.
        let tables = state::snapshot(self).expect("held rows of checked schemas encode");
        Some((None, tables))
    }

    fn restore(&mut self, _build: Option<&str>, tables: &StateTables) -> Result<(), OperatorError> {
        state::restore(self, tables).map_err(|reason| OperatorError::Restore {
            stage: self.stage.clone(),
            reason,
        })
    }

    fn counts(&self) -> StageCounts {
        StageCounts::IntervalJoin(IntervalJoinCounts {
            held_left: self.sides[LEFT].len() as u64,
            held_right: self.sides[RIGHT].len() as u64,
            waiting: self.pending.len() as u64,
            sources: self.sources.clone(),
            ..self.counts.clone()
        })
    }
}

//! The window as an operator of the pipeline: feeds it batches, sends late
//! and untimed rows where the late policy says, numbers the aggregate rows
//! it emits, and keeps its groups (and that numbering) in checkpoints.

use super::{WindowOperator, show_time};
use crate::config::{LatePolicy, WindowConfig};
use crate::envelope::Envelope;
use crate::observe::summary::{PartitionWatermark, StageCounts, WindowCounts};
use crate::operator::{Operator, OperatorError, Processed, Refusal, StateTables, Watermark};
use arrow::array::RecordBatch;
use std::time::Instant;

/// State table names in a checkpoint.
const GROUPS: &str = "groups";
const EMITTED: &str = "emitted";

pub struct WindowStage {
    window: WindowOperator,
    counts: WindowCounts,
    /// Aggregate rows emitted so far: the next one's `_offset`.
    emitted: i64,
}

impl WindowStage {
    pub fn new(window: WindowOperator, config: &WindowConfig) -> Self {
        WindowStage {
            window,
            counts: WindowCounts {
                kind: format!("{:?}", config.kind).to_lowercase(),
                ..Default::default()
            },
            emitted: 0,
        }
    }

    /// The window's event-time watermark, once there is one.
    pub fn watermark(&self) -> Option<i64> {
        self.window.watermark()
    }

    /// Aggregate rows as an envelope: their origin is the window.
    fn emit(&mut self, rows: Option<RecordBatch>) -> Option<Envelope> {
        let rows = rows?;
        let n = rows.num_rows();
        self.counts.rows_out += n as u64;
        let offsets = (self.emitted..self.emitted + n as i64).collect();
        self.emitted += n as i64;
        Some(Envelope::new(rows, vec!["window"; n], offsets))
    }
}

impl Operator for WindowStage {
    fn name(&self) -> &str {
        "window"
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        partition: i32,
    ) -> Result<Processed, OperatorError> {
        // A watermark per source partition (files and the generator are one).
        let out = self
            .window
            .process(&rows.data, partition, Instant::now())
            .map_err(OperatorError::Window)?;
        let watermark = self.window.watermark();
        let policy = self.window.late_policy;
        let counts = &mut self.counts;
        counts.rows_in += rows.num_rows() as u64;
        counts.untimed += out.untimed.len() as u64;
        let late = out.late.len() as u64;
        match policy {
            LatePolicy::Drop => counts.late_dropped += late,
            LatePolicy::DeadLetter => counts.late_dead_lettered += late,
        }
        counts.aggregated += rows.num_rows() as u64 - late - out.untimed.len() as u64;
        // Late and untimed rows go to the dead-letter in input order.
        let refusal = |row, reason| Refusal {
            stage: "window".to_string(),
            row,
            reason,
        };
        let mut refused: Vec<Refusal> = out
            .untimed
            .iter()
            .map(|&row| {
                refusal(
                    row,
                    "the row has no event time (its time column is null)".to_string(),
                )
            })
            .collect();
        if policy == LatePolicy::DeadLetter {
            let shown = watermark.map(show_time).unwrap_or_default();
            refused.extend(out.late.iter().map(|&(row, t)| {
                refusal(row, format!("late: event time {} is behind the watermark {shown}; its windows have closed", show_time(t)))
            }));
        }
        refused.sort_by_key(|r| r.row);
        Ok(Processed {
            rows: self.emit(out.rows),
            refused,
            ..Processed::default()
        })
    }

    fn handle_watermark(
        &mut self,
        watermark: Watermark,
    ) -> Result<Option<Envelope>, OperatorError> {
        match watermark {
            Watermark::EndOfInput => {
                let emitted = self.window.flush().map_err(OperatorError::Window)?;
                Ok(self.emit(emitted))
            }
            Watermark::Idle => {
                let emitted = self
                    .window
                    .tick(Instant::now())
                    .map_err(OperatorError::Window)?;
                Ok(self.emit(emitted))
            }
        }
    }

    fn on_assignment(&mut self, partitions: &[i32]) {
        self.window.assign(partitions, Instant::now());
    }

    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        let tables = StateTables::from([
            (GROUPS.to_string(), self.window.snapshot()),
            (EMITTED.to_string(), self.emitted.to_le_bytes().to_vec()),
        ]);
        Some((None, tables))
    }

    fn restore(&mut self, _build: Option<&str>, tables: &StateTables) -> Result<(), OperatorError> {
        let failed = |reason: String| OperatorError::Restore {
            stage: "window".to_string(),
            reason,
        };
        if let Some(groups) = tables.get(GROUPS) {
            self.window.restore(groups).map_err(failed)?;
        }
        if let Some(emitted) = tables.get(EMITTED) {
            let bytes: [u8; 8] = emitted
                .as_slice()
                .try_into()
                .map_err(|_| failed(format!("`{EMITTED}` is {} bytes, not 8", emitted.len())))?;
            self.emitted = i64::from_le_bytes(bytes);
        }
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        let mut counts = self.counts.clone();
        counts.open_groups = self.window.open_groups() as u64;
        let watermark = self.window.watermark();
        counts.watermark = watermark.map(|w| match w {
            i64::MAX => "past the end of the input (flushed)".to_string(),
            w => show_time(w),
        });
        counts.watermark_ms = watermark.filter(|&w| w != i64::MAX).map(|w| w / 1000);
        counts.partitions = self
            .window
            .partition_watermarks()
            .into_iter()
            .map(|(partition, watermark, idle)| PartitionWatermark {
                partition,
                watermark_ms: watermark.map(|w| w / 1000),
                idle,
            })
            .collect();
        StageCounts::Window(counts)
    }
}

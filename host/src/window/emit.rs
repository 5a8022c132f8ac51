//! Emitting a window's results: which groups the output mode owes at the
//! current watermark, evicting the windows it has passed, and building
//! the output batch (window bounds, group-by keys, aggregates).

use super::WindowOperator;
use super::aggregate::Acc;
use super::assign::WindowSpec;
use super::state::Key;
use crate::config::OutputMode;
use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, TimestampMicrosecondArray};
use std::sync::Arc;

impl WindowOperator {
    /// The groups marked dirty, cleared.
    pub(super) fn take_dirty(&mut self) -> Vec<(i64, Key)> {
        self.dirty
            .drain()
            .flat_map(|(start, keys)| keys.into_iter().map(move |k| (start, k)))
            .collect()
    }

    /// Emits per the output mode and evicts windows the watermark has passed.
    pub(super) fn emit(&mut self, flushing: bool) -> Result<Option<RecordBatch>, String> {
        let watermark = self.watermark.current();
        // (start, end, key, accumulators) of the rows to emit.
        let mut rows: Vec<(i64, i64, Key, Vec<Acc>)> = Vec::new();
        match self.spec {
            WindowSpec::Global => match self.mode {
                OutputMode::Complete => {
                    rows.extend(
                        self.state
                            .global
                            .iter()
                            .map(|(k, a)| (0, 0, k.clone(), a.clone())),
                    );
                }
                OutputMode::Update => {
                    for (_, key) in self.take_dirty() {
                        let accs = self.state.global[&key].clone();
                        rows.push((0, 0, key, accs));
                    }
                }
                // A global window closes only when the input is complete.
                OutputMode::Append if flushing => {
                    rows.extend(self.state.global.drain().map(|(k, a)| (0, 0, k, a)))
                }
                OutputMode::Append => {}
            },
            WindowSpec::Tumbling { size } | WindowSpec::Sliding { size, .. } => {
                if self.mode == OutputMode::Update {
                    for (start, key) in self.take_dirty() {
                        let accs = self.state.windows[&start][&key].clone();
                        rows.push((start, start + size, key, accs));
                    }
                }
                // Windows with end <= watermark are complete: emit (append) and evict.
                let open = match watermark.checked_sub(size) {
                    Some(last_closed) => {
                        self.state.windows.split_off(&last_closed.saturating_add(1))
                    }
                    None => std::mem::take(&mut self.state.windows),
                };
                let closed = std::mem::replace(&mut self.state.windows, open);
                if self.mode == OutputMode::Append {
                    for (start, groups) in closed {
                        rows.extend(groups.into_iter().map(|(k, a)| (start, start + size, k, a)));
                    }
                }
            }
            WindowSpec::Session { .. } => {
                if self.mode == OutputMode::Update {
                    for (start, key) in self.take_dirty() {
                        if let Some(s) = self.state.sessions[&key].iter().find(|s| s.start == start)
                        {
                            rows.push((s.start, s.end, key.clone(), s.accs.clone()));
                        }
                    }
                }
                let append = self.mode == OutputMode::Append;
                self.state.sessions.retain(|key, sessions| {
                    sessions.retain(|s| {
                        let closed = s.end <= watermark;
                        if closed && append {
                            rows.push((s.start, s.end, key.clone(), s.accs.clone()));
                        }
                        !closed
                    });
                    !sessions.is_empty()
                });
            }
        }
        if rows.is_empty() {
            return Ok(None);
        }
        // Deterministic output: by window, then key (row format sorts like the values).
        rows.sort_unstable_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        self.batch(rows).map(Some)
    }

    pub(super) fn batch(
        &self,
        rows: Vec<(i64, i64, Key, Vec<Acc>)>,
    ) -> Result<RecordBatch, String> {
        let mut columns: Vec<ArrayRef> = Vec::new();
        if self.spec != WindowSpec::Global {
            let starts = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.0))
                .with_timezone("UTC");
            let ends = TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                .with_timezone("UTC");
            columns.push(Arc::new(starts));
            columns.push(Arc::new(ends));
        }
        if let Some(converter) = &self.key_converter {
            let parser = converter.parser();
            let keys = converter
                .convert_rows(rows.iter().map(|r| parser.parse(&r.2)))
                .map_err(|e| e.to_string())?;
            columns.extend(keys);
        }
        for (i, agg) in self.aggregates.iter().enumerate() {
            columns.push(agg.finish(rows.iter().map(|r| &r.3[i]))?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
        RecordBatch::try_new_with_options(self.output_schema.clone(), columns, &options)
            .map_err(|e| e.to_string())
    }
}

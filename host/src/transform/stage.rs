//! A transform as an operator of the pipeline: runs its slot on each batch,
//! counts what it kept, filtered and refused, and carries the plugin's
//! key-value state in and out of checkpoints.

use super::TransformSlot;
use crate::config::ErrorPolicy;
use crate::envelope::Envelope;
use crate::observe::status::{PluginStatus, ReloadEvent};
use crate::observe::summary::{StageCounts, TransformCounts};
use crate::operator::{Operator, OperatorError, Processed, Refusal, StateTables};
use crate::runtime::{BatchOutcome, ReloadReport, ReloadRequest, Runtime};

pub struct TransformStage {
    slot: TransformSlot,
    /// `transform:NAME`: the stage in dead letters and checkpoints.
    stage: String,
    /// `transforms` or `after_window`: the list the pipeline file names it in.
    list: &'static str,
    counts: TransformCounts,
}

impl TransformStage {
    pub fn new(slot: TransformSlot, list: &'static str) -> Self {
        TransformStage {
            stage: format!("transform:{}", slot.name()),
            counts: TransformCounts::new(slot.name()),
            slot,
            list,
        }
    }
}

impl Operator for TransformStage {
    fn name(&self) -> &str {
        &self.stage
    }

    fn process_batch(
        &mut self,
        rows: &Envelope,
        _partition: i32,
    ) -> Result<Processed, OperatorError> {
        let n = rows.num_rows();
        self.counts.rows_in += n as u64;
        let refusal = |row, reason| Refusal {
            stage: self.stage.clone(),
            row,
            reason,
        };
        match self.slot.process(&rows.data) {
            BatchOutcome::Processed {
                output,
                selection,
                rejections,
            } => {
                self.counts.record(n, &selection, rejections.len());
                let refused = rejections
                    .into_iter()
                    .map(|(row, reason)| refusal(row as usize, reason))
                    .collect();
                let rows = rows.derive(output, &selection);
                Ok(Processed::of(rows, refused))
            }
            // A stop interrupted the call: the batch is abandoned with its
            // epoch, not dead-lettered (a restart reads it again).
            BatchOutcome::Failed { reason } if crate::runtime::stopping() => {
                Err(OperatorError::Interrupted {
                    stage: format!("transform `{}`", self.slot.name()),
                    reason,
                })
            }
            BatchOutcome::Failed { reason } => {
                tracing::warn!(transform = %self.slot.name(), rows = n, %reason, "A batch failed; its rows go to the dead-letter.");
                self.counts.failed_batches += 1;
                self.counts.dead_lettered += n as u64;
                let stop =
                    (self.slot.on_error() == ErrorPolicy::Stop).then(|| OperatorError::Stopped {
                        plugin: self.slot.name().to_string(),
                        reason: reason.clone(),
                    });
                Ok(Processed {
                    rows: None,
                    refused: (0..n).map(|row| refusal(row, reason.clone())).collect(),
                    stop,
                    letters: Vec::new(),
                })
            }
        }
    }

    fn snapshot(&mut self) -> Option<(Option<String>, StateTables)> {
        let plugin = self.slot.plugin();
        Some((
            Some(plugin.version().sha256.clone()),
            plugin.state().clone(),
        ))
    }

    fn restore(&mut self, build: Option<&str>, tables: &StateTables) -> Result<(), OperatorError> {
        let now = &self.slot.plugin().version().sha256;
        if let Some(saved) = build
            && saved != now
        {
            tracing::warn!(plugin = %self.slot.name(), checkpoint = %saved, %now, "The plugin changed since the checkpoint; it gets the state the old build left.");
        }
        self.slot.restore_state(tables.clone());
        Ok(())
    }

    fn counts(&self) -> StageCounts {
        StageCounts::Transform(self.counts.clone())
    }

    fn plugin_status(&mut self) -> Option<(PluginStatus, Vec<ReloadEvent>)> {
        let events = self.slot.take_events();
        let status = PluginStatus {
            name: self.slot.name().to_string(),
            stage: self.list,
            version: self.slot.plugin().version().clone(),
            stats: self.slot.plugin().stats(),
            probation_batches_left: self.slot.probation_left(),
        };
        Some((status, events))
    }

    fn reload(
        &mut self,
        runtime: &Runtime,
        request: &ReloadRequest,
    ) -> Option<Result<ReloadReport, String>> {
        (request.plugin == self.slot.name()).then(|| {
            self.slot
                .reload(runtime, &request.component, request.version.clone())
        })
    }
}

//! The slot every transform runs in. A hot-reloaded build is swapped in at
//! a batch boundary, keeps the plugin's state, and is on probation for its
//! first batches: a batch the new build fails is run again on the previous
//! build; if that one succeeds, the new build is worse and is rolled back by
//! itself. Either way each batch is processed once, by one build.

use crate::config::ErrorPolicy;
use crate::observe::status::{ReloadEvent, short};
use crate::runtime::{
    BatchOutcome, PROBATION_BATCHES, PluginVersion, ReloadReport, Runtime, TransformPlugin,
};
use arrow::array::RecordBatch;
use wasmtime::component::Component;

/// A pipeline's transform: the build running now and, while a reloaded
/// build is on probation, the one before it.
pub struct TransformSlot {
    current: TransformPlugin,
    previous: Option<(TransformPlugin, u32)>,
    events: Vec<ReloadEvent>,
}

impl TransformSlot {
    pub fn new(plugin: TransformPlugin) -> Self {
        TransformSlot {
            current: plugin,
            previous: None,
            events: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        self.current.name()
    }

    /// Gives the plugin its state from a checkpoint.
    pub fn restore_state(&mut self, state: std::collections::BTreeMap<String, Vec<u8>>) {
        self.current.replace_state(state);
    }

    pub fn plugin(&self) -> &TransformPlugin {
        &self.current
    }

    pub fn on_error(&self) -> ErrorPolicy {
        self.current.on_error()
    }

    pub fn probation_left(&self) -> Option<u32> {
        self.previous.as_ref().map(|(_, left)| *left)
    }

    /// Reload steps since the last call, for the status board.
    pub fn take_events(&mut self) -> Vec<ReloadEvent> {
        std::mem::take(&mut self.events)
    }

    /// Swaps in another build: instantiated with this plugin's state, its
    /// plan checked against what downstream stages were planned for.
    pub fn reload(
        &mut self,
        runtime: &Runtime,
        component: &Component,
        version: PluginVersion,
    ) -> Result<ReloadReport, String> {
        let from = self.current.version().sha256.clone();
        let to = version.sha256.clone();
        let refuse = |slot: &mut Self, detail: String| {
            slot.events.push(ReloadEvent::now(
                slot.name(),
                "refused",
                &from,
                &to,
                detail.clone(),
            ));
            Err(detail)
        };
        let next = match self.current.successor(runtime, component, version) {
            Ok(next) => next,
            Err(e) => return refuse(self, e.to_string()),
        };
        if next.output_schema() != self.current.output_schema() {
            let detail = format!(
                "the new build's output schema {:?} differs from the running one's {:?}, which the stages after it were planned for",
                crate::runtime::inspect::show_schema(&next.output_schema()),
                crate::runtime::inspect::show_schema(&self.current.output_schema()),
            );
            return refuse(self, detail);
        }
        // A reload during probation replaces the build on probation; the
        // trusted build stays the fallback.
        let previous = std::mem::replace(&mut self.current, next);
        if self.previous.is_none() {
            self.previous = Some((previous, PROBATION_BATCHES));
        } else if let Some((_, left)) = &mut self.previous {
            *left = PROBATION_BATCHES;
        }
        self.events.push(ReloadEvent::now(
            self.name(),
            "swapped",
            &from,
            &to,
            format!("on probation for {PROBATION_BATCHES} batches"),
        ));
        Ok(ReloadReport {
            plugin: self.name().to_string(),
            from_sha256: from,
            to_sha256: to,
            probation_batches: PROBATION_BATCHES,
        })
    }

    /// Runs the current build on one batch; on probation, a failed batch is
    /// run again on the previous build, and rolls the new one back if the
    /// previous build handles it.
    pub fn process(&mut self, input: &RecordBatch) -> BatchOutcome {
        let outcome = self.current.process(input);
        let Some((previous, left)) = &mut self.previous else {
            return outcome;
        };
        let BatchOutcome::Failed { reason } = outcome else {
            *left -= 1;
            if *left == 0 {
                let (previous, _) = self.previous.take().expect("on probation");
                self.events.push(ReloadEvent::now(
                    self.name(),
                    "trusted",
                    &previous.version().sha256,
                    &self.current.version().sha256,
                    format!("{PROBATION_BATCHES} batches without a failure"),
                ));
            }
            return outcome;
        };
        // The failed call's state changes were rolled back: the previous
        // build continues from the state as it is now.
        previous.replace_state(self.current.state().clone());
        let retried = previous.process(input);
        if let BatchOutcome::Failed { .. } = retried {
            // Both builds fail it: the batch, not the build, is at fault.
            return BatchOutcome::Failed { reason };
        }
        let (previous, _) = self.previous.take().expect("on probation");
        let failed = std::mem::replace(&mut self.current, previous);
        self.events.push(ReloadEvent::now(
            self.name(),
            "rolled-back",
            &failed.version().sha256,
            &self.current.version().sha256,
            format!(
                "build {} failed a batch that build {} processed: {reason}",
                short(&failed.version().sha256),
                short(&self.current.version().sha256)
            ),
        ));
        retried
    }
}

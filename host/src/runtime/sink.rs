//! One sink plugin in one pipeline: its instance and store, the
//! capabilities granted to it, and the calls of the sink contract.

use super::convert;
use super::deadline::{arm, no_wait, trap_reason};
use super::store::PluginData;
use super::transform::PluginLimits;
use super::{PluginError, Runtime};
use crate::capability::{self, Capabilities, HasCapabilities};
use crate::contract::sink::Sink;
use crate::contract::sink::exports::weir::plugin::sink_writer::SinkPlan;
use crate::contract::{weir::plugin::log, wit};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::collections::BTreeMap;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime_wasi::{WasiCtxView, WasiView};

/// What a sink's store holds: the plugin basics, and its granted
/// capabilities with the batch being written.
pub struct SinkData {
    plugin: PluginData,
    grants: Capabilities,
}

impl HasCapabilities for SinkData {
    fn capabilities(&mut self) -> &mut Capabilities {
        &mut self.grants
    }
}

impl WasiView for SinkData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.plugin.ctx()
    }
}

/// What a pipeline entry gives a sink besides its grants: config and limits.
#[derive(Debug, Clone, Default)]
pub struct SinkSettings {
    pub config: Vec<(String, String)>,
    pub limits: PluginLimits,
}

/// What became of one batch.
pub enum SinkOutcome {
    /// Written, except these rows (index, reason), which the sink refused.
    Written { rejections: Vec<(u32, String)> },
    /// The sink failed the whole batch: every row goes to the dead-letter.
    Failed { reason: String },
}

/// A loaded, opened sink.
pub struct SinkPlugin {
    name: String,
    limits: PluginLimits,
    store: Store<SinkData>,
    bindings: Sink,
    /// The input columns `write` receives, and their schema as the plugin sees it.
    reads: Option<Vec<usize>>,
    reads_wit: wit::Schema,
}

impl SinkPlugin {
    /// Instantiates the sink with its `grants` (already connected) and
    /// calls its `open`.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        shown_path: &str,
        component: &Component,
        settings: SinkSettings,
        grants: Capabilities,
        input: SchemaRef,
    ) -> Result<Self, PluginError> {
        let link = |e: wasmtime::Error| PluginError::Link {
            path: shown_path.to_string(),
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<SinkData>::new(&runtime.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
        log::add_to_linker::<_, HasSelf<PluginData>>(&mut linker, |d| &mut d.plugin)
            .map_err(link)?;
        wit::add_to_linker::<_, HasSelf<PluginData>>(&mut linker, |d| &mut d.plugin)
            .map_err(link)?;
        capability::add_to_linker(&mut linker).map_err(link)?;
        let pre = linker.instantiate_pre(component).map_err(link)?;

        let refused = |call, message| PluginError::Refused {
            plugin: name.to_string(),
            call,
            message,
        };
        let data = SinkData {
            plugin: PluginData::new(
                name,
                BTreeMap::new(),
                // Sinks keep the real clocks: they name files by run and
                // roll them by time, and their output is not replayed.
                &super::PluginSettings {
                    limits: settings.limits,
                    clock: true,
                    ..Default::default()
                },
            ),
            grants,
        };
        let mut store = Store::new(&runtime.engine, data);
        store.limiter(|d| &mut d.plugin.limits);
        arm(&mut store, settings.limits, no_wait);
        let trap = |call, e: wasmtime::Error| PluginError::Trap {
            plugin: name.to_string(),
            call,
            reason: trap_reason(&e, settings.limits),
        };
        let instance = pre
            .instantiate(&mut store)
            .map_err(|e| trap("instantiation", e))?;
        let bindings = Sink::new(&mut store, &instance).map_err(link)?;
        let contract = |message: String| PluginError::Contract {
            plugin: name.to_string(),
            message,
        };
        let input_wit = convert::schema_to_wit(&input).map_err(|e| contract(e.0))?;
        let opened =
            bindings
                .weir_plugin_sink_writer()
                .call_open(&mut store, &settings.config, &input_wit);
        let mut sink = SinkPlugin {
            name: name.to_string(),
            limits: settings.limits,
            store,
            bindings,
            reads: None,
            reads_wit: input_wit.clone(),
        };
        // The sink's open reads and creates tables: a database lost there
        // is an outage too.
        sink.outage()?;
        let SinkPlan { reads } = opened
            .map_err(|e| trap("open", e))?
            .map_err(|m| refused("open", m))?;
        (sink.reads, sink.reads_wit) =
            convert::projection(reads, &input, &input_wit).map_err(contract)?;
        Ok(sink)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn trap(&self, call: &'static str, e: wasmtime::Error) -> PluginError {
        PluginError::Trap {
            plugin: self.name.clone(),
            call,
            reason: trap_reason(&e, self.limits),
        }
    }

    /// Writes one batch. A trap is an error: the sink's instance is gone
    /// with whatever it held of the epoch, so the run must stop and abort.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<SinkOutcome, PluginError> {
        let projected = match &self.reads {
            None => batch.clone(),
            Some(p) => batch.project(p).expect("projection checked at load"),
        };
        let wit_batch = match convert::batch_to_wit(&projected, self.reads_wit.clone()) {
            Ok(b) => b,
            Err(e) => return Ok(SinkOutcome::Failed { reason: e.0 }),
        };
        self.store.data_mut().grants.set_batch(Some(batch.clone()));
        arm(&mut self.store, self.limits, no_wait);
        let result = self
            .bindings
            .weir_plugin_sink_writer()
            .call_write(&mut self.store, &wit_batch);
        self.store.data_mut().grants.set_batch(None);
        self.outage()?;
        match result {
            Err(e) => Err(self.trap("write", e)),
            Ok(Err(message)) => Ok(SinkOutcome::Failed {
                reason: format!("sink `{}` failed the batch: {message}", self.name),
            }),
            Ok(Ok(report)) => {
                let n = batch.num_rows() as u32;
                let mut rejections = Vec::with_capacity(report.rejections.len());
                // A row refused twice would be dead-lettered and counted twice.
                let mut refused = vec![
                    false;
                    if report.rejections.is_empty() {
                        0
                    } else {
                        n as usize
                    }
                ];
                for r in report.rejections {
                    let broken = if r.row >= n {
                        format!("it rejects row {}, but the batch has {n} rows", r.row)
                    } else if std::mem::replace(&mut refused[r.row as usize], true) {
                        format!("it rejects row {} more than once", r.row)
                    } else {
                        rejections.push((r.row, r.reason));
                        continue;
                    };
                    return Err(PluginError::Contract {
                        plugin: self.name.clone(),
                        message: broken,
                    });
                }
                Ok(SinkOutcome::Written { rejections })
            }
        }
    }

    /// A service that went away (a database, the brokers) is an outage,
    /// not bad rows: the epoch fails and is retried from the checkpoint,
    /// and nothing is dead-lettered. Every capability reports it the same way.
    fn outage(&self) -> Result<(), PluginError> {
        if let Some(reason) = self.store.data().grants.fenced() {
            return Err(PluginError::Fenced {
                plugin: self.name.clone(),
                reason,
            });
        }
        match self.store.data().grants.outage() {
            Some(reason) => Err(PluginError::Unavailable {
                plugin: self.name.clone(),
                reason,
            }),
            None => Ok(()),
        }
    }

    fn call(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&Sink, &mut Store<SinkData>) -> wasmtime::Result<Result<(), String>>,
    ) -> Result<(), PluginError> {
        arm(&mut self.store, self.limits, no_wait);
        let result = f(&self.bindings, &mut self.store);
        self.outage()?;
        match result {
            Err(e) => Err(self.trap(call, e)),
            Ok(Err(message)) => Err(PluginError::Refused {
                plugin: self.name.clone(),
                call,
                message,
            }),
            Ok(Ok(())) => Ok(()),
        }
    }

    pub fn pre_commit(&mut self, epoch: u64) -> Result<(), PluginError> {
        self.call("pre-commit", |b, s| {
            b.weir_plugin_sink_writer().call_pre_commit(s, epoch)
        })
    }

    /// The sink commits `epoch`; then what the host commits for it (a
    /// Delta table's next version).
    pub fn commit(&mut self, epoch: u64) -> Result<(), PluginError> {
        self.call("commit", |b, s| {
            b.weir_plugin_sink_writer().call_commit(s, epoch)
        })?;
        self.commit_table(Some(epoch), "commit")
    }

    fn commit_table(&mut self, epoch: Option<u64>, call: &'static str) -> Result<(), PluginError> {
        let files = &mut self.store.data_mut().grants.files;
        files
            .commit_table(epoch)
            .map_err(|message| match files.outage() {
                Some(reason) => PluginError::Unavailable {
                    plugin: self.name.clone(),
                    reason,
                },
                None => PluginError::Refused {
                    plugin: self.name.clone(),
                    call,
                    message,
                },
            })
    }

    /// Asks the sink to drop the epoch, then makes sure of it on the host
    /// side ([`Capabilities::abort`]), even if the sink trapped.
    pub fn abort(&mut self, epoch: u64) {
        arm(&mut self.store, self.limits, no_wait);
        if let Err(e) = self
            .bindings
            .weir_plugin_sink_writer()
            .call_abort(&mut self.store, epoch)
        {
            tracing::warn!(sink = %self.name, reason = %trap_reason(&e, self.limits), "The sink trapped while aborting; the host drops the epoch itself.");
        }
        self.store.data_mut().grants.abort();
    }

    /// The lengths of the files the sink writes in place, for the
    /// checkpoint of the epoch that just pre-committed.
    pub fn file_marks(&mut self) -> Result<BTreeMap<String, u64>, PluginError> {
        self.store
            .data()
            .grants
            .files
            .marks()
            .map_err(|message| PluginError::Refused {
                plugin: self.name.clone(),
                call: "pre-commit",
                message,
            })
    }

    pub fn close(&mut self) -> Result<(), PluginError> {
        self.call("close", |b, s| b.weir_plugin_sink_writer().call_close(s))?;
        // Files the sink published at its close belong to no epoch.
        self.commit_table(None, "close")
    }
}

impl std::fmt::Debug for SinkPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkPlugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

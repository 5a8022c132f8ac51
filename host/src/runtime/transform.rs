//! One transform plugin in one pipeline: its instance and store, its plan,
//! and its calls (their output is checked and assembled in `output`).

use super::convert;
use super::deadline::{arm, trap_reason};
use super::output;
use super::selection::RowSelection;
use super::store::PluginData;
use super::{PluginError, Runtime, clock, log, lookup, state};
use crate::config::ErrorPolicy;
use crate::contract::{Transform, wit};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use std::collections::BTreeMap;
use std::path::Path;
use wasmtime::Store;
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};

/// What happened to one batch.
// One per batch, moved once: boxing the large variant would only add an
// allocation per batch.
#[allow(clippy::large_enum_variant)]
pub enum BatchOutcome {
    /// The output batch, which input rows it is made of, and the rejected
    /// input rows with their reasons.
    Processed {
        output: RecordBatch,
        selection: RowSelection,
        rejections: Vec<(u32, String)>,
    },
    /// The plugin failed the whole batch (an error, a trap, or an output that
    /// breaks the contract): every row goes to the dead-letter with `reason`.
    Failed { reason: String },
}

/// What a pipeline entry gives its plugin: the `config` for `init`, the
/// limits it runs under, and the ambient capabilities granted to it.
#[derive(Debug, Clone, Default)]
pub struct PluginSettings {
    pub config: Vec<(String, String)>,
    pub limits: PluginLimits,
    /// The real clocks; without them the plugin's clocks stand still.
    pub clock: bool,
    /// Whether a failed batch stops the pipeline.
    pub on_error: ErrorPolicy,
    /// The reference tables it may look keys up in.
    pub tables: Option<super::lookup::TableGrants>,
}

impl From<Vec<(String, String)>> for PluginSettings {
    fn from(config: Vec<(String, String)>) -> Self {
        PluginSettings {
            config,
            limits: PluginLimits::default(),
            clock: false,
            on_error: ErrorPolicy::default(),
            tables: None,
        }
    }
}

pub use crate::config::PluginLimits;

/// Which build of a plugin runs: where it was loaded from and the SHA-256
/// of its bytes, as status and reload reports show it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PluginVersion {
    pub path: String,
    pub sha256: String,
    /// The `weir:plugin` contract version it was built against.
    pub contract: String,
}

impl PluginVersion {
    pub fn of(path: &str, bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        PluginVersion {
            path: path.to_string(),
            sha256: format!("{:x}", Sha256::digest(bytes)),
            contract: String::new(),
        }
    }
}

/// What a plugin has done so far, for metrics. Counts survive instance
/// replacement; they belong to the pipeline entry.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct PluginStats {
    pub calls: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub failed_batches: u64,
    pub traps: u64,
    /// Calls stopped by their deadline (epoch interruption).
    pub interruptions: u64,
    pub busy_seconds: f64,
    /// Linear memory of the current instance.
    pub memory_bytes: u64,
    /// Bytes of keys and values in the plugin's key-value state.
    pub state_bytes: u64,
    /// State writes refused at `state_limit_mb` (each failed its batch).
    pub state_refusals: u64,
    /// Log messages dropped past the per-call budget.
    pub logs_dropped: u64,
}

/// A loaded, initialised, planned transform.
pub struct TransformPlugin {
    name: String,
    version: PluginVersion,
    stats: PluginStats,
    settings: PluginSettings,
    pre: InstancePre<PluginData>,
    engine: wasmtime::Engine,
    instance: Option<(Store<PluginData>, Transform)>,
    /// State survives the instance: a trap replaces the instance, not this.
    saved_state: BTreeMap<String, Vec<u8>>,
    input_schema: SchemaRef,
    input_wit: wit::Schema,
    projection: Option<Vec<usize>>,
    projected_wit: wit::Schema,
    output_schema: SchemaRef,
}

impl TransformPlugin {
    /// Loads the component at `path`, initialises it with `config` and plans
    /// its output for `input`.
    pub fn load(
        runtime: &Runtime,
        name: &str,
        path: &Path,
        settings: impl Into<PluginSettings>,
        input: SchemaRef,
    ) -> Result<Self, PluginError> {
        let (component, version) = runtime.load(path)?;
        let mut plugin =
            Self::from_component(runtime, name, &version.path, &component, settings, input)?;
        plugin.version = version;
        Ok(plugin)
    }

    /// Another build of this plugin, in this plugin's place: the same
    /// settings and input, and this plugin's state as its own (so `init`
    /// already sees it). Its plan may differ; the caller checks it.
    pub fn successor(
        &self,
        runtime: &Runtime,
        component: &Component,
        version: PluginVersion,
    ) -> Result<Self, PluginError> {
        let mut next = Self::build(
            runtime,
            &self.name,
            &version.path,
            component,
            self.settings.clone(),
            self.input_schema.clone(),
            self.state().clone(),
        )?;
        next.version = version;
        next.stats = self.stats;
        Ok(next)
    }

    pub fn from_component(
        runtime: &Runtime,
        name: &str,
        shown_path: &str,
        component: &Component,
        settings: impl Into<PluginSettings>,
        input: SchemaRef,
    ) -> Result<Self, PluginError> {
        Self::build(
            runtime,
            name,
            shown_path,
            component,
            settings.into(),
            input,
            BTreeMap::new(),
        )
    }

    fn build(
        runtime: &Runtime,
        name: &str,
        shown_path: &str,
        component: &Component,
        settings: PluginSettings,
        input: SchemaRef,
        state: BTreeMap<String, Vec<u8>>,
    ) -> Result<Self, PluginError> {
        let link = |e: wasmtime::Error| PluginError::Link {
            path: shown_path.to_string(),
            reason: format!("{e:#}"),
        };
        let mut linker = Linker::<PluginData>::new(&runtime.engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link)?;
        clock::add_to_linker(&mut linker).map_err(link)?;
        log::add_to_linker(&mut linker).map_err(link)?;
        state::add_to_linker(&mut linker).map_err(link)?;
        lookup::add_to_linker(&mut linker).map_err(link)?;
        wit::add_to_linker::<_, HasSelf<_>>(&mut linker, |d| d).map_err(link)?;
        let pre = linker.instantiate_pre(component).map_err(link)?;
        let contract = |message: String| PluginError::Contract {
            plugin: name.to_string(),
            message,
        };
        let input_wit = convert::schema_to_wit(&input).map_err(|e| contract(e.0))?;
        let mut plugin = TransformPlugin {
            name: name.to_string(),
            version: PluginVersion {
                path: shown_path.to_string(),
                ..PluginVersion::default()
            },
            stats: PluginStats::default(),
            settings,
            pre,
            engine: runtime.engine.clone(),
            instance: None,
            saved_state: state,
            input_schema: input.clone(),
            input_wit: input_wit.clone(),
            projection: None,
            projected_wit: input_wit,
            output_schema: input,
        };
        let plan = plugin.start()?;
        plugin.apply_plan(plan)?;
        Ok(plugin)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn on_error(&self) -> ErrorPolicy {
        self.settings.on_error
    }

    pub fn version(&self) -> &PluginVersion {
        &self.version
    }

    pub fn stats(&self) -> PluginStats {
        self.stats
    }

    /// Replaces the plugin's state (as a rolled-back reload hands it back).
    pub fn replace_state(&mut self, state: BTreeMap<String, Vec<u8>>) {
        match &mut self.instance {
            Some((store, _)) => store.data_mut().set_state(state),
            None => self.saved_state = state,
        }
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.output_schema.clone()
    }

    /// The input columns the plugin reads, by index; `None` is all.
    pub fn projection(&self) -> Option<&[usize]> {
        self.projection.as_deref()
    }

    /// The plugin's key-value state, as checkpoints will snapshot it.
    pub fn state(&self) -> &BTreeMap<String, Vec<u8>> {
        match &self.instance {
            Some((store, _)) => &store.data().state,
            None => &self.saved_state,
        }
    }

    /// Times one bare instantiation (a fresh store and instance, no `init`),
    /// as the benchmark reports it.
    pub fn time_instantiation(&self) -> wasmtime::Result<std::time::Duration> {
        let started = std::time::Instant::now();
        let mut store = Store::new(
            &self.engine,
            PluginData::new(&self.name, BTreeMap::new(), &self.settings),
        );
        arm(&mut store, self.settings.limits, waited);
        self.pre.instantiate(&mut store)?;
        Ok(started.elapsed())
    }

    /// Instantiates the plugin, runs `init` and `describe`, and returns the plan.
    fn start(&mut self) -> Result<wit::Plan, PluginError> {
        let trap = |call, e: wasmtime::Error| PluginError::Trap {
            plugin: self.name.clone(),
            call,
            reason: trap_reason(&e, self.settings.limits),
        };
        let data = PluginData::new(
            &self.name,
            std::mem::take(&mut self.saved_state),
            &self.settings,
        );
        let mut store = Store::new(&self.engine, data);
        store.limiter(|d| &mut d.limits);
        arm(&mut store, self.settings.limits, waited);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| trap("instantiation", e))?;
        let bindings = Transform::new(&mut store, &instance).map_err(|e| PluginError::Link {
            path: self.name.clone(),
            reason: format!("{e:#}"),
        })?;
        let guest = bindings.weir_plugin_transformer();
        let refused = |call, message| PluginError::Refused {
            plugin: self.name.clone(),
            call,
            message,
        };
        guest
            .call_init(&mut store, &self.settings.config)
            .map_err(|e| trap("init", e))?
            .map_err(|m| refused("init", m))?;
        let plan = guest
            .call_describe(&mut store, &self.input_wit)
            .map_err(|e| trap("describe", e))?
            .map_err(|m| refused("describe", m))?;
        store.data_mut().commit_call();
        self.instance = Some((store, bindings));
        Ok(plan)
    }

    fn apply_plan(&mut self, plan: wit::Plan) -> Result<(), PluginError> {
        let contract = |message: String| PluginError::Contract {
            plugin: self.name.clone(),
            message,
        };
        let output = convert::schema_from_wit(&plan.output)
            .map_err(|e| contract(format!("its plan: {e}")))?;
        let (projection, projected_wit) =
            convert::projection(plan.projection, &self.input_schema, &self.input_wit)
                .map_err(contract)?;
        self.projection = projection;
        self.projected_wit = projected_wit;
        self.output_schema = output;
        Ok(())
    }

    /// Runs the plugin on one batch (of the planned input schema).
    pub fn process(&mut self, input: &RecordBatch) -> BatchOutcome {
        let started = std::time::Instant::now();
        let outcome = self.call_process(input);
        let stats = &mut self.stats;
        stats.calls += 1;
        stats.rows_in += input.num_rows() as u64;
        stats.busy_seconds += started.elapsed().as_secs_f64();
        match &outcome {
            BatchOutcome::Processed { output, .. } => stats.rows_out += output.num_rows() as u64,
            BatchOutcome::Failed { .. } => stats.failed_batches += 1,
        }
        match &mut self.instance {
            Some((store, _)) => {
                let data = store.data_mut();
                stats.memory_bytes = data.limits.size as u64;
                stats.state_bytes = data.state_bytes as u64;
                harvest(stats, data);
            }
            None => {
                stats.state_bytes = self
                    .saved_state
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>() as u64;
            }
        }
        outcome
    }

    fn call_process(&mut self, input: &RecordBatch) -> BatchOutcome {
        if self.instance.is_none() {
            // The previous instance trapped: start a fresh one (state kept).
            if let Err(e) = self.start() {
                return BatchOutcome::Failed {
                    reason: e.to_string(),
                };
            }
        }
        let projected = match &self.projection {
            None => input.clone(),
            Some(p) => input
                .project(p)
                .expect("projection checked against the input schema"),
        };
        let wit_batch = match convert::batch_to_wit(&projected, self.projected_wit.clone()) {
            Ok(b) => b,
            Err(e) => return BatchOutcome::Failed { reason: e.0 },
        };
        let (store, bindings) = self.instance.as_mut().expect("started above");
        arm(store, self.settings.limits, waited);
        let result = bindings
            .weir_plugin_transformer()
            .call_process(&mut *store, &wit_batch);
        match result {
            Err(e) => {
                let stopped = e.is::<super::engine::StopRequested>();
                let reason = if stopped {
                    // Not the plugin's fault: the pipeline abandons the
                    // batch with its epoch (see `runtime::stopping`).
                    format!(
                        "plugin `{}` was interrupted: the run is stopping",
                        self.name
                    )
                } else {
                    self.stats.traps += 1;
                    if let Some(wasmtime::Trap::Interrupt) = e.downcast_ref::<wasmtime::Trap>() {
                        self.stats.interruptions += 1;
                    }
                    format!(
                        "plugin `{}` trapped: {}",
                        self.name,
                        trap_reason(&e, self.settings.limits)
                    )
                };
                // A trapped instance may be half-way through anything: drop it
                // and keep only the host-owned state, as it was before the call.
                let (store, _) = self.instance.take().expect("instance present");
                let mut data = store.into_data();
                data.roll_back_call();
                harvest(&mut self.stats, &mut data);
                self.saved_state = data.state;
                BatchOutcome::Failed { reason }
            }
            Ok(Err(message)) => {
                store.data_mut().roll_back_call();
                BatchOutcome::Failed {
                    reason: format!("plugin `{}` failed the batch: {message}", self.name),
                }
            }
            Ok(Ok(output)) => {
                match output::assemble(input, output, &self.output_schema, self.settings.limits) {
                    Ok(outcome) => {
                        self.instance
                            .as_mut()
                            .expect("instance present")
                            .0
                            .data_mut()
                            .commit_call();
                        outcome
                    }
                    Err(e) => {
                        self.instance
                            .as_mut()
                            .expect("instance present")
                            .0
                            .data_mut()
                            .roll_back_call();
                        BatchOutcome::Failed {
                            reason: format!(
                                "plugin `{}` returned an output that breaks the contract: {}",
                                self.name, e.0
                            ),
                        }
                    }
                }
            }
        }
    }
}

/// How long the call in progress waited for a table's database.
fn waited(data: &PluginData) -> std::time::Duration {
    data.waited
}

/// Moves what an instance counted during a call into the plugin's stats.
fn harvest(stats: &mut PluginStats, data: &mut PluginData) {
    stats.state_refusals += std::mem::take(&mut data.state_refusals);
    stats.logs_dropped += std::mem::take(&mut data.logs_dropped_total);
}

impl std::fmt::Debug for TransformPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransformPlugin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

//! The wasmtime engine every plugin of a process shares, configured once.

use super::builds::LoadedBuilds;
use super::cache::ComponentCache;
use super::{ContractVersion, PluginError, PluginVersion, inspect};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: the granularity of call deadlines.
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Raised when the process is asked to stop (SIGTERM, Ctrl-C): every plugin
/// call in progress is interrupted at the next epoch tick, so a stop never
/// waits out a plugin's `timeout_ms`.
static STOPPING: LazyLock<Arc<AtomicBool>> = LazyLock::new(|| Arc::new(AtomicBool::new(false)));

/// The flag a signal handler sets to interrupt running plugins.
pub fn stop_flag() -> Arc<AtomicBool> {
    STOPPING.clone()
}

/// Whether running plugins are being interrupted because the run stops.
pub fn stopping() -> bool {
    STOPPING.load(Ordering::Relaxed)
}

/// The error a plugin call is interrupted with when the run stops.
#[derive(Debug)]
pub struct StopRequested;

impl std::fmt::Display for StopRequested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("it was interrupted because the run is stopping")
    }
}

impl std::error::Error for StopRequested {}

/// The engine and the component cache: set up once per process.
#[derive(Clone)]
pub struct Runtime {
    pub engine: Engine,
    cache: Arc<ComponentCache>,
    /// Every transform build loaded, for a rollback.
    builds: LoadedBuilds,
}

impl Runtime {
    pub fn new(cache: ComponentCache) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_simd(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        // Instances come from a pre-reserved pool: instantiation costs
        // microseconds, and a trapping plugin is replaced cheaply.
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(256)
            .total_memories(256)
            .total_tables(256)
            .max_memory_size((crate::config::MAX_MEMORY_LIMIT_MB as usize) << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        // `WEIR_PROFILE=perfmap` names JIT-compiled plugin functions for
        // `perf report` (written to /tmp/perf-PID.map).
        if std::env::var("WEIR_PROFILE").is_ok_and(|v| v == "perfmap") {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        // Deadlines: a ticker advances the engine's epoch; a call that runs
        // past its store's deadline traps instead of hanging the pipeline.
        config.epoch_interruption(true);
        let engine = Engine::new(&config)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| wasmtime::format_err!("cannot start the epoch ticker: {e}"))?;
        Ok(Runtime {
            engine,
            cache: Arc::new(cache),
            builds: LoadedBuilds::default(),
        })
    }

    /// Loads a component from `path`: checks it is a component of a
    /// compatible contract version, then compiles it or takes it from the
    /// cache. Also returns which build it is (path and content hash).
    pub fn load(&self, path: &Path) -> Result<(Component, PluginVersion), PluginError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: shown.clone(),
            source,
        })?;
        let (component, contract) = self.load_world(&shown, &bytes, inspect::World::Transform)?;
        let version = PluginVersion {
            contract: contract.to_string(),
            ..PluginVersion::of(&shown, &bytes)
        };
        self.builds.remember(&component, &version);
        Ok((component, version))
    }

    /// Loads a transform from bytes (see [`Runtime::load`]).
    pub fn load_bytes(&self, shown: &str, bytes: &[u8]) -> Result<Component, PluginError> {
        Ok(self.load_world(shown, bytes, inspect::World::Transform)?.0)
    }

    /// Loads a component that must be of `world`; returns it with the
    /// contract version it was built against.
    pub fn load_world(
        &self,
        shown: &str,
        bytes: &[u8],
        world: inspect::World,
    ) -> Result<(Component, ContractVersion), PluginError> {
        inspect::check_header(shown, bytes)?;
        let component = self
            .cache
            .get_or_compile(&self.engine, bytes)
            .map_err(|e| PluginError::Invalid {
                path: shown.to_string(),
                reason: format!("{e:#}"),
            })?;
        let (_, contract) = inspect::check_contract(&self.engine, shown, &component, world)?;
        Ok((component, contract))
    }

    /// A transform build this process loaded before, by SHA-256.
    pub fn loaded_build(&self, sha256: &str) -> Option<(Component, PluginVersion)> {
        self.builds.find(sha256)
    }

    pub fn cache(&self) -> &ComponentCache {
        &self.cache
    }
}

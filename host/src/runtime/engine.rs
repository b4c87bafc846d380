//! The host's one wasmtime engine and the ticker that advances its epoch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::compile_cache::CompileCache;
use super::ctx::ActorCtx;
use crate::config::RuntimeConfig;

/// Most core instances one component may have in the pooling allocator (a
/// Rust component has about five; composed ones a few dozen).
pub const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 64;
/// Most linear memories one component may have in the pooling allocator.
pub const MAX_MEMORIES_PER_COMPONENT: u32 = 8;
/// Most tables one component may have in the pooling allocator.
pub const MAX_TABLES_PER_COMPONENT: u32 = 32;

/// Which instance allocator the engine ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocatorKind {
    /// Slots reserved up front; instantiation is a few microseconds.
    Pooling,
    /// Memory mapped per instance: slower, but reserves nothing.
    OnDemand,
}

/// The engine, the linker every actor is linked with, and the compile cache.
/// Cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<ActorCtx>,
    cache: CompileCache,
    allocator: AllocatorKind,
    max_memory: usize,
    calls: super::calls::SharedCalls,
    epoch_tick: std::time::Duration,
    ticker: EpochTicker,
    /// The components prepared last, by digest.
    prepared: std::sync::Mutex<PreparedMemo>,
    /// Where the actors' log lines go besides the host's log.
    log_tap: Arc<super::log_tap::LogTap>,
    /// Whether ONNX Runtime was loaded for actors' `wasi:nn`.
    nn: bool,
    /// The models loaded for actors, by digest.
    models: super::nn::ModelCache,
}

/// How many prepared components the runtime keeps for actors still to come.
const PREPARED_KEPT: usize = 64;

/// The last [`PREPARED_KEPT`] prepared components, by digest: a component
/// started as many actors is read, deserialized and linked once. Entries
/// outlive their actors until pushed out.
#[derive(Default)]
struct PreparedMemo {
    entries: std::collections::HashMap<String, super::actor::Prepared>,
    order: std::collections::VecDeque<String>,
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the wasm runtime: {0}")]
pub struct RuntimeError(String);

fn base_config() -> Config {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    wasm
}

impl Runtime {
    /// Builds the engine. Pooling is tried first, sized from `config`; when
    /// the pool cannot be reserved (small devices, tight ulimits) the engine
    /// falls back to on-demand allocation and says so in the log.
    pub fn new(config: &RuntimeConfig) -> Result<Self, RuntimeError> {
        let (engine, allocator) = match Self::pooling_engine(config) {
            Some(Ok(engine)) => (engine, AllocatorKind::Pooling),
            Some(Err(error)) => {
                tracing::warn!(error = %format!("{error:#}"), "pooling allocator unavailable; allocating instances on demand");
                (Self::on_demand_engine(config)?, AllocatorKind::OnDemand)
            }
            None => (Self::on_demand_engine(config)?, AllocatorKind::OnDemand),
        };
        let mut linker = Linker::new(&engine);
        // WASI itself, then every contract the host serves.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| RuntimeError(format!("{e:#}")))?;
        for contract in crate::contracts::CONTRACTS {
            contract.add_to_linker(&mut linker).map_err(|e| {
                RuntimeError(format!(
                    "cannot link contract {}: {e:#}",
                    contract.package()
                ))
            })?;
        }
        // Inference only where asked for: the library is loaded now, and
        // a wrong one stops the host before it serves anything.
        let nn = match &config.onnxruntime {
            Some(path) => {
                let loaded = super::nn::load_onnx_runtime(path).map_err(RuntimeError)?;
                tracing::info!(onnxruntime = %loaded.display(), "wasi:nn on ONNX Runtime");
                true
            }
            None => false,
        };
        let ticker = EpochTicker::start(engine.clone(), config.epoch_tick);
        Ok(Self {
            inner: Arc::new(RuntimeInner {
                cache: CompileCache::new(config.cache_dir.clone()),
                engine,
                linker,
                allocator,
                max_memory: config.max_memory,
                calls: Default::default(),
                epoch_tick: config.epoch_tick,
                ticker,
                prepared: Default::default(),
                log_tap: Arc::default(),
                nn,
                models: Default::default(),
            }),
        })
    }

    fn pooling_engine(config: &RuntimeConfig) -> Option<wasmtime::Result<Engine>> {
        if config.pool_instances == 0 {
            return None;
        }
        let n = config.pool_instances;
        let mut pool = PoolingAllocationConfig::default();
        // A Rust component has its main module plus a few small shims.
        // One component may not take more than its share of the pool:
        // caps per component stop a guest of many modules and memories
        // from taking the slots every other actor needs.
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(4))
            .total_memories(n.saturating_mul(2))
            .total_tables(n.saturating_mul(4))
            .total_stacks(n)
            .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
            .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
            .max_memory_size(config.max_memory);
        let mut wasm = base_config();
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        Some(Engine::new(&wasm))
    }

    fn on_demand_engine(_config: &RuntimeConfig) -> Result<Engine, RuntimeError> {
        Engine::new(&base_config()).map_err(|e| RuntimeError(format!("{e:#}")))
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Where the actors' log lines go besides the host's log (the lattice,
    /// once joined).
    pub fn log_tap(&self) -> &Arc<super::log_tap::LogTap> {
        &self.inner.log_tap
    }

    /// The models loaded for actors, by digest.
    pub(crate) fn models(&self) -> &super::nn::ModelCache {
        &self.inner.models
    }

    /// Whether actors may import `wasi:nn` here (ONNX Runtime loaded).
    pub fn serves_nn(&self) -> bool {
        self.inner.nn
    }

    /// Which allocator the engine uses.
    pub fn allocator(&self) -> AllocatorKind {
        self.inner.allocator
    }

    /// Largest memory limit an actor may have, in bytes.
    pub fn max_memory(&self) -> usize {
        self.inner.max_memory
    }

    /// The compile cache.
    pub fn cache(&self) -> &CompileCache {
        &self.inner.cache
    }

    /// The prepared component of `digest`, when one was loaded lately.
    pub(crate) fn prepared(&self, digest: &str) -> Option<super::actor::Prepared> {
        let memo = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        memo.entries.get(digest).cloned()
    }

    /// Keeps `prepared` for the next actors of `digest`.
    pub(crate) fn remember_prepared(&self, digest: String, prepared: super::actor::Prepared) {
        let mut memo = self
            .inner
            .prepared
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if memo.entries.insert(digest.clone(), prepared).is_none() {
            memo.order.push_back(digest);
        }
        while memo.order.len() > PREPARED_KEPT {
            if let Some(oldest) = memo.order.pop_front() {
                memo.entries.remove(&oldest);
            }
        }
    }

    /// The linker for `component`: WASI and wasi:http from the host, and
    /// every other instance import routed to linked actors.
    pub(crate) fn linker_for(&self, component: &Component) -> wasmtime::Result<Linker<ActorCtx>> {
        let mut linker = self.inner.linker.clone();
        super::routed_imports::define_routed_imports(&mut linker, &self.inner.engine, component)?;
        Ok(linker)
    }

    /// Routes calls between actors through `calls` from now on.
    pub fn set_calls(&self, calls: Arc<dyn super::calls::ActorCalls>) {
        let _ = self.inner.calls.set(calls);
    }

    /// The router of calls between actors, once set.
    pub(crate) fn calls(&self) -> Option<Arc<dyn super::calls::ActorCalls>> {
        self.inner.calls.get().cloned()
    }

    /// Epoch ticks that make up `duration`, rounded up, at least one.
    pub(crate) fn ticks(&self, duration: std::time::Duration) -> u64 {
        let tick = self.inner.epoch_tick.as_nanos().max(1);
        u64::try_from(duration.as_nanos().div_ceil(tick))
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Compiles `wasm` without the cache; for checks and benchmarks.
    pub fn compile(&self, wasm: &[u8]) -> wasmtime::Result<Component> {
        Component::new(&self.inner.engine, wasm)
    }
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.ticker.stop();
    }
}

/// A thread that advances the engine's epoch every tick. A thread, not a
/// task: a guest spinning on every tokio worker must not be able to stop
/// the clock that interrupts it.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: std::time::Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("lattice-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .map_err(|error| tracing::error!(%error, "cannot start the epoch ticker; deadlines will not interrupt guests"))
            .ok();
        Self { stop, thread }
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

//! An actor: a component pre-instantiated once, instantiated per call. An
//! actor that scales from zero (`min_instances = 0`) is checked and
//! compiled at its start like any other, but its code is linked, and held
//! in memory, only from its first call on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use http_body_util::BodyExt;
use lattice_interfaces::claims::{Claims, ComponentMetadata};
use lattice_interfaces::http::{BoxError, HttpBody};
use lattice_interfaces::{ComponentId, ErrorKind, InvocationError};
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tracing::Instrument as _;
use wasmtime::component::{Component, InstancePre, Val};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::WasiHttpView;

use super::compile_cache::CompileOutcome;
use super::ctx::ActorCtx;
use super::engine::Runtime;
pub use super::load_error::ActorLoadError;
use crate::config::ActorLimits;

mod command;
mod exports;
mod serving;

use serving::Warm;

/// The export an actor needs to serve HTTP.
const HTTP_INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

/// What an actor has done since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActorStats {
    /// Calls that got an instance.
    pub calls: u64,
    /// Calls that failed (trap, timeout, limit), a subset of `calls`.
    pub failed: u64,
    /// Calls refused because every instance was busy for too long.
    pub busy: u64,
    /// Time calls spent waiting for an instance and holding it, summed,
    /// in microseconds.
    pub busy_us: u64,
}

struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    busy: AtomicU64,
    /// Microseconds calls waited for and held instance slots, summed.
    held_us: AtomicU64,
    latency: Histogram,
}

/// An instance slot held by one call: dropped, it frees the slot and adds
/// the time it was held to the actor's busy time (the load the autoscaler
/// reads).
pub(crate) struct InstanceSlot {
    _permit: OwnedSemaphorePermit,
    since: Instant,
    counters: Arc<Counters>,
}

impl Drop for InstanceSlot {
    fn drop(&mut self) {
        let held = u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.held_us.fetch_add(held, Ordering::Relaxed);
    }
}

/// Upper bounds of the buckets of an actor's call latencies, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Default for Counters {
    fn default() -> Self {
        Self {
            calls: AtomicU64::default(),
            failed: AtomicU64::default(),
            busy: AtomicU64::default(),
            held_us: AtomicU64::default(),
            latency: Histogram::new(LATENCY_BUCKETS),
        }
    }
}

/// A loaded actor, ready to serve calls. Share it behind an `Arc`.
pub struct Actor {
    id: ComponentId,
    origin: String,
    runtime: Runtime,
    code: Arc<Code>,
    limits: ActorLimits,
    permits: Arc<Semaphore>,
    compile: CompileOutcome,
    claims: Option<Claims<ComponentMetadata>>,
    counters: Arc<Counters>,
    /// What its instances may print to the host's logs, shared by all.
    output: Arc<super::guest_output::OutputBudget>,
    /// Instances that served a call and may serve more (`instance_reuse`).
    warm: Arc<std::sync::Mutex<Vec<Warm>>>,
    /// What its instances read through `wasi:config/store`.
    config: Arc<super::ActorConfig>,
    /// The models its instances load by name through `wasi:nn`.
    models: super::nn::Models,
}

/// What every actor of one component shares on a host: its compiled code
/// linked to the host's imports, prepared once (the runtime keeps the
/// prepared components it loaded last, by digest), so ten thousand actors
/// of one component hold one copy.
#[derive(Clone)]
pub(crate) struct Prepared {
    pre: InstancePre<ActorCtx>,
    http: Option<ProxyPre<ActorCtx>>,
    /// A WASI command (no `wasi:http`) that serves HTTP through WAGI.
    wagi: Option<wasmtime_wasi::p2::bindings::CommandPre<ActorCtx>>,
    shape: Shape,
}

/// What a component exports: known from an actor's start, linked or not.
#[derive(Clone)]
struct Shape {
    exports: Arc<[String]>,
    /// Exported interfaces (unversioned) whose functions involve resources.
    resource_interfaces: Arc<[String]>,
    /// It is a WASI command that serves HTTP through WAGI.
    wagi: bool,
}

/// An actor's code: its shape, and its component linked to the host's
/// imports — at the start, or for an actor that scales from zero at its
/// first call, from the bytes it was checked with.
struct Code {
    shape: Shape,
    prepared: tokio::sync::OnceCell<Prepared>,
    /// The component's digest and bytes, kept to link it later.
    unlinked: Option<(String, Arc<[u8]>)>,
}

impl Code {
    fn linked(prepared: Prepared) -> Self {
        Self {
            shape: prepared.shape.clone(),
            prepared: tokio::sync::OnceCell::new_with(Some(prepared)),
            unlinked: None,
        }
    }
}

impl Prepared {
    /// Links `component` (loaded for actor `id` from `origin`, named in
    /// errors) to the host's imports.
    fn new(
        runtime: &Runtime,
        id: &ComponentId,
        origin: &str,
        component: &Component,
    ) -> Result<Self, ActorLoadError> {
        let exports: Arc<[String]> = component
            .component_type()
            .exports(runtime.engine())
            .map(|(name, _)| name.to_string())
            .collect();
        let resource_interfaces =
            super::routed_imports::interfaces_with_resources(runtime.engine(), component).into();
        // What cannot be linked, in one line naming the actor and its origin.
        let unlinkable = |e: wasmtime::Error| ActorLoadError::Imports {
            id: id.to_string(),
            origin: origin.to_string(),
            reason: format!("{e:#}").replace('\n', "; "),
        };
        // Inference needs ONNX Runtime on this host: refused here, not at
        // its first call.
        if let Some(reason) = super::nn::refusal(runtime.serves_nn(), "imports wasi:nn") {
            let imports_nn = component
                .component_type()
                .imports(runtime.engine())
                .any(|(name, _)| super::nn::is_nn(name));
            if imports_nn {
                return Err(ActorLoadError::Imports {
                    id: id.to_string(),
                    origin: origin.to_string(),
                    reason,
                });
            }
        }
        let pre: InstancePre<ActorCtx> = runtime
            .linker_for(component)
            .and_then(|linker| linker.instantiate_pre(component))
            .map_err(unlinkable)?;
        let http = exports_interface(&exports, HTTP_INCOMING_HANDLER)
            .then(|| ProxyPre::new(pre.clone()).map_err(unlinkable))
            .transpose()?;
        let wagi = (http.is_none() && exports_interface(&exports, super::wagi::CLI_RUN))
            .then(|| wasmtime_wasi::p2::bindings::CommandPre::new(pre.clone()).map_err(unlinkable))
            .transpose()?;
        Ok(Self {
            shape: Shape {
                exports,
                resource_interfaces,
                wagi: wagi.is_some(),
            },
            pre,
            http,
            wagi,
        })
    }
}

/// Refuses `limits` whose memory limit exceeds the host's cap.
fn check_memory_limit(
    runtime: &Runtime,
    id: &ComponentId,
    limits: ActorLimits,
) -> Result<(), ActorLoadError> {
    let max_memory = runtime.max_memory();
    if limits.memory_limit > max_memory {
        return Err(ActorLoadError::Limits {
            id: id.to_string(),
            reason: format!(
                "memory limit of {} MiB exceeds this host's cap of {} MiB",
                limits.memory_limit >> 20,
                max_memory >> 20
            ),
        });
    }
    Ok(())
}

/// How a call ended when the guest gave no response.
enum CallFailure {
    Deadline,
    Trap(wasmtime::Error, Option<usize>),
    GuestGaveNoResponse,
}

impl std::fmt::Debug for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Actor")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("limits", &self.limits)
            .field("compile", &self.compile)
            .finish_non_exhaustive()
    }
}

impl Actor {
    /// Loads actor `id` from the component bytes `wasm` (read from
    /// `origin`, named in errors), compiling it or taking it from the
    /// runtime's compile cache. `claims` are those the caller verified.
    /// With `limits.min_instances` 0 the component is checked the same way,
    /// then only its bytes are kept until the first call links it.
    ///
    /// # Errors
    ///
    /// When it does not compile, cannot be linked, or asks for more than the
    /// runtime allows.
    pub fn load(
        runtime: &Runtime,
        id: ComponentId,
        origin: &str,
        wasm: &[u8],
        limits: ActorLimits,
        claims: Option<Claims<ComponentMetadata>>,
    ) -> Result<Self, ActorLoadError> {
        let digest = super::compile_cache::sha256_hex(wasm);
        if let Some(prepared) = runtime.prepared(&digest) {
            return Self::with_code(
                runtime.clone(),
                id,
                origin,
                Code::linked(prepared),
                CompileOutcome::Shared,
                limits,
                claims,
            );
        }
        let (component, outcome) =
            runtime
                .cache()
                .load(runtime.engine(), id.as_str(), origin, wasm)?;
        let prepared = Prepared::new(runtime, &id, origin, &component)?;
        let code = if limits.min_instances == 0 {
            // Checked, compiled (and cached): dropped until the first call.
            Code {
                shape: prepared.shape.clone(),
                prepared: tokio::sync::OnceCell::new(),
                unlinked: Some((digest, wasm.into())),
            }
        } else {
            runtime.remember_prepared(digest, prepared.clone());
            Code::linked(prepared)
        };
        Self::with_code(runtime.clone(), id, origin, code, outcome, limits, claims)
    }

    fn with_code(
        runtime: Runtime,
        id: ComponentId,
        origin: &str,
        code: Code,
        compile: CompileOutcome,
        limits: ActorLimits,
        claims: Option<Claims<ComponentMetadata>>,
    ) -> Result<Self, ActorLoadError> {
        check_memory_limit(&runtime, &id, limits)?;
        let output = Arc::new(super::guest_output::OutputBudget::new(Arc::clone(
            runtime.log_tap(),
        )));
        Ok(Self {
            permits: Arc::new(Semaphore::new(limits.max_instances as usize)),
            id,
            origin: origin.to_string(),
            runtime,
            code: Arc::new(code),
            limits,
            compile,
            claims,
            counters: Arc::default(),
            output,
            warm: Arc::new(std::sync::Mutex::new(Vec::new())),
            config: Arc::new(super::ActorConfig::none()),
            models: super::nn::Models::default(),
        })
    }

    /// The same actor, its log lines kept in `output` (an earlier
    /// version's).
    #[must_use]
    pub fn with_output(self, output: Arc<super::guest_output::OutputBudget>) -> Self {
        Self { output, ..self }
    }

    /// Its log budget and last lines.
    pub fn output(&self) -> &Arc<super::guest_output::OutputBudget> {
        &self.output
    }

    /// The same actor, its instances reading `config`.
    #[must_use]
    pub fn with_config(self, config: Arc<super::ActorConfig>) -> Self {
        Self { config, ..self }
    }

    /// The named config its instances read, in order.
    pub fn config(&self) -> &Arc<super::ActorConfig> {
        &self.config
    }

    /// The same actor, its instances loading `models` by name.
    #[must_use]
    pub fn with_models(self, models: super::nn::Models) -> Self {
        Self { models, ..self }
    }

    /// The models its instances load by name.
    pub fn models(&self) -> &super::nn::Models {
        &self.models
    }

    /// The actor's id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Where its component came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Its limits.
    pub fn limits(&self) -> ActorLimits {
        self.limits
    }

    /// The same loaded component under `limits`, sharing this actor's call
    /// counters: a scale, not an update. Calls in flight finish under the
    /// old limits; warm instances are not carried over.
    ///
    /// # Errors
    ///
    /// The memory limit exceeds the host's cap.
    pub fn rescaled(&self, limits: ActorLimits) -> Result<Self, ActorLoadError> {
        check_memory_limit(&self.runtime, &self.id, limits)?;
        Ok(Self {
            permits: Arc::new(Semaphore::new(limits.max_instances as usize)),
            id: self.id.clone(),
            origin: self.origin.clone(),
            runtime: self.runtime.clone(),
            code: Arc::clone(&self.code),
            limits,
            compile: self.compile,
            claims: self.claims.clone(),
            counters: Arc::clone(&self.counters),
            output: Arc::clone(&self.output),
            warm: Arc::default(),
            config: Arc::clone(&self.config),
            models: self.models.clone(),
        })
    }

    /// Whether loading it compiled or took the compile cache.
    pub fn compile_outcome(&self) -> CompileOutcome {
        self.compile
    }

    /// The claims it was signed with; `None` when it ran unsigned.
    pub fn claims(&self) -> Option<&Claims<ComponentMetadata>> {
        self.claims.as_ref()
    }

    /// Whether its component is linked and in memory: from the start, or
    /// for an actor that scales from zero, from its first call.
    pub fn is_linked(&self) -> bool {
        self.code.prepared.initialized()
    }

    /// Links its component now if it is not yet (an actor that scaled from
    /// zero and got no call); what the first call would do.
    ///
    /// # Errors
    ///
    /// When the component can no longer be compiled or linked.
    pub async fn link(&self) -> Result<(), InvocationError> {
        self.prepared().await.map(drop)
    }

    /// Its linked component, linked now when it scaled from zero.
    async fn prepared(&self) -> Result<&Prepared, InvocationError> {
        self.code
            .prepared
            .get_or_try_init(|| self.link_from_zero())
            .await
    }

    /// Links the component it was started with, for its first call.
    async fn link_from_zero(&self) -> Result<Prepared, InvocationError> {
        let Some((digest, wasm)) = self.code.unlinked.clone() else {
            return Err(self.error(ErrorKind::Failed, "has no component to link"));
        };
        if let Some(prepared) = self.runtime.prepared(&digest) {
            return Ok(prepared);
        }
        let started = Instant::now();
        let (runtime, id, origin) = (self.runtime.clone(), self.id.clone(), self.origin.clone());
        // Loading from the compile cache and linking are blocking work.
        let linked = tokio::task::spawn_blocking(move || {
            let (component, _) =
                runtime
                    .cache()
                    .load(runtime.engine(), id.as_str(), &origin, &wasm)?;
            let prepared = Prepared::new(&runtime, &id, &origin, &component)?;
            runtime.remember_prepared(digest, prepared.clone());
            Ok::<_, ActorLoadError>(prepared)
        })
        .await;
        let prepared = linked
            .map_err(|join| join.to_string())
            .and_then(|loaded| loaded.map_err(|e| e.to_string()))
            .map_err(|reason| {
                self.error(
                    ErrorKind::Failed,
                    format_args!("cannot be linked for its first call: {reason}"),
                )
            })?;
        tracing::info!(actor = %self.id, elapsed_ms = started.elapsed().as_millis() as u64, "actor scaled from zero: linked for its first call");
        Ok(prepared)
    }

    /// Whether it exports `namespace:package/interface` (any version).
    pub fn exports(&self, interface: &str) -> bool {
        exports_interface(&self.code.shape.exports, interface)
    }

    /// Whether calls for `interface` can be served: it exports it, or it
    /// is a WASI command and `interface` is `wasi:http/incoming-handler`
    /// (served through WAGI).
    pub fn serves(&self, interface: &str) -> bool {
        self.exports(interface) || (interface == HTTP_INCOMING_HANDLER && self.code.shape.wagi)
    }

    /// Whether exported `interface` (`ns:pkg/iface`) has resource types,
    /// which cannot cross hosts.
    pub fn exports_resources(&self, interface: &str) -> bool {
        self.code
            .shape
            .resource_interfaces
            .iter()
            .any(|i| i == interface)
    }

    /// What it has done so far.
    pub fn stats(&self) -> ActorStats {
        ActorStats {
            calls: self.counters.calls.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            busy: self.counters.busy.load(Ordering::Relaxed),
            busy_us: self.counters.held_us.load(Ordering::Relaxed),
        }
    }

    /// Whether every instance is busy: a call now would wait for one.
    pub fn saturated(&self) -> bool {
        self.permits.available_permits() == 0
    }

    /// Instances running now.
    pub fn instances_in_use(&self) -> usize {
        (self.limits.max_instances as usize).saturating_sub(self.permits.available_permits())
    }

    fn error(&self, kind: ErrorKind, what: impl std::fmt::Display) -> InvocationError {
        InvocationError::new(kind, format!("actor \"{}\": {what}", self.id))
    }

    /// A store for one call: the actor's memory limit and deadline.
    fn new_store(&self) -> Store<ActorCtx> {
        self.store_with(self.new_ctx())
    }

    /// The state of a store for one call.
    fn new_ctx(&self) -> ActorCtx {
        ActorCtx::new(
            self.id.clone(),
            self.limits.memory_limit,
            self.runtime.calls(),
            Arc::clone(&self.output),
            self.config.current(),
        )
        .with_models(self.models.clone())
    }

    /// A store holding `ctx`, with the actor's memory limit and deadline.
    fn store_with(&self, ctx: ActorCtx) -> Store<ActorCtx> {
        let mut store = Store::new(self.runtime.engine(), ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.epoch_deadline_trap();
        self.arm(&mut store);
        store
    }

    /// Sets the deadline of the call `store` is about to serve, counted
    /// from now, and forgets an earlier call's memory-limit breach.
    fn arm(&self, store: &mut Store<ActorCtx>) {
        store.set_epoch_deadline(self.runtime.ticks(self.limits.timeout));
        store.data_mut().limits.breached_at = None;
    }

    /// A free instance slot: at once when one is free (no timer on the hot
    /// path), else waiting up to the queue timeout.
    async fn instance_permit(&self) -> Result<InstanceSlot, InvocationError> {
        // A call counts as in flight from here: the time it waits for an
        // instance is load too.
        let since = Instant::now();
        let held = |permit| InstanceSlot {
            _permit: permit,
            since,
            counters: Arc::clone(&self.counters),
        };
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => return Ok(held(permit)),
            Err(TryAcquireError::Closed) => {
                return Err(self.error(ErrorKind::NotFound, "is stopping"))
            }
            Err(TryAcquireError::NoPermits) => {}
        }
        let wait = self.limits.queue_timeout.min(self.limits.timeout);
        match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(held(permit)),
            Ok(Err(_closed)) => Err(self.error(ErrorKind::NotFound, "is stopping")),
            Err(_elapsed) => {
                self.counters.busy.fetch_add(1, Ordering::Relaxed);
                let waited = u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX);
                self.counters.held_us.fetch_add(waited, Ordering::Relaxed);
                Err(self.error(
                    ErrorKind::Busy,
                    format_args!(
                        "all {} instances busy for {:?}; try again later",
                        self.limits.max_instances, wait
                    ),
                ))
            }
        }
    }

    fn describe(&self, failure: CallFailure) -> InvocationError {
        match failure {
            CallFailure::Deadline => self.error(
                ErrorKind::Timeout,
                format_args!(
                    "did not finish within its {:?} deadline",
                    self.limits.timeout
                ),
            ),
            CallFailure::GuestGaveNoResponse => {
                self.error(ErrorKind::Failed, "returned without setting a response")
            }
            CallFailure::Trap(_, Some(size)) => self.error(
                ErrorKind::Failed,
                format_args!(
                    "exceeded its memory limit of {} (tried to grow to {})",
                    mib(self.limits.memory_limit),
                    mib(size)
                ),
            ),
            CallFailure::Trap(error, None) => match error.downcast_ref::<wasmtime::Trap>() {
                Some(wasmtime::Trap::Interrupt) => self.error(
                    ErrorKind::Timeout,
                    format_args!("interrupted at its {:?} deadline", self.limits.timeout),
                ),
                Some(wasmtime::Trap::UnreachableCodeReached) => {
                    self.error(ErrorKind::Failed, "trapped: the guest panicked or aborted")
                }
                Some(trap) => self.error(ErrorKind::Failed, format_args!("trapped: {trap}")),
                None => self.error(
                    ErrorKind::Failed,
                    format_args!("failed: {}", first_line(&error.root_cause().to_string())),
                ),
            },
        }
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Whether `exports` holds `interface` at any version.
fn exports_interface(exports: &[String], interface: &str) -> bool {
    exports.iter().any(|name| {
        name == interface
            || name
                .strip_prefix(interface)
                .is_some_and(|rest| rest.starts_with('@'))
    })
}

/// `bytes` in MiB, with two decimals unless whole: a growth one page past
/// a 64 MiB limit reads 64.06 MiB, not 64.
fn mib(bytes: usize) -> String {
    if bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        #[allow(clippy::cast_precision_loss)] // shown with two decimals
        let mib = bytes as f64 / f64::from(1u32 << 20);
        format!("{mib:.2} MiB")
    }
}

#[cfg(test)]
mod mib_tests {
    #[test]
    fn a_size_past_a_whole_mib_shows_its_fraction() {
        assert_eq!(super::mib(64 << 20), "64 MiB");
        assert_eq!(super::mib((64 << 20) + (64 << 10)), "64.06 MiB");
    }
}

//! `ActorCtx`: the state of one store, made fresh for every call.

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Per-call state of an actor instance.
pub struct ActorCtx {
    /// The actor this store runs.
    pub(crate) actor: lattice_interfaces::ComponentId,
    /// Where its calls to other actors go.
    pub(crate) calls: Option<std::sync::Arc<dyn super::calls::ActorCalls>>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: super::outgoing_http::LinkedOutgoingHttp,
    pub(crate) limits: MemoryLimiter,
    /// Its log budget, shared with its other instances.
    output: std::sync::Arc<super::guest_output::OutputBudget>,
    /// Its number among the actor's instances on this host.
    instance: u64,
    /// Its runtime config, as it was when the store was made.
    config: std::sync::Arc<super::config::Merged>,
    /// The link names it chose (`wasmcloud:bus/lattice`).
    pub(crate) link_names: super::calls::LinkNames,
    /// The reply subject of the message this instance was handed
    /// (`wasmcloud:messaging/handler`), the one client reply it may answer.
    pub(crate) handed_reply: Option<String>,
    /// Its `wasi:nn` state, made on its first use.
    nn: Option<wasmtime_wasi_nn::wit::WasiNnCtx>,
    /// The models it may load by name.
    models: super::nn::Models,
}

impl ActorCtx {
    /// Fresh state for one call of `actor` with a linear-memory cap of
    /// `memory_limit` bytes; its calls to other actors go to `calls`, what
    /// it prints to the host's logs within `output`; it reads `config`.
    pub(crate) fn new(
        actor: lattice_interfaces::ComponentId,
        memory_limit: usize,
        calls: Option<std::sync::Arc<dyn super::calls::ActorCalls>>,
        output: std::sync::Arc<super::guest_output::OutputBudget>,
        config: std::sync::Arc<super::config::Merged>,
    ) -> Self {
        use super::guest_output::{GuestOutput, Stream};
        let link_names = super::calls::LinkNames::default();
        let hooks = super::outgoing_http::LinkedOutgoingHttp::new(
            actor.clone(),
            calls.clone(),
            link_names.clone(),
        );
        // Guests see no environment, arguments, files or stdin of the host;
        // what they print (panic messages too) goes to the host's logs, a
        // line at a time, tagged with the actor.
        let instance = output.next_instance();
        let stdout = GuestOutput::new(actor.clone(), instance, Stream::Stdout, output.clone());
        let stderr = GuestOutput::new(actor.clone(), instance, Stream::Stderr, output.clone());
        let wasi = WasiCtx::builder().stdout(stdout).stderr(stderr).build();
        Self {
            actor,
            calls,
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            nn: None,
            models: super::nn::Models::default(),
            hooks,
            limits: MemoryLimiter {
                allowance: lattice_contract::Allowance::new(memory_limit),
                breached_at: None,
            },
            output,
            instance,
            config,
            link_names,
            handed_reply: None,
        }
    }
}

impl ActorCtx {
    /// The same state for a WAGI request: the program sees `env`, reads
    /// `stdin`, and writes its response to `stdout`; stderr still goes to
    /// the host's logs.
    pub(crate) fn cgi(
        mut self,
        env: &[(String, String)],
        stdin: bytes::Bytes,
        stdout: wasmtime_wasi::p2::pipe::MemoryOutputPipe,
    ) -> Self {
        use super::guest_output::{GuestOutput, Stream};
        let stderr = GuestOutput::new(
            self.actor.clone(),
            self.instance,
            Stream::Stderr,
            self.output.clone(),
        );
        self.wasi = WasiCtx::builder()
            .envs(env)
            .stdin(wasmtime_wasi::p2::pipe::MemoryInputPipe::new(stdin))
            .stdout(stdout)
            .stderr(stderr)
            .build();
        self
    }
}

impl lattice_contract::ContractHost for ActorCtx {
    fn contract_view(&mut self) -> lattice_contract::ContractView<'_> {
        lattice_contract::ContractView {
            table: &mut self.table,
            allowance: &mut self.limits.allowance,
            actor: &self.actor,
            calls: self.calls.as_ref(),
            link_names: &self.link_names,
            handed_reply: self.handed_reply.as_deref(),
        }
    }
}

impl ActorCtx {
    /// Its resource table.
    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// The same state, loading `models` by name through `wasi:nn`.
    pub(crate) fn with_models(mut self, models: super::nn::Models) -> Self {
        self.models = models;
        self
    }

    /// What `wasi:nn` works on: the table and the store's inference state.
    pub(crate) fn nn(&mut self) -> wasmtime_wasi_nn::wit::WasiNnView<'_> {
        super::nn::view(&mut self.table, &mut self.nn, &self.models)
    }

    pub(crate) fn logging(&mut self) -> super::logging::LoggingView<'_> {
        super::logging::LoggingView {
            actor: &self.actor,
            instance: self.instance,
            budget: &self.output,
        }
    }

    pub(crate) fn config(&mut self) -> wasmtime_wasi_config::WasiConfig<'_> {
        self.config.view()
    }

    /// Its merged config and secrets.
    pub(crate) fn config_values(&self) -> &super::config::Merged {
        &self.config
    }

    /// What `wasmcloud:secrets` works on: the table, the allowance and the
    /// merged secrets, borrowed apart.
    pub(crate) fn secrets_parts(
        &mut self,
    ) -> (
        &mut wasmtime::component::ResourceTable,
        &mut lattice_contract::Allowance,
        &super::config::Merged,
    ) {
        (&mut self.table, &mut self.limits.allowance, &self.config)
    }
}

impl WasiView for ActorCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for ActorCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Caps one instance's linear memory, together with what it made the host
/// hold for it (its allowance), and remembers a breach, so a call that
/// fails on it is reported as a limit breach rather than a bare trap.
pub(crate) struct MemoryLimiter {
    /// Bytes the whole instance may hold: every memory of every core module
    /// in it, and what the host holds for it.
    pub(crate) allowance: lattice_contract::Allowance,
    /// The size (all memories and holdings) a guest tried to grow past the
    /// limit to.
    pub(crate) breached_at: Option<usize>,
}

/// Most table elements one instance may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The limit is the instance's: a guest with many memories (one per
        // core module) gets no more than one with a single memory, and what
        // the host holds for it counts too.
        if let Err(total) = self.allowance.grow_memory(current, desired) {
            self.breached_at = Some(total);
            wasmtime::bail!(
                "memory limit of {} bytes reached: its memories and what the host holds for it would take {total} bytes",
                self.allowance.limit()
            );
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

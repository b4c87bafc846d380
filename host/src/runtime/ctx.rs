//! `ActorCtx`: the state of one store, made fresh for every call.

use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

/// Per-call state of an actor instance.
pub struct ActorCtx {
    /// The actor this store runs.
    pub(crate) actor: lattice_interfaces::ComponentId,
    /// Where its calls to other actors go.
    pub(crate) calls: Option<std::sync::Arc<dyn super::calls::ActorCalls>>,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: LinkedOutgoingHttp,
    pub(crate) limits: MemoryLimiter,
}

impl ActorCtx {
    /// Fresh state for one call of `actor` with a linear-memory cap of
    /// `memory_limit` bytes; its calls to other actors go to `calls`.
    pub fn new(
        actor: lattice_interfaces::ComponentId,
        memory_limit: usize,
        calls: Option<std::sync::Arc<dyn super::calls::ActorCalls>>,
    ) -> Self {
        let hooks = LinkedOutgoingHttp {
            actor: actor.clone(),
            calls: calls.clone(),
        };
        Self {
            actor,
            calls,
            // Guests see no environment, arguments, files or stdin of the host;
            // what they print to stderr (panic messages) goes to the host's.
            wasi: WasiCtx::builder().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            limits: MemoryLimiter {
                limit: memory_limit,
                breached_at: None,
            },
        }
    }
}

impl ActorCtx {
    pub(crate) fn keyvalue(&mut self) -> super::keyvalue::KeyValueView<'_> {
        super::keyvalue::KeyValueView {
            table: &mut self.table,
            actor: &self.actor,
            calls: self.calls.as_ref(),
        }
    }
}

impl ActorCtx {
    pub(crate) fn messaging(&mut self) -> super::messaging::MessagingView<'_> {
        super::messaging::MessagingView {
            actor: &self.actor,
            calls: self.calls.as_ref(),
        }
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

/// Outgoing HTTP is a capability like any other: an actor reaches it only
/// through a link to an `http-client` provider, whose config sets the
/// timeouts. Without one every outgoing request is denied.
pub struct LinkedOutgoingHttp {
    actor: lattice_interfaces::ComponentId,
    calls: Option<std::sync::Arc<dyn super::calls::ActorCalls>>,
}

/// What is sent and received for an outgoing request.
type Sent = Result<
    (
        http::Response<wasmtime_wasi_http::WasiBody>,
        Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ),
    wasmtime_wasi_http::Error,
>;

impl WasiHttpHooks for LinkedOutgoingHttp {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<dyn std::future::Future<Output = Sent> + Send> {
        let options = match self
            .calls
            .as_ref()
            .map(|calls| calls.outgoing_http(&self.actor))
        {
            Some(Ok(options)) => options,
            Some(Err(error)) => {
                tracing::warn!(actor = %self.actor, %error, "outgoing HTTP refused");
                return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
            }
            None => return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) }),
        };
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io)
                    as Box<
                        dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                            + Send,
                    >,
            ))
        })
    }
}

/// Caps one instance's linear memory and remembers a breach, so a call that
/// fails on it is reported as a limit breach rather than a bare trap.
pub(crate) struct MemoryLimiter {
    limit: usize,
    /// The size a guest tried to grow past the limit to.
    pub(crate) breached_at: Option<usize>,
}

/// Most table elements one instance may hold.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.breached_at = Some(desired);
            wasmtime::bail!(
                "memory limit of {} bytes reached growing to {desired} bytes",
                self.limit
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

//! What an actor's calls go through: [`ActorCalls`], which the host's
//! router implements (from `lattice-contract`, where every contract's
//! bindings reach it too), and how outgoing HTTP leaves. The runtime
//! depends on that trait only; the host plugs its router in with
//! `Runtime::set_calls`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use lattice_contract::{unversioned, ActorCalls, CallFuture, LinkNames};
use lattice_interfaces::http_client::{OutgoingReply, OutgoingRequest};
use lattice_interfaces::InvocationError;

/// Sends one request whole through a provider elsewhere on the lattice.
pub type OutgoingSender = Box<
    dyn FnOnce(
            OutgoingRequest,
        )
            -> Pin<Box<dyn Future<Output = Result<OutgoingReply, InvocationError>> + Send>>
        + Send,
>;

/// How an actor's outgoing request leaves.
pub enum OutgoingHttp {
    /// From this process, streaming, with the link's timeouts, where its
    /// policy allows.
    Direct(
        wasmtime_wasi_http::RequestOptions,
        lattice_provider_http_client::OutgoingPolicy,
    ),
    /// Whole, through the provider the link names, elsewhere.
    Through(OutgoingSender),
}

/// Shares the router between the runtime and each store.
pub(crate) type SharedCalls = Arc<std::sync::OnceLock<Arc<dyn ActorCalls>>>;

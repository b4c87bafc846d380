//! The actor runtime: one wasmtime [`Engine`](wasmtime::Engine) per host,
//! compiled components cached by digest, and actors that are pre-instantiated
//! once and instantiated per call.
//!
//! 1. [`Runtime::new`] builds the engine (component model, epoch
//!    interruption, the pooling allocator when it can reserve its pool) and
//!    starts the epoch ticker that enforces call deadlines.
//! 2. [`Runtime::load_actor`] reads a component, compiles it or takes it from
//!    the [`CompileCache`], links its imports and keeps the resulting
//!    `ProxyPre` in an [`Actor`].
//! 3. [`Actor::handle_http`] serves one call in a fresh store, with the
//!    actor's memory limit and deadline, at most `max_instances` at once.
//!    A trap, timeout or limit breach fails that call only.

mod actor;
mod calls;
mod compile_cache;
mod ctx;
mod engine;
mod keyvalue;
mod messaging;
mod outgoing_http;

pub use actor::{Actor, ActorLoadError, ActorStats, HTTP_INCOMING_HANDLER};
pub use calls::{
    decode_values, encode_values, from_wire, to_wire, unversioned, ActorCalls, CallFuture,
    KeyValueFuture, MessagingClientFuture,
};
pub(crate) use compile_cache::check_is_component;
pub use compile_cache::{CompileCache, CompileOutcome};
pub use ctx::ActorCtx;
pub use engine::{AllocatorKind, Runtime, RuntimeError};
pub use outgoing_http::{LinkedOutgoingHttp, OutgoingHttp, OutgoingSender};

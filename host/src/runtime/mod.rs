//! The actor runtime: one wasmtime [`Engine`](wasmtime::Engine) per host,
//! compiled components cached by digest, and actors that are pre-instantiated
//! once and instantiated per call.
//!
//! 1. [`Runtime::new`] builds the engine (component model, epoch
//!    interruption, the pooling allocator when it can reserve its pool) and
//!    starts the epoch ticker that enforces call deadlines.
//! 2. [`Actor::load`] compiles a component or takes it from the
//!    [`CompileCache`], links its imports and keeps the resulting
//!    `ProxyPre` in an [`Actor`].
//! 3. [`Actor::handle_http`] serves one call in a fresh store, with the
//!    actor's memory limit and deadline, at most `max_instances` at once.
//!    A trap, timeout or limit breach fails that call only.
//!
//! The modules, each depending only on those listed before it:
//! - `load_error`: why an actor could not be loaded;
//! - `calls`: the [`ActorCalls`] trait the host's router implements;
//! - `values`: component values to and from the wire;
//! - `compile_cache`: compiled components on disk, by digest;
//! - `keyvalue`, `messaging`, `outgoing_http`: the WASI bindings that call
//!   through [`ActorCalls`];
//! - `logging`: `wasi:logging` into the host's logs, per actor;
//! - `config`: named config, and `wasi:config/store` per actor;
//! - `bus`: `wasmcloud:bus/lattice`, the link names an instance picks;
//! - `ctx`: [`ActorCtx`], the state of one store;
//! - `routed_imports`: imports of other actors, routed through
//!   [`ActorCalls`];
//! - `engine`: [`Runtime`], the engine, its linker and epoch ticker;
//! - `wave`: a function and its arguments read from WAVE text, results
//!   written as WAVE (`lattice-ctl call`);
//! - `wagi`: a request as CGI variables, a CGI response from stdout (WASI
//!   command components serving HTTP);
//! - `actor`: [`Actor`], pre-instantiated, instantiated per call.

mod actor;
mod bus;
mod calls;
mod compile_cache;
mod config;
mod ctx;
mod engine;
pub mod guest_output;
mod keyvalue;
mod load_error;
mod logging;
mod messaging;
mod outgoing_http;
mod routed_imports;
mod values;
mod wagi;
mod wave;

pub use actor::{Actor, ActorStats};
pub use calls::{
    unversioned, ActorCalls, CallFuture, KeyValueFuture, MessagingClientFuture, OutgoingHttp,
    OutgoingSender,
};
pub(crate) use compile_cache::check_is_component;
pub use compile_cache::{CompileCache, CompileOutcome};
pub use config::{ActorConfig, NamedConfig};
pub use ctx::ActorCtx;
pub use engine::{AllocatorKind, Runtime, RuntimeError};
pub use load_error::ActorLoadError;
pub use values::{decode_values_within, decode_wire, encode_values, from_wire, to_wire};

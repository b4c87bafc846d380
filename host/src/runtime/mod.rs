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
//! - `calls`: the [`ActorCalls`] trait the host's router implements
//!   (from `lattice-contract`) and how outgoing HTTP leaves;
//! - `values`: component values to and from the wire;
//! - `compile_cache`: compiled components on disk, by digest;
//! - `outgoing_http`: `wasi:http/outgoing-handler` through the actor's
//!   link (wasmtime-wasi-http's hooks);
//! - `logging`: `wasi:logging` into the host's logs, per actor;
//! - `config`: named config, and `wasi:config/store` per actor;
//! - `bus`: `wasmcloud:bus/lattice`, the link names an instance picks;
//! - `ctx`: [`ActorCtx`], the state of one store, and the
//!   [`ContractView`](lattice_contract::ContractView) every contract's
//!   bindings work on;
//! - `routed_imports`: imports of other actors, routed through
//!   [`ActorCalls`];
//! - `engine`: [`Runtime`], the engine, its linker (WASI, then every
//!   contract of the host's registry, `crate::contracts`) and epoch ticker;
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
mod config_draft;
mod ctx;
mod engine;
pub mod guest_output;
mod load_error;
pub mod log_tap;
mod logging;
pub mod nn;
mod outgoing_http;
mod routed_imports;
mod secrets;
mod values;
mod wagi;
mod wave;

pub use actor::Actor;
pub use calls::{ActorCalls, CallFuture, OutgoingHttp, OutgoingSender};
pub use compile_cache::CompileOutcome;
pub(crate) use compile_cache::{check_is_component, sha256_hex};
pub use config::{ActorConfig, NamedConfig};
pub use ctx::ActorCtx;
pub use engine::{AllocatorKind, Runtime, RuntimeError};
pub use load_error::ActorLoadError;
pub use values::{decode_values_within, decode_wire, encode_values};

/// Links `wasi:logging` into `linker` (the host's logging contract).
pub(crate) fn add_logging_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    logging::add_to_linker(linker, ActorCtx::logging)
}

/// Links `wasi:config/store` into `linker` (the host's config contract).
pub(crate) fn add_config_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    config::add_to_linker(linker, ActorCtx::config)?;
    config_draft::add_to_linker(linker)
}

/// Links `wasmcloud:secrets` into `linker` (the host's secrets contract).
pub(crate) fn add_secrets_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    secrets::add_to_linker(linker)
}

/// Links `wasi:nn` into `linker` (inference on ONNX Runtime).
pub(crate) fn add_nn_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    nn::add_to_linker(linker)
}

/// Links `wasmcloud:bus/lattice` into `linker` (the host's bus contract).
pub(crate) fn add_bus_to_linker(
    linker: &mut wasmtime::component::Linker<ActorCtx>,
) -> wasmtime::Result<()> {
    bus::add_to_linker(linker)
}

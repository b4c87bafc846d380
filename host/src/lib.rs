//! The Lattice host: runs Wasm actors (WASI 0.2 components), links them to
//! capability providers and to each other, and serves their calls.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use lattice_host::{Host, HostConfig};
//! use lattice_interfaces::Manifest;
//!
//! let host = Host::new(HostConfig::default())?;
//! host.apply(&Manifest::load("examples/hello/hello.toml".as_ref())?).await?;
//! for endpoint in host.http_endpoints() {
//!     println!("{} -> {}", endpoint.url(), endpoint.link.target);
//! }
//! host.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
//!
//! The public surface is what this page lists: [`Host`] and its
//! configuration, the trust policy, the host's identity, [`lattice`]
//! (joining a lattice over NATS), [`cli`] (the flags of `lattice-host` and
//! `lattice-ctl up`) and [`admin`] (`/livez`, `/readyz` and `/metrics`).
//! Everything else is internal (`pub(crate)` or private), so it may change
//! without breaking a caller. The parts, each in its own module:
//! - `config`: the knobs of a host and of an actor;
//! - `identity`: the host's key; its public key is the host id;
//! - `trust`: what the host runs: claims, issuers, capabilities;
//! - `runtime`: the wasmtime engine, the compile cache and the actors
//!   themselves (pre-instantiated once, instantiated per call);
//! - [`budget`] (from `lattice-rpc`): the memory calls crossing the
//!   lattice may hold at once;
//! - `host`: the host that ties actors, providers and links together;
//! - `links`: the link table, one link per key;
//! - `router`: where each call goes, in-process or over the lattice;
//! - `contracts`: the contracts the host serves to actors, one
//!   registration table (key-value, messaging, outgoing HTTP, logging,
//!   config, bus);
//! - `remote`: outgoing HTTP through a provider elsewhere in the lattice;
//! - `artifacts`, `references`: components and providers from files and
//!   registries;
//! - `secrets`: where actors' secrets come from;
//! - [`lattice`]: joining a lattice over NATS: control, events, state,
//!   RPC, provider processes;
//! - [`admin`]: `/livez`, `/readyz` and `/metrics` for operators;
//! - [`cli`]: the flags of `lattice-host` and `lattice-ctl up`.

pub mod admin;
mod artifacts;
pub mod build_info;
mod contracts;
pub use lattice_rpc::budget;
pub mod cli;
mod config;
mod host;
mod identity;
pub mod lattice;
mod links;
mod references;
/// The registry flags, from `lattice-oci` (kept at this path for callers).
pub use lattice_oci::args as registry_args;
mod remote;
mod router;
mod runtime;
mod secrets;
mod trust;

pub use config::{ActorLimits, HostConfig, RuntimeConfig};
pub use host::{Host, HostError};
pub use identity::HostIdentity;
pub use router::{RouteCounts, RoutingStats};
pub use runtime::log_tap::LogLine;
pub use runtime::{encode_values, Actor, ActorLoadError, AllocatorKind, CompileOutcome};
pub use trust::{claimable_imports, component_imports, TrustError, TrustPolicy};

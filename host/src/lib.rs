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
//! The parts, each in its own module:
//! - [`config`]: the knobs of a host and of an actor;
//! - [`identity`]: the host's key; its public key is the host id;
//! - [`trust`]: what the host runs: claims, issuers, capabilities;
//! - [`runtime`]: the wasmtime engine, the compile cache and the actors
//!   themselves (pre-instantiated once, instantiated per call);
//! - [`budget`] (from `lattice-rpc`): the memory calls crossing the
//!   lattice may hold at once;
//! - [`host`]: the host that ties actors, providers and links together;
//! - `links`: the link table, one link per key;
//! - `router`: where each call goes, in-process or over the lattice;
//! - `contracts`: the contracts the host serves to actors, one
//!   registration table (key-value, messaging, outgoing HTTP, logging,
//!   config, bus);
//! - `remote`: outgoing HTTP through a provider elsewhere in the lattice;
//! - [`lattice`]: joining a lattice over NATS: control, events, state,
//!   RPC, provider processes;
//! - `admin`: `/livez`, `/readyz` and `/metrics` for operators;
//! - [`cli`]: the flags of `lattice-host` and `lattice-ctl up`.

pub mod admin;
pub mod artifacts;
mod contracts;
pub use lattice_rpc::budget;
pub mod cli;
pub mod config;
pub mod host;
pub mod identity;
pub mod lattice;
mod links;
pub mod references;
/// The registry flags, from `lattice-oci` (kept at this path for callers).
pub use lattice_oci::args as registry_args;
mod remote;
mod router;
pub mod runtime;
pub mod secrets;
pub mod trust;

pub use config::{ActorLimits, HostConfig, RuntimeConfig};
pub use host::{Host, HostError};
pub use router::{RouteCounts, RoutingStats};
pub use runtime::{ActorLoadError, CompileOutcome};
pub use trust::{TrustError, TrustPolicy};

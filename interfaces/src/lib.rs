//! What two Lattice processes must agree on: the names of things, links,
//! contracts, manifests and the in-process API of each standard contract.
//!
//! Every other crate depends on this one and on nothing of each other's, so a
//! capability provider never needs the host to build, and `lattice-ctl` and the
//! host parse the same manifest the same way.
//!
//! ```
//! use lattice_interfaces::{Link, Manifest};
//!
//! # fn main() -> Result<(), lattice_interfaces::ManifestError> {
//! let manifest = Manifest::from_toml(r#"
//!     [[actors]]
//!     id = "hello"
//!     path = "hello.wasm"
//!
//!     [[providers]]
//!     id = "http"
//!     kind = "http-server"
//!
//!     [[links]]
//!     source = "http"
//!     target = "hello"
//!     interface = "wasi:http/incoming-handler"
//!     source_config = { address = "127.0.0.1:8080" }
//! "#)?;
//! let link: &Link = &manifest.links[0];
//! assert_eq!(link.contract().to_string(), "wasi:http/incoming-handler");
//! # Ok(())
//! # }
//! ```
//!
//! The modules:
//! - [`id`]: component ids; [`link`]: links and their keys; [`contract`]:
//!   WIT interfaces and the standard ones ([`standard`]);
//! - [`manifest`]: the TOML manifests `lattice-ctl up` and hosts apply;
//! - [`claims`]: signed actors and providers (wascap-compatible JWTs);
//! - [`capability`]: the one trait every provider implements;
//! - [`http`], [`http_client`], [`keyvalue`], [`messaging`]: each standard
//!   contract's in-process API and wire types; [`wire`]: their codec;
//! - [`protocol`]: everything on NATS: subjects, control, events, the RPC
//!   envelope, lattice state, provider host data;
//! - [`error`]: invocation errors with a stable kind.

pub mod artifact;
pub mod capability;
pub mod claims;
pub mod contract;
pub mod error;
pub mod http;
pub mod http_client;
pub mod id;
pub mod keyvalue;
pub mod link;
pub mod manifest;
pub mod messaging;
pub mod placement;
pub mod protocol;
pub mod secret;
pub mod wire;

pub use artifact::ArtifactRef;
pub use contract::{standard, Contract, ContractError, Interface};
pub use error::{hidden, redacted, redacted_in, shown, ErrorKind, InvocationError};
pub use id::{ComponentId, HostId, HostIdError, IdError};
pub use link::{Link, LinkKey};
pub use manifest::{ActorSpec, LinkSpec, Manifest, ManifestError, ManifestSpec, ProviderSpec};

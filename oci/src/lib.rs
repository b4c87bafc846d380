//! Actors and provider binaries in OCI registries.
//!
//! A component is pushed in the layout of the CNCF Wasm OCI artifact
//! guidance (config `application/vnd.wasm.config.v0+json`, one
//! `application/wasm` layer), so what `wash`, `wkg` or ORAS push pulls
//! here and what Lattice pushes pulls there. A provider is an image index
//! with one manifest per platform, each holding the binary and, as a second
//! layer, its claims (the `BINARY.jwt` of a file on disk).
//!
//! - [`reference`]: parsing `REGISTRY/REPO[:TAG][@sha256:…]`;
//! - [`media`]: the media types of both layouts;
//! - [`credentials`]: who the host is to each registry (Docker's
//!   `config.json`, a user and password, a token, or nobody);
//! - [`registry`]: talking to one registry (TLS, plain HTTP where allowed,
//!   timeouts, retries) and classifying its failures;
//! - [`cache`]: content on disk by digest, written whole or not at all;
//! - [`pull`]: components and provider binaries, one download per digest
//!   however many ask at once;
//! - [`push`]: the same artifacts, the other way;
//! - [`error`]: one error type whose message names the reference.

pub mod args;
pub mod cache;
pub mod credentials;
pub mod error;
pub mod media;
pub mod pull;
pub mod push;
pub mod reference;
pub mod registry;

pub use cache::ArtifactCache;
pub use credentials::Credentials;
pub use error::{OciError, OciFailure};
pub use pull::{ArtifactDescription, Platform, PulledComponent, PulledProvider, Puller};
pub use reference::OciReference;
pub use registry::{Registry, RegistryOptions};

//! The HTTP server capability provider: listens on the addresses its links
//! name and hands each request to the link's target over
//! `wasi:http/incoming-handler`.
//!
//! A link from this provider to an actor carries, in its source config (or
//! target config):
//! - `address`: where to listen, e.g. `127.0.0.1:8080` (required; port `0`
//!   picks a free port, see [`HttpServerProvider::listening`]);
//! - `path`: a path prefix, default `/`;
//! - `tls_cert_file` and `tls_key_file` (or wasmCloud's
//!   `tls_priv_key_file`): serve HTTPS on the address (HTTP/2 and HTTP/1.1
//!   by ALPN), certificates picked by SNI, read again when their files
//!   change; with `tls_client_ca_file`, clients must show a certificate
//!   that CA signed, and its subject reaches the actor in the
//!   `x-lattice-client-subject` header (see [`tls`]).
//!
//! Several links may share one address: each request goes to the link with the
//! longest `path` prefix that matches whole segments (`/api` matches `/api`
//! and `/api/users`, not `/apix`). The path is passed to the actor unchanged.
//! A request no link matches gets `404`.
//!
//! It is a [`Capability`](lattice_interfaces::capability::Capability):
//! 1. [`HttpServerProvider::new`] with the context that reaches the actors
//!    (a host's router in-process, the lattice from its own process);
//! 2. `put_link` for each link, which binds the address the first time it
//!    is named (or [`HttpServerProvider::serve_link`], which says where);
//! 3. `shutdown` stops accepting and drains in-flight requests.

mod connections;
mod routes;
mod server;
pub mod tls;

pub use connections::{IDLE_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER};
pub use lattice_interfaces::http::Endpoint;
pub use routes::{same_route, Route, RouteError};
pub use server::{HttpServerError, HttpServerProvider};

/// The provider kind manifests name to run this provider.
pub const KIND: &str = "http-server";

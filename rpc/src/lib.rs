//! The one RPC layer of a lattice: how hosts and provider processes call
//! each other over NATS, and the plumbing they share to get there.
//!
//! ```no_run
//! # async fn run(client: async_nats::Client, link: lattice_interfaces::Link) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use lattice_interfaces::protocol::subjects::Subjects;
//! use lattice_rpc::{Call, Caller};
//!
//! let key = Arc::new(nkeys::KeyPair::new_cluster());
//! let caller = Caller::new(client, Subjects::new("default")?, key, "NHOST", None, Duration::from_secs(30));
//! let answer = caller
//!     .invoke(Call { link: &link, interface: "example:uppercase/convert", function: "upper", payload: vec![] })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - [`caller`]: sign an invocation, send it, await the answer until its
//!   deadline, pull a large answer;
//! - [`callee`]: the one loop that decodes, verifies, pulls, serves within
//!   the deadline and answers, used by hosts and provider processes alike;
//! - [`verify`]: trust, signatures over the received bytes, deadlines and
//!   replay memory;
//! - [`payloads`]: payloads over the inline limit, offered and pulled in
//!   chunks;
//! - [`backoff`]: waits that double up to a cap, for retries;
//! - [`budget`]: the memory calls crossing the lattice may hold at once;
//! - [`connect`](mod@connect): connecting to NATS with a host's credentials;
//! - [`events`]: publishing the lattice's CloudEvents;
//! - [`link_watch`]: following the links in the state bucket, re-reading
//!   them all when the watch ends;
//! - [`logging`]: how every Lattice process logs, and where its traces go;
//! - [`telemetry`]: spans that follow a call across processes, and the
//!   `traceparent` that links them.
//!
//! The envelope itself (what crosses NATS, byte for byte) is
//! `lattice_interfaces::protocol::rpc`.

pub mod activation;
pub mod backoff;
pub mod budget;
pub mod callee;
pub mod caller;
pub mod connect;
pub mod events;
pub mod link_watch;
pub mod logging;
pub mod payloads;
pub mod revocations;
pub mod round_trip;
pub mod telemetry;
pub mod verify;

pub use backoff::Backoff;
pub use callee::{Callee, InvocationHandler, ServeFuture};
pub use caller::{Call, Caller};
pub use connect::{connect, redacted};
pub use events::EventPublisher;
pub use link_watch::{LinkChange, LinkWatch};
pub use logging::init_tracing;

pub use round_trip::server_caught_up;
#[doc(hidden)]
pub use tracing as __tracing;
pub use verify::Verifier;

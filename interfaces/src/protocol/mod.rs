//! The lattice protocol: everything hosts and clients say to each other over
//! NATS. `docs/protocol.md` is the same in prose, for clients in other
//! languages.
//!
//! - [`subjects`]: where each message goes (`lattice.<L>.ctl.v1.*`,
//!   `lattice.<L>.evt.*`, `lattice.<L>.rpc.*`) and the KV bucket's name;
//! - [`control`]: control requests and their `{success, message, response}`
//!   replies;
//! - [`events`]: CloudEvents 1.0 that report every change of state;
//! - [`logs`]: actors' log lines, live and recent;
//! - [`activation`]: asking for a replica of an actor scaled to zero;
//! - [`state`]: the keys and values of the lattice's JetStream KV bucket.

pub mod activation;
pub mod app;
pub mod control;
pub mod events;
pub mod link_entry;
pub mod logs;
pub mod provider;
pub mod rpc;
pub mod state;
pub mod subjects;

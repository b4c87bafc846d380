//! Outgoing HTTP through an `http-client` provider that is not in this
//! host's process: each request becomes one sealed or signed invocation
//! over the lattice. The other contracts' remote clients live in their
//! crates (`lattice-contract-keyvalue`, `lattice-contract-messaging`).

mod http_client;

pub(crate) use http_client::sender;

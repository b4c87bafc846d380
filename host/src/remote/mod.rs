//! Providers that are not in this host's process — provider processes,
//! built-in providers of other hosts — seen through their contracts: each
//! call becomes one signed invocation over the lattice, its arguments and
//! answer in the contract's wire types.

mod http_client;
mod keyvalue;
mod messaging;

pub(crate) use http_client::sender;
pub(crate) use keyvalue::RemoteKeyValue;
pub(crate) use messaging::RemoteMessaging;

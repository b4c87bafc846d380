//! `wasi:keyvalue` (`store`, `atomics`, `batch`, version `0.2.0-draft`)
//! as a contract of the Lattice host.
//!
//! An actor reaches a key-value provider only through a link that carries
//! `wasi:keyvalue/store`; `open(identifier)` takes the store behind that
//! link and the identifier is the bucket. A provider in the host's process
//! hands out its store (`Arc<dyn KeyValue>`, see
//! [`Capability::client`](lattice_contract::Capability::client)) and is
//! called directly; a provider elsewhere is reached with one invocation per
//! operation in the wire types of `lattice_interfaces::keyvalue::wire`.
//!
//! Registered in the host with one line: `&lattice_contract_keyvalue::KeyValueContract`.

mod bindings;
mod remote;

use std::sync::Arc;

use lattice_contract::{Contract, ContractClient, ContractHost, RemoteInvoke};
use lattice_interfaces::keyvalue::KeyValue;
use lattice_interfaces::{standard, Interface, Link};
use wasmtime::component::Linker;

/// The `wasi:keyvalue` contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyValueContract;

impl<T: ContractHost> Contract<T> for KeyValueContract {
    fn package(&self) -> &'static str {
        "wasi:keyvalue"
    }

    fn serves(&self) -> &'static [&'static str] {
        &[
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:keyvalue/batch@0.2.0-draft",
        ]
    }

    fn linked_by(&self) -> Option<Interface<'static>> {
        Some(standard::KEYVALUE_STORE)
    }

    fn add_to_linker(&self, linker: &mut Linker<T>) -> wasmtime::Result<()> {
        bindings::add_to_linker(linker)
    }

    fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
        let store: Arc<dyn KeyValue> = Arc::new(remote::RemoteKeyValue { remote, link });
        Some(ContractClient::new(store))
    }
}

//! `wasmcloud:messaging` (`consumer`, version `0.2.0`) as a contract of the
//! Lattice host: actors publish and request through the messaging provider
//! their link names.
//!
//! A provider in the host's process hands out its client
//! (`Arc<dyn MessagingClient>`, see
//! [`Capability::client`](lattice_contract::Capability::client)); a
//! provider elsewhere is reached with one invocation per publish or
//! request in the wire types of `lattice_interfaces::messaging::wire`.
//! Delivering messages to actors (`wasmcloud:messaging/handler`) is an
//! export of the actor, not part of this contract.
//!
//! Registered in the host with one line: `&lattice_contract_messaging::MessagingContract`.

mod bindings;
mod remote;

use std::sync::Arc;

use lattice_contract::{Contract, ContractClient, ContractHost, RemoteInvoke};
use lattice_interfaces::messaging::MessagingClient;
use lattice_interfaces::{standard, Interface, Link};
use wasmtime::component::Linker;

/// The `wasmcloud:messaging` contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagingContract;

impl<T: ContractHost> Contract<T> for MessagingContract {
    fn package(&self) -> &'static str {
        "wasmcloud:messaging"
    }

    fn serves(&self) -> &'static [&'static str] {
        &[
            "wasmcloud:messaging/types@0.2.0",
            "wasmcloud:messaging/consumer@0.2.0",
        ]
    }

    fn linked_by(&self) -> Option<Interface<'static>> {
        Some(standard::MESSAGING_CONSUMER)
    }

    fn add_to_linker(&self, linker: &mut Linker<T>) -> wasmtime::Result<()> {
        bindings::add_to_linker(linker)
    }

    fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
        let client: Arc<dyn MessagingClient> = Arc::new(remote::RemoteMessaging { remote, link });
        Some(ContractClient::new(client))
    }
}

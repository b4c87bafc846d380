//! The contracts this host serves to actors: one registration table.
//!
//! Each entry is a [`Contract`]: the engine links every entry's imports
//! (`runtime::Runtime::new`), the router asks the entry whose links an
//! actor's call names for its client, from a provider in this process
//! ([`Contract::local`]) or elsewhere ([`Contract::remote`]), and imports
//! of a registered package are never routed to other actors.
//!
//! Adding a contract served by a provider is its crate (see
//! `contracts/keyvalue`) plus one line in [`CONTRACTS`]; `docs/architecture.md`
//! lists every entry, which the `registered_contracts_are_documented` test
//! checks. The entries defined here are the ones the host serves from its
//! own state (logging, config, the link names of `wasmcloud:bus`) and
//! outgoing HTTP, whose bindings are wasmtime-wasi-http's.

use std::sync::Arc;

use lattice_contract::{provider_client, Capability, ClientFuture, Contract, RemoteInvoke};
use lattice_interfaces::capability::ContractClient;
use lattice_interfaces::{standard, ErrorKind, Interface, InvocationError, Link};
use wasmtime::component::Linker;

use crate::runtime::{ActorCtx, OutgoingHttp};

/// Every contract this host serves, in the order the engine links them.
pub(crate) static CONTRACTS: &[&dyn Contract<ActorCtx>] = &[
    &lattice_contract_keyvalue::KeyValueContract,
    &lattice_contract_blobstore::BlobstoreContract,
    &lattice_contract_messaging::MessagingContract,
    &OutgoingHttpContract,
    &LOGGING,
    &CONFIG,
    &BUS,
    &SECRETS,
    &NN,
];

/// The contract whose links carry `interface`.
pub(crate) fn linked_by(interface: Interface<'_>) -> Option<&'static dyn Contract<ActorCtx>> {
    CONTRACTS
        .iter()
        .copied()
        .find(|contract| contract.linked_by() == Some(interface))
}

/// Whether `import` (`ns:pkg/iface@version`) belongs to a registered
/// contract's package: the host serves it, it is never routed to an actor.
pub(crate) fn serves_package_of(import: &str) -> bool {
    let package = import.split('/').next().unwrap_or(import);
    let package = package.split_once('@').map_or(package, |(name, _)| name);
    CONTRACTS
        .iter()
        .any(|contract| contract.package() == package)
}

/// `wasi:http/outgoing-handler`: requests leave through the `http-client`
/// provider the actor's link names, streaming from this process with the
/// link's timeouts when the provider is here, whole through the lattice
/// when it is elsewhere. Its client is an [`OutgoingHttp`].
struct OutgoingHttpContract;

impl Contract<ActorCtx> for OutgoingHttpContract {
    fn package(&self) -> &'static str {
        "wasi:http"
    }

    fn serves(&self) -> &'static [&'static str] {
        &["wasi:http/types@0.2.x", "wasi:http/outgoing-handler@0.2.x"]
    }

    fn linked_by(&self) -> Option<Interface<'static>> {
        Some(standard::HTTP_OUTGOING_HANDLER)
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorCtx>) -> wasmtime::Result<()> {
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)
    }

    fn local(&self, provider: Arc<dyn Capability>, link: Link) -> ClientFuture {
        let policy = provider_client(self.linked_by(), provider, link);
        Box::pin(async move {
            let policy = policy
                .await?
                .take::<lattice_provider_http_client::OutgoingPolicy>()
                .ok_or_else(|| {
                    InvocationError::new(
                        ErrorKind::Failed,
                        "the provider of wasi:http/outgoing-handler handed out no policy",
                    )
                })?;
            Ok(ContractClient::new(OutgoingHttp::Direct(
                lattice_provider_http_client::request_options(policy.timeouts),
                policy,
            )))
        })
    }

    fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
        Some(ContractClient::new(OutgoingHttp::Through(
            crate::remote::sender(remote, link),
        )))
    }
}

/// A contract the host serves from its own state, with no provider and
/// no link: its package, the interfaces it serves and how they are linked.
struct HostServed {
    package: &'static str,
    serves: &'static [&'static str],
    add_to_linker: fn(&mut Linker<ActorCtx>) -> wasmtime::Result<()>,
}

impl Contract<ActorCtx> for HostServed {
    fn package(&self) -> &'static str {
        self.package
    }

    fn serves(&self) -> &'static [&'static str] {
        self.serves
    }

    fn add_to_linker(&self, linker: &mut Linker<ActorCtx>) -> wasmtime::Result<()> {
        (self.add_to_linker)(linker)
    }
}

/// `wasi:logging`: the actor's log lines become the host's, within its
/// output budget.
static LOGGING: HostServed = HostServed {
    package: "wasi:logging",
    serves: &["wasi:logging/logging@0.1.0-draft"],
    add_to_linker: crate::runtime::add_logging_to_linker,
};

/// `wasi:config/store` and wasmCloud 1.x's `runtime`: the actor's merged
/// named config.
static CONFIG: HostServed = HostServed {
    package: "wasi:config",
    serves: &[
        "wasi:config/store@0.2.0-rc.1",
        "wasi:config/store@0.2.0-draft",
        "wasi:config/runtime@0.2.0-draft",
    ],
    add_to_linker: crate::runtime::add_config_to_linker,
};

/// `wasmcloud:bus/lattice`: which named link an instance's calls use.
static BUS: HostServed = HostServed {
    package: "wasmcloud:bus",
    serves: &["wasmcloud:bus/lattice@1.0.0", "wasmcloud:bus/lattice@2.0.0"],
    add_to_linker: crate::runtime::add_bus_to_linker,
};

/// `wasmcloud:secrets`: the actor's resolved secrets, as handles.
static SECRETS: HostServed = HostServed {
    package: "wasmcloud:secrets",
    serves: &[
        "wasmcloud:secrets/store@0.1.0-draft",
        "wasmcloud:secrets/reveal@0.1.0-draft",
    ],
    add_to_linker: crate::runtime::add_secrets_to_linker,
};

/// `wasi:nn`: inference on ONNX Runtime, where the host loaded it (an
/// actor importing it is refused at load on a host without it).
static NN: HostServed = HostServed {
    package: "wasi:nn",
    serves: &[
        "wasi:nn/graph@0.2.0-rc-2024-10-28",
        "wasi:nn/tensor@0.2.0-rc-2024-10-28",
        "wasi:nn/inference@0.2.0-rc-2024-10-28",
        "wasi:nn/errors@0.2.0-rc-2024-10-28",
    ],
    add_to_linker: crate::runtime::add_nn_to_linker,
};

#[cfg(test)]
mod tests {
    use super::*;

    /// The contract checklist of `docs/architecture.md` names every
    /// registered contract, and nothing that is not registered.
    #[test]
    fn registered_contracts_are_documented() {
        let doc = include_str!("../../docs/architecture.md");
        let start = doc
            .find("<!-- contracts:begin -->")
            .expect("docs/architecture.md has the contracts table");
        let end = doc
            .find("<!-- contracts:end -->")
            .expect("docs/architecture.md ends the contracts table");
        let table = &doc[start..end];
        let documented: Vec<&str> = table
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .collect();
        let registered: Vec<&str> = CONTRACTS.iter().map(|c| c.package()).collect();
        assert_eq!(
            documented, registered,
            "docs/architecture.md's contracts table must list CONTRACTS in order"
        );
    }

    /// No two contracts claim one package or one link interface.
    #[test]
    fn contracts_are_distinct() {
        for (i, a) in CONTRACTS.iter().enumerate() {
            for b in CONTRACTS.iter().skip(i + 1) {
                assert_ne!(a.package(), b.package());
                if a.linked_by().is_some() {
                    assert_ne!(a.linked_by(), b.linked_by());
                }
            }
        }
    }

    #[test]
    fn imports_of_registered_packages_are_served_by_the_host() {
        assert!(serves_package_of("wasi:keyvalue/store@0.2.0-draft"));
        assert!(serves_package_of("wasmcloud:messaging/consumer@0.2.0"));
        assert!(serves_package_of("wasmcloud:bus/lattice@1.0.0"));
        assert!(!serves_package_of("example:uppercase/convert@0.1.0"));
        assert!(!serves_package_of("wasmcloud:messagingx/consumer"));
        assert_eq!(
            linked_by(standard::KEYVALUE_STORE).map(|c| c.package()),
            Some("wasi:keyvalue")
        );
        assert!(linked_by(standard::MESSAGING_HANDLER).is_none());
    }
}

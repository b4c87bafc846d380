//! The plug a contract fits into the host.
//!
//! A contract is a set of WIT interfaces that actors import (`wasi:keyvalue`,
//! `wasmcloud:messaging`, …) and that a provider, reached over a link,
//! serves. One type implements [`Contract`] for it and the host registers it
//! once; the runtime links its imports and the router finds its clients
//! without knowing which contract it is.
//!
//! How a contract is served, in order:
//!
//! 1. **Linking.** The host calls [`Contract::add_to_linker`] once, when it
//!    builds its engine. The contract's bindings (usually made with
//!    `wasmtime::component::bindgen!`) work on a [`ContractView`]: the
//!    instance's resource table, the actor, the link names it chose and its
//!    [`ActorCalls`].
//! 2. **Resolving.** When the guest calls an import, the binding asks
//!    [`ContractView::client`] for the contract's client. The host resolves
//!    the actor's link for [`Contract::linked_by`] (no link, no client: the
//!    call is refused) and finds where its target runs.
//! 3. **Calling.** A provider in the host's process hands out its client
//!    ([`Contract::local`], by default the provider's
//!    [`Capability::client`]): no serialization. A provider elsewhere is
//!    reached through [`Contract::remote`]: a client that sends each
//!    operation as one invocation in the contract's wire types over
//!    [`RemoteInvoke`].
//!
//! A contract the host serves itself, with no provider and no link
//! (`wasi:logging`, `wasi:config`, `wasmcloud:bus`), implements only the
//! first step.
//!
//! ```text
//! pub struct KeyValue;
//!
//! impl<T: ContractHost> Contract<T> for KeyValue {
//!     fn package(&self) -> &'static str { "wasi:keyvalue" }
//!     fn serves(&self) -> &'static [&'static str] { &["wasi:keyvalue/store@0.2.0-draft", /* … */] }
//!     fn linked_by(&self) -> Option<Interface<'static>> { Some(standard::KEYVALUE_STORE) }
//!     fn add_to_linker(&self, linker: &mut Linker<T>) -> wasmtime::Result<()> { /* bindgen's add_to_linker */ }
//!     fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
//!         Some(ContractClient::new(Arc::new(RemoteKeyValue { remote, link }) as Arc<dyn KeyValueStore>))
//!     }
//! }
//! ```

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};

pub use lattice_interfaces::capability::{Capability, ContractClient};
use lattice_interfaces::link::DEFAULT_LINK_NAME;
use lattice_interfaces::{ComponentId, ErrorKind, Interface, InvocationError, Link};
use wasmtime::component::{Linker, ResourceTable, Val};

pub mod errors;

/// The future of a routed call to another actor.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<Val>, InvocationError>> + Send>>;

/// The future of a contract's client.
pub type ClientFuture =
    Pin<Box<dyn Future<Output = Result<ContractClient, InvocationError>> + Send>>;

/// The future of [`RemoteInvoke::call_raw`].
pub type RawFuture = Pin<Box<dyn Future<Output = Result<Vec<u8>, InvocationError>> + Send>>;

/// Routes what actors call to the targets of their links. The host's
/// router implements it; the runtime and every contract depend on this
/// trait only.
pub trait ActorCalls: Send + Sync + 'static {
    /// Calls `function` of `interface` (`ns:pkg/iface`, no version) on the
    /// target of `source`'s link named `link_name` for it: another actor.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    fn call(
        &self,
        source: ComponentId,
        link_name: String,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture;

    /// The client of the contract whose links carry `interface`, behind
    /// `source`'s link named `link_name`: from a provider in this process,
    /// or one that reaches a provider elsewhere.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons making the client.
    fn client(
        &self,
        source: &ComponentId,
        link_name: &str,
        interface: Interface<'static>,
    ) -> ClientFuture;
}

/// Sends one operation of a contract to a provider that is not in this
/// process (a provider process, or a provider of another host).
pub trait RemoteInvoke: Send + Sync + 'static {
    /// Sends `payload` as a call of `function` of `interface` to `link`'s
    /// target and returns the encoded result.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    fn call_raw(
        &self,
        link: Link,
        interface: String,
        function: String,
        payload: Vec<u8>,
    ) -> RawFuture;
}

/// One contract, as the host serves it to actors in stores of type `T`.
pub trait Contract<T>: Send + Sync + 'static {
    /// Its WIT package as actors import it, without a version
    /// (`wasi:keyvalue`): the name the docs and messages use.
    fn package(&self) -> &'static str;

    /// Every interface it serves, with its version
    /// (`wasi:keyvalue/store@0.2.0-draft`): what
    /// [`Self::add_to_linker`] defines.
    fn serves(&self) -> &'static [&'static str];

    /// The interface the links to its providers carry; `None` for a
    /// contract the host serves itself, with no link.
    fn linked_by(&self) -> Option<Interface<'static>> {
        None
    }

    /// Defines its imports in `linker`.
    ///
    /// # Errors
    ///
    /// When an import is defined twice (another contract serves it).
    fn add_to_linker(&self, linker: &mut Linker<T>) -> wasmtime::Result<()>;

    /// The client of `provider`, which runs in this process, behind
    /// `link`. By default what the provider's [`Capability::client`]
    /// hands out for [`Self::linked_by`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons making the client.
    fn local(&self, provider: Arc<dyn Capability>, link: Link) -> ClientFuture {
        provider_client(self.linked_by(), provider, link)
    }

    /// A client that reaches `link`'s target elsewhere through `remote`;
    /// `None` when the contract cannot cross processes.
    fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
        let _ = (remote, link);
        None
    }
}

/// What `provider` hands out for `interface` behind `link`: the default
/// of [`Contract::local`], for contracts that override it to adapt it.
pub fn provider_client(
    interface: Option<Interface<'static>>,
    provider: Arc<dyn Capability>,
    link: Link,
) -> ClientFuture {
    Box::pin(async move {
        let Some(interface) = interface else {
            return Err(errors::cannot_serve(
                &link.target,
                "a provider",
                link.contract(),
            ));
        };
        let Some(made) = provider.client(interface, &link) else {
            return Err(errors::cannot_serve(&link.target, "a provider", interface));
        };
        made.await.map_err(|e| errors::provider_failed(&link, e))
    })
}

/// A store whose contracts work on a [`ContractView`] of it.
pub trait ContractHost: Send + 'static {
    /// The view of this store the contracts' bindings work on.
    fn contract_view(&mut self) -> ContractView<'_>;
}

/// What a contract's bindings see of one instance's store.
pub struct ContractView<'a> {
    /// The instance's resources (buckets, streams, …).
    pub table: &'a mut ResourceTable,
    /// Its memory allowance: every byte a binding keeps on the host for
    /// the guest (a name, an open handle) is held against it.
    pub allowance: &'a mut Allowance,
    /// The actor the instance runs.
    pub actor: &'a ComponentId,
    /// Where its calls go; `None` in a runtime with no router (tests).
    pub calls: Option<&'a Arc<dyn ActorCalls>>,
    /// The link names the instance chose.
    pub link_names: &'a LinkNames,
    /// The reply subject of the message the instance was handed to handle,
    /// if any: the only other client's reply (`_INBOX.…`) it may answer.
    pub handed_reply: Option<&'a str>,
}

impl ContractView<'_> {
    /// The client, of type `C`, of the contract whose links carry
    /// `interface`, behind the link the instance uses for its package.
    /// The future borrows nothing of the store.
    ///
    /// # Errors
    ///
    /// No link (`unauthorized`), no provider serving it, the provider
    /// failing, or a provider that handed out another type than `C`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons making the client.
    pub fn client<C: Any>(
        &self,
        interface: Interface<'static>,
    ) -> impl Future<Output = Result<C, InvocationError>> + Send + 'static {
        client_of(self.calls, self.actor, self.link_names, interface)
    }
}

/// The client, of type `C`, of the contract whose links carry `interface`,
/// behind `actor`'s link for its package (named in `link_names`), through
/// `calls`: what [`ContractView::client`] does, for bindings that hold
/// these parts without a view (wasmtime-wasi-http's hooks). The future
/// borrows none of them.
///
/// # Errors
///
/// As [`ContractView::client`].
pub fn client_of<C: Any>(
    calls: Option<&Arc<dyn ActorCalls>>,
    actor: &ComponentId,
    link_names: &LinkNames,
    interface: Interface<'static>,
) -> impl Future<Output = Result<C, InvocationError>> + Send + 'static {
    let link_name = link_names.of(interface.namespace, interface.package);
    let made = calls.map(|calls| calls.client(actor, &link_name, interface));
    async move {
        let Some(made) = made else {
            return Err(InvocationError::new(
                ErrorKind::NotFound,
                format!("this host serves no provider of {interface}"),
            ));
        };
        made.await?.take::<C>().ok_or_else(|| {
            InvocationError::new(
                ErrorKind::Failed,
                format!("the provider of {interface} handed out a client of another contract"),
            )
        })
    }
}

/// One instance's memory allowance: its limit, what its linear memories
/// hold, and what it has made the host hold for it (names it gave, handles
/// it keeps open). Both count against the one limit, so a guest cannot
/// grow its host past its limit through host resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    limit: usize,
    memory: usize,
    held: usize,
}

/// Why the host refused to hold more for a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverAllowance {
    /// What it asked the host to hold, in bytes.
    pub asked: usize,
    /// What its memories and the host held for it already.
    pub in_use: usize,
    /// Its limit.
    pub limit: usize,
}

impl std::fmt::Display for OverAllowance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the host cannot hold {} more bytes for this actor: with the {} bytes it holds in memory and on the host, that is over its memory limit of {} bytes",
            self.asked, self.in_use, self.limit
        )
    }
}

impl std::error::Error for OverAllowance {}

impl Allowance {
    /// An allowance of `limit` bytes, nothing used.
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            memory: 0,
            held: 0,
        }
    }

    /// Its limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// What the host holds for the guest, in bytes.
    pub fn held(&self) -> usize {
        self.held
    }

    /// One linear memory grows from `current` to `desired` bytes. Allowed
    /// when everything stays within the limit; otherwise the total it
    /// would have reached.
    ///
    /// # Errors
    ///
    /// The total the memories and the host's holdings would reach.
    pub fn grow_memory(&mut self, current: usize, desired: usize) -> Result<(), usize> {
        let memory = self.memory.saturating_sub(current).saturating_add(desired);
        let total = memory.saturating_add(self.held);
        if total > self.limit {
            return Err(total);
        }
        self.memory = memory;
        Ok(())
    }

    /// Holds `bytes` on the host for the guest.
    ///
    /// # Errors
    ///
    /// When that would take the instance past its limit; nothing is held.
    pub fn hold(&mut self, bytes: usize) -> Result<(), OverAllowance> {
        let in_use = self.memory.saturating_add(self.held);
        if in_use.saturating_add(bytes) > self.limit {
            return Err(OverAllowance {
                asked: bytes,
                in_use,
                limit: self.limit,
            });
        }
        self.held += bytes;
        Ok(())
    }

    /// Lets go of `bytes` held by [`Self::hold`].
    pub fn release(&mut self, bytes: usize) {
        self.held = self.held.saturating_sub(bytes);
    }
}

/// The link names an instance chose per package (`ns:pkg`) with
/// `wasmcloud:bus/lattice.set-link-name`; `default` for the rest. Shared
/// by the store's bindings, so a choice holds for every call that follows.
#[derive(Debug, Clone, Default)]
pub struct LinkNames(Arc<RwLock<HashMap<String, String>>>);

impl LinkNames {
    /// The link name calls into `namespace:package` use.
    pub fn of(&self, namespace: &str, package: &str) -> String {
        let names = self.0.read().unwrap_or_else(PoisonError::into_inner);
        // Most instances never choose: no key is built for them.
        if names.is_empty() {
            return DEFAULT_LINK_NAME.to_string();
        }
        names
            .get(&format!("{namespace}:{package}"))
            .cloned()
            .unwrap_or_else(|| DEFAULT_LINK_NAME.to_string())
    }

    /// The link name calls into `interface` (`ns:pkg/iface`) use.
    pub fn of_interface(&self, interface: &str) -> String {
        let package = interface.split('/').next().unwrap_or(interface);
        let (namespace, package) = package.split_once(':').unwrap_or((package, ""));
        self.of(namespace, package)
    }

    /// Calls into `namespace:package` use `name` from now on.
    pub fn set(&self, namespace: &str, package: &str, name: &str) {
        let mut names = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let key = format!("{namespace}:{package}");
        if name == DEFAULT_LINK_NAME {
            names.remove(&key);
        } else {
            names.insert(key, name.to_string());
        }
    }
}

/// `ns:pkg/iface@1.0` without its version.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_holdings_share_one_limit() {
        let mut allowance = Allowance::new(100);
        assert_eq!(allowance.grow_memory(0, 60), Ok(()));
        assert!(allowance.hold(30).is_ok());
        // Memory may not grow into what the host holds...
        assert_eq!(allowance.grow_memory(60, 80), Err(110));
        // ...nor the host hold what memory uses.
        let refused = allowance.hold(11).unwrap_err();
        assert_eq!(
            (refused.asked, refused.in_use, refused.limit),
            (11, 90, 100)
        );
        assert!(refused.to_string().contains("memory limit of 100 bytes"));
        allowance.release(30);
        assert_eq!(allowance.held(), 0);
        assert_eq!(allowance.grow_memory(60, 100), Ok(()));
        // Releasing more than held never wraps.
        allowance.release(5);
        assert_eq!(allowance.held(), 0);
    }
}

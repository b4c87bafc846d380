//! The router: where every call goes, decided in one place.
//!
//! Every call path (HTTP from a server provider, actor to actor, actor to
//! provider, provider to actor, messages to a handler, calls arriving from
//! other hosts) asks the [`Router`]:
//!
//! 1. **Which link?** [`Router::resolve`] finds the caller's link for the
//!    interface and link name, or [`Router::route`] checks that a link the
//!    caller presents is held here. No link, no call: `unauthorized`.
//! 2. **Where is its target?** On this host (an actor, or a provider in this
//!    process): [`Target::Local`], called in-process with no serialization
//!    (unless the actor has no free instance: then over the lattice, to
//!    whichever of its replicas takes it).
//!    Anywhere else: [`Target::Remote`], one NATS request that every host
//!    running the target may answer.
//!
//! Each decision is counted per target ([`RoutingStats`]); every refusal is
//! built by [`errors`], so one kind of failure reads the same on every path.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use lattice_interfaces::capability::Capability;
use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::{ComponentId, Interface, InvocationError, Link};
use wasmtime::component::Val;

use crate::links::{LinkTable, DEFAULT_NAME};
use crate::runtime::{Actor, CallFuture};
use serde::{Deserialize, Serialize};

/// Something that runs on this host and can be called in-process.
#[derive(Clone)]
pub(crate) enum Local {
    /// An actor.
    Actor(Arc<Actor>),
    /// A provider in this host's process.
    Provider(Arc<dyn Capability>),
}

/// Where a call goes.
pub(crate) enum Target {
    /// In this process.
    Local(Local),
    /// Over the lattice.
    Remote(Arc<dyn RemoteCalls>),
}

/// The router's state: the links this host knows, its way into the lattice,
/// and what it counted.
#[derive(Default)]
pub(crate) struct Router {
    links: RwLock<LinkTable>,
    remote: RwLock<Option<Arc<dyn RemoteCalls>>>,
    stats: RoutingStats,
}

impl Router {
    /// The link table, to read.
    pub(crate) fn links(&self) -> RwLockReadGuard<'_, LinkTable> {
        self.links.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The link table, to change.
    pub(crate) fn links_mut(&self) -> RwLockWriteGuard<'_, LinkTable> {
        self.links.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lattice, when this host is in one.
    pub(crate) fn remote(&self) -> Option<Arc<dyn RemoteCalls>> {
        self.remote
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends calls for targets elsewhere through `remote`, or refuses them.
    pub(crate) fn set_remote(&self, remote: Option<Arc<dyn RemoteCalls>>) {
        *self.remote.write().unwrap_or_else(PoisonError::into_inner) = remote;
    }

    /// What was counted.
    pub(crate) fn stats(&self) -> &RoutingStats {
        &self.stats
    }

    /// The link from `source` for `interface` named `name`, and where its
    /// target is; `local` finds what runs on this host.
    pub(crate) fn resolve(
        &self,
        source: &ComponentId,
        interface: Interface<'_>,
        name: &str,
        local: impl FnOnce(&ComponentId) -> Option<Local>,
    ) -> Result<(Link, Target), InvocationError> {
        let link = self
            .links()
            .resolve(source, interface, name)
            .cloned()
            .ok_or_else(|| errors::no_link(source.as_str(), interface, name))?;
        let target = self.target(&link.target, local)?;
        Ok((link, target))
    }

    /// Where `link`'s target is, when this host holds `link` as it is
    /// (deny by default: a link this host does not hold carries nothing).
    pub(crate) fn route(
        &self,
        link: &Link,
        local: impl FnOnce(&ComponentId) -> Option<Local>,
    ) -> Result<Target, InvocationError> {
        let held = self
            .links()
            .get(&link.key())
            .is_some_and(|held| held.target == link.target);
        if !held {
            return Err(errors::not_held(link));
        }
        self.target(&link.target, local)
    }

    /// The link that authorises a call from `source` over `interface` named
    /// `name` to `target`, arriving from the lattice.
    pub(crate) fn authorize(
        &self,
        source: &str,
        interface: &str,
        name: &str,
        target: &ComponentId,
    ) -> Result<Link, InvocationError> {
        let parsed = Interface::parse(interface);
        let source_id = ComponentId::new(source).ok();
        parsed
            .zip(source_id)
            .and_then(|(parsed, source_id)| {
                self.links()
                    .resolve(&source_id, parsed, name)
                    .filter(|link| link.target == *target)
                    .cloned()
            })
            .ok_or_else(|| errors::not_linked_to(source, interface, target))
    }

    fn target(
        &self,
        target: &ComponentId,
        local: impl FnOnce(&ComponentId) -> Option<Local>,
    ) -> Result<Target, InvocationError> {
        // Local first: what runs here is called in-process, unless it is
        // an actor with every instance busy and the lattice may have other
        // replicas of it (what the autoscaler adds when a load saturates
        // one): then the call goes to whichever host takes it first.
        if let Some(found) = local(target) {
            let saturated = matches!(&found, Local::Actor(actor) if actor.saturated());
            // The lattice is looked up only then: not on every local call.
            if let Some(remote) = saturated.then(|| self.remote()).flatten() {
                self.stats.count(target, Route::Remote);
                return Ok(Target::Remote(remote));
            }
            self.stats.count(target, Route::Local);
            return Ok(Target::Local(found));
        }
        let remote = self
            .remote()
            .ok_or_else(|| errors::outside_lattice(target))?;
        self.stats.count(target, Route::Remote);
        Ok(Target::Remote(remote))
    }
}

/// Every refusal a call path can meet, worded once.
pub(crate) mod errors {
    use lattice_interfaces::{shown, ComponentId, ErrorKind, Interface, InvocationError, Link};

    /// The host is shutting down.
    pub(crate) fn stopping() -> InvocationError {
        InvocationError::new(ErrorKind::NotFound, "the host is stopping")
    }

    /// `source` has no link for `interface` under `name`.
    pub(crate) fn no_link(source: &str, interface: Interface<'_>, name: &str) -> InvocationError {
        let named = if name == super::DEFAULT_NAME {
            String::new()
        } else {
            format!(" named {}", shown(name))
        };
        InvocationError::new(
            ErrorKind::Unauthorized,
            format!(
                "no link from {} for {interface}{named}: put one with lattice-ctl link put",
                shown(source)
            ),
        )
    }

    /// A link the caller presents is not held here.
    pub(crate) fn not_held(link: &Link) -> InvocationError {
        InvocationError::new(
            ErrorKind::Unauthorized,
            format!("no link {link} on this host"),
        )
    }

    /// A call from the lattice names no link to `target`.
    pub(crate) fn not_linked_to(
        source: &str,
        interface: &str,
        target: &ComponentId,
    ) -> InvocationError {
        InvocationError::new(
            ErrorKind::Unauthorized,
            format!(
                "no link from {} for {} to {target}",
                shown(source),
                shown(interface)
            ),
        )
    }

    /// `target` is not here and there is no lattice to reach it through.
    pub(crate) fn outside_lattice(target: &ComponentId) -> InvocationError {
        InvocationError::new(
            ErrorKind::NotFound,
            format!("\"{target}\" does not run on this host and the host is not in a lattice"),
        )
    }

    pub(crate) use lattice_contract::errors::cannot_serve;
}

/// Sends calls to targets on other hosts.
pub trait RemoteCalls: lattice_contract::RemoteInvoke {
    /// Calls `link`'s target, on whichever host runs it, with `request`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the remote host finishes it.
    fn call_http(&self, link: Link, request: http::Request<HttpBody>) -> HandleFuture;

    /// Calls `function` of `interface` on `link`'s target on another host.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the remote host finishes it.
    fn call_function(
        &self,
        link: Link,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture;

    /// Announces event `kind` with `data` on the lattice, in the background
    /// and best effort.
    fn publish_event(&self, event: lattice_interfaces::protocol::events::LatticeEvent);
}

/// Which way a call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// In-process.
    Local,
    /// Over NATS.
    Remote,
}

#[derive(Default)]
struct Counts {
    local: AtomicU64,
    remote: AtomicU64,
}

/// Calls routed per target, locally and remotely.
#[derive(Default)]
pub struct RoutingStats {
    targets: RwLock<BTreeMap<ComponentId, Arc<Counts>>>,
}

/// The routing counts of one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCounts {
    /// Calls made in-process.
    pub local: u64,
    /// Calls sent over NATS.
    pub remote: u64,
}

impl RoutingStats {
    /// Counts one call to `target` going `route`.
    pub fn count(&self, target: &ComponentId, route: Route) {
        let counts = self
            .targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .cloned();
        let counts = counts.unwrap_or_else(|| {
            self.targets
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(target.clone())
                .or_default()
                .clone()
        });
        match route {
            Route::Local => counts.local.fetch_add(1, Ordering::Relaxed),
            Route::Remote => counts.remote.fetch_add(1, Ordering::Relaxed),
        };
    }

    /// The counts of `target`.
    pub fn of(&self, target: &ComponentId) -> RouteCounts {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(target)
            .map(|c| RouteCounts {
                local: c.local.load(Ordering::Relaxed),
                remote: c.remote.load(Ordering::Relaxed),
            })
            .unwrap_or_default()
    }

    /// The counts of every target called so far.
    pub fn all(&self) -> BTreeMap<ComponentId, RouteCounts> {
        self.targets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, c)| {
                (
                    id.clone(),
                    RouteCounts {
                        local: c.local.load(Ordering::Relaxed),
                        remote: c.remote.load(Ordering::Relaxed),
                    },
                )
            })
            .collect()
    }
}

//! Routing: where a call goes. A target on this host is called in-process,
//! with no serialization and no NATS; any other goes to the lattice, which
//! sends one NATS request that every host running the target may answer.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::{ComponentId, Link};
use wasmtime::component::Val;

use crate::runtime::CallFuture;
use serde::{Deserialize, Serialize};

/// Sends calls to targets on other hosts.
pub trait RemoteCalls: Send + Sync + 'static {
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

    /// Sends `payload` as a call of `function` of `interface` to `link`'s
    /// target (a provider process, here or on another host) and returns the
    /// encoded result.
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

    /// Announces event `kind` with `data` on the lattice, in the background
    /// and best effort.
    fn publish_event(&self, kind: &'static str, data: serde_json::Value);
}

/// The future of [`RemoteCalls::call_raw`].
pub type RawFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<Vec<u8>, lattice_interfaces::InvocationError>>
            + Send,
    >,
>;

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

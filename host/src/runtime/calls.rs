//! What an actor's calls go through: the [`ActorCalls`] trait the host's
//! router implements, for calls to other actors (custom WIT interfaces),
//! key-value, messaging and outgoing HTTP. The runtime depends on this
//! trait only; the host plugs its router in with `Runtime::set_calls`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use lattice_interfaces::http_client::{OutgoingReply, OutgoingRequest};
use lattice_interfaces::{ComponentId, InvocationError};
use wasmtime::component::Val;

/// The future of a routed call.
pub type CallFuture = Pin<Box<dyn Future<Output = Result<Vec<Val>, InvocationError>> + Send>>;

/// Routes calls from actors to the targets of their links.
pub trait ActorCalls: Send + Sync + 'static {
    /// Calls `function` of `interface` (`ns:pkg/iface`, no version) on the
    /// target of `source`'s link named `link_name` for it.
    fn call(
        &self,
        source: ComponentId,
        link_name: String,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture;

    /// The key-value store behind `source`'s link `link_name` for
    /// `wasi:keyvalue`.
    fn keyvalue(&self, source: &ComponentId, link_name: &str) -> KeyValueFuture;

    /// The messaging client behind `source`'s link `link_name` for
    /// `wasmcloud:messaging/consumer`.
    fn messaging(&self, source: &ComponentId, link_name: &str) -> MessagingClientFuture;

    /// How `source`'s requests leave over its link `link_name` for
    /// `wasi:http/outgoing-handler`, or why it may not send any.
    fn outgoing_http(
        &self,
        source: &ComponentId,
        link_name: &str,
    ) -> Result<OutgoingHttp, InvocationError>;
}

/// The link names an instance chose per package (`ns:pkg`) with
/// `wasmcloud:bus/lattice.set-link-name`; `default` for the rest. Shared
/// by the store's bindings, so a choice holds for every call that follows.
#[derive(Debug, Clone, Default)]
pub struct LinkNames(Arc<std::sync::RwLock<std::collections::HashMap<String, String>>>);

impl LinkNames {
    /// The link name calls into `namespace:package` use.
    pub fn of(&self, namespace: &str, package: &str) -> String {
        let names = self
            .0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Most instances never choose: no key is built for them.
        if names.is_empty() {
            return lattice_interfaces::link::DEFAULT_LINK_NAME.to_string();
        }
        names
            .get(&format!("{namespace}:{package}"))
            .cloned()
            .unwrap_or_else(|| lattice_interfaces::link::DEFAULT_LINK_NAME.to_string())
    }

    /// The link name calls into `interface` (`ns:pkg/iface`) use.
    pub fn of_interface(&self, interface: &str) -> String {
        let package = interface.split('/').next().unwrap_or(interface);
        let (namespace, package) = package.split_once(':').unwrap_or((package, ""));
        self.of(namespace, package)
    }

    /// Calls into `namespace:package` use `name` from now on.
    pub fn set(&self, namespace: &str, package: &str, name: &str) {
        let mut names = self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = format!("{namespace}:{package}");
        if name == lattice_interfaces::link::DEFAULT_LINK_NAME {
            names.remove(&key);
        } else {
            names.insert(key, name.to_string());
        }
    }
}

/// The future of [`ActorCalls::messaging`].
pub type MessagingClientFuture = Pin<
    Box<
        dyn Future<
                Output = Result<
                    Arc<dyn lattice_interfaces::messaging::MessagingClient>,
                    InvocationError,
                >,
            > + Send,
    >,
>;

/// The future of [`ActorCalls::keyvalue`].
pub type KeyValueFuture = Pin<
    Box<
        dyn Future<
                Output = Result<Arc<dyn lattice_interfaces::keyvalue::KeyValue>, InvocationError>,
            > + Send,
    >,
>;

/// `ns:pkg/iface@1.0` without its version.
pub fn unversioned(name: &str) -> &str {
    name.split_once('@').map_or(name, |(name, _)| name)
}

/// Sends one request whole through a provider elsewhere on the lattice.
pub type OutgoingSender = Box<
    dyn FnOnce(
            OutgoingRequest,
        )
            -> Pin<Box<dyn Future<Output = Result<OutgoingReply, InvocationError>> + Send>>
        + Send,
>;

/// How an actor's outgoing request leaves.
pub enum OutgoingHttp {
    /// From this process, streaming, with the link's timeouts.
    Direct(wasmtime_wasi_http::RequestOptions),
    /// Whole, through the provider the link names, elsewhere.
    Through(OutgoingSender),
}

/// Shares the router between the runtime and each store.
pub(crate) type SharedCalls = Arc<std::sync::OnceLock<Arc<dyn ActorCalls>>>;

//! The one trait every capability provider implements, and what a provider
//! may ask of the lattice in return.
//!
//! A provider crate implements [`Capability`] once and runs both ways:
//!
//! 1. **In a host's process**: the host builds it from its registration
//!    table (`KIND` → constructor) with a [`ProviderContext`] whose
//!    [`ProviderCalls`] route to actors in-process or over the lattice. For
//!    actors on the same host the host asks it for a contract's in-process
//!    client ([`Capability::client`]: the key-value store, the messaging
//!    client, the outgoing-HTTP timeouts behind a link), and calls that:
//!    no serialization. Calls from other hosts arrive as wire bytes at
//!    [`Capability::invoke`].
//! 2. **As its own process**: the provider SDK's `main_with(Provider::new)`
//!    builds it with a context whose calls go over NATS, and feeds
//!    [`Capability::invoke`] every verified invocation.
//!
//! Either way the host (or the SDK) hands it every link that names it
//! ([`Capability::put_link`], [`Capability::delete_link`]) and asks it for
//! its [`Capability::health`]; [`Capability::shutdown`] drains it.

use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::http::{Endpoint, HandleFuture, HttpBody};
use crate::messaging::{Message, MessagingFuture};
use crate::protocol::provider::Health;
use crate::{ComponentId, ErrorKind, Interface, InvocationError, Link};

/// The future of a provider operation.
pub type CapabilityFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider may ask of the lattice, wherever it runs: call the
/// actors its links name, and report links it cannot serve.
pub trait ProviderCalls: Send + Sync + 'static {
    /// Hands `request`, which arrived over `link` (from this provider), to
    /// the link's target and resolves to its response.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    fn handle_http(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture;

    /// Hands `message`, which arrived on one of `link`'s subscriptions, to
    /// the handler the link names.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the delivery.
    fn deliver_message(&self, link: &Link, message: Message) -> MessagingFuture<'static, ()>;

    /// Tells the lattice that this provider cannot serve `link` now (its
    /// backend is unreachable): a `provider_error` event, best effort.
    fn report_error(&self, link: &Link, error: &str);
}

/// What a provider is built from.
#[derive(Clone)]
pub struct ProviderContext {
    /// Its id in the lattice.
    pub id: ComponentId,
    /// Provider-wide configuration.
    pub config: BTreeMap<String, String>,
    /// The lattice, as this provider reaches it.
    pub calls: Arc<dyn ProviderCalls>,
}

impl std::fmt::Debug for ProviderContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderContext")
            .field("id", &self.id)
            .field("config", &self.config.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A contract's in-process client, as a provider in the host's process
/// hands it out for one link: what the contract says its client is (for
/// `wasi:keyvalue/store` an `Arc<dyn KeyValue>`, for
/// `wasmcloud:messaging/consumer` an `Arc<dyn MessagingClient>`, for
/// `wasi:http/outgoing-handler` the link's `Timeouts`). The contract that
/// asked takes it back out with [`ContractClient::take`].
pub struct ContractClient(Box<dyn Any + Send>);

impl ContractClient {
    /// Wraps `client`.
    pub fn new<T: Any + Send>(client: T) -> Self {
        Self(Box::new(client))
    }

    /// The client as a `T`, or `None` when it is something else (a
    /// provider that hands out another type than its contract says).
    pub fn take<T: Any>(self) -> Option<T> {
        self.0.downcast::<T>().ok().map(|client| *client)
    }
}

impl std::fmt::Debug for ContractClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContractClient").finish_non_exhaustive()
    }
}

/// Why a provider could not hand out a client (its backend unreachable, a
/// setting of the link it cannot use): one line, shown with the
/// provider's name.
pub type ClientError = Box<dyn std::error::Error + Send + Sync>;

/// The future of [`Capability::client`].
pub type ContractClientFuture<'a> = CapabilityFuture<'a, Result<ContractClient, ClientError>>;

/// A capability provider: HTTP server, key-value, messaging, HTTP client.
pub trait Capability: Send + Sync + 'static {
    /// Serves `link`, which names this provider as its source or target.
    /// Called again when the link changes.
    ///
    /// # Errors
    ///
    /// One line when the provider cannot serve it (an address in use, a
    /// missing setting); the link is then not stored.
    fn put_link(&self, link: &Link) -> Result<(), String>;

    /// Stops serving `link`.
    fn delete_link(&self, link: &Link);

    /// Whether actors may call this provider over `interface` (it is the
    /// target of such links). Only these calls reach [`Self::invoke`].
    fn serves(&self, interface: Interface<'_>) -> bool {
        let _ = interface;
        false
    }

    /// Serves `function` called over `link` with `payload` in the
    /// contract's wire types; answers in them.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    fn invoke(
        &self,
        link: Link,
        function: String,
        payload: Vec<u8>,
    ) -> CapabilityFuture<'_, Result<Vec<u8>, InvocationError>> {
        let _ = payload;
        Box::pin(async move {
            Err(InvocationError::new(
                ErrorKind::NotFound,
                format!(
                    "provider \"{}\" serves no {function} calls over {}",
                    link.target,
                    link.contract()
                ),
            ))
        })
    }

    /// Whether it can serve now, and if not why.
    fn health(&self) -> Health {
        Health {
            healthy: true,
            message: String::new(),
        }
    }

    /// Stops accepting work and lets what is in flight finish for up to
    /// `grace`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves work draining in the background.
    fn shutdown(&self, grace: Duration) -> CapabilityFuture<'_, ()> {
        let _ = grace;
        Box::pin(async {})
    }

    /// In-process fast path: the client of the contract `interface`
    /// (the interface its links carry, e.g. `wasi:keyvalue/store`) behind
    /// `link`, for actors on the same host. `None` when it serves no such
    /// contract in-process; the host then refuses the call.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons making the client.
    fn client(&self, interface: Interface<'_>, link: &Link) -> Option<ContractClientFuture<'_>> {
        let _ = (interface, link);
        None
    }

    /// Where it listens, for people (an HTTP server's links).
    fn endpoints(&self) -> Vec<Endpoint> {
        Vec::new()
    }
}

//! How what runs on this host calls anything: actors calling other actors
//! and providers ([`HostActorCalls`], the runtime's
//! [`ActorCalls`](crate::runtime::ActorCalls)), and in-process providers
//! calling actors ([`HostProviderCalls`], their
//! [`ProviderCalls`](lattice_interfaces::capability::ProviderCalls)). Both
//! ask the [router](crate::router) where each call goes.

use std::sync::{Arc, Weak};

use lattice_interfaces::capability::{Capability, ProviderCalls};
use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::messaging::wire::{handler_arguments, handler_outcome, HANDLE_MESSAGE};
use lattice_interfaces::messaging::{Message, MessagingError, MessagingFuture};
use lattice_interfaces::protocol::events::{LatticeEvent, ProviderLinkError};
use lattice_interfaces::protocol::rpc::WireVal;
use lattice_interfaces::{standard, ComponentId, ErrorKind, Interface, InvocationError, Link};
use tracing::Instrument as _;
use wasmtime::component::Val;

use super::HostInner;
use crate::router::{errors, Local, Target};
use crate::runtime::{ActorCalls, CallFuture};

/// Routes calls from actors over their links.
pub(super) struct HostActorCalls {
    host: Weak<HostInner>,
}

/// Lets a provider in this host's process call actors over its links.
pub(super) struct HostProviderCalls {
    host: Weak<HostInner>,
    provider: ComponentId,
}

impl HostActorCalls {
    pub(super) fn new(host: &Arc<HostInner>) -> Self {
        Self {
            host: Arc::downgrade(host),
        }
    }

    /// The link from `source` for `interface` and the provider it names.
    fn provider(
        &self,
        source: &ComponentId,
        interface: Interface<'static>,
        link_name: &str,
    ) -> Result<(Link, ProviderTarget), InvocationError> {
        let host = self.host.upgrade().ok_or_else(errors::stopping)?;
        let (link, target) = host
            .router
            .resolve(source, interface, link_name, |id| host.local(id))?;
        let target = match target {
            Target::Local(Local::Provider(capability)) => ProviderTarget::Local(capability),
            Target::Local(Local::Actor(_)) => {
                return Err(errors::cannot_serve(&link.target, "an actor", interface))
            }
            Target::Remote(remote) => ProviderTarget::Remote(remote),
        };
        Ok((link, target))
    }
}

/// Where a call to a provider goes.
enum ProviderTarget {
    Local(Arc<dyn Capability>),
    Remote(Arc<dyn crate::router::RemoteCalls>),
}

impl ActorCalls for HostActorCalls {
    fn client(
        &self,
        source: &ComponentId,
        link_name: &str,
        interface: Interface<'static>,
    ) -> lattice_contract::ClientFuture {
        let Some(contract) = crate::contracts::linked_by(interface) else {
            let refused = InvocationError::new(
                ErrorKind::NotFound,
                format!("this host serves no contract linked by {interface}"),
            );
            return Box::pin(async move { Err(refused) });
        };
        match self.provider(source, interface, link_name) {
            Ok((link, ProviderTarget::Local(capability))) => contract.local(capability, link),
            Ok((link, ProviderTarget::Remote(remote))) => {
                let client = contract.remote(remote, link.clone()).ok_or_else(|| {
                    errors::cannot_serve(&link.target, "a provider on another host", interface)
                });
                Box::pin(async move { client })
            }
            Err(refused) => Box::pin(async move { Err(refused) }),
        }
    }

    fn call(
        &self,
        source: ComponentId,
        link_name: String,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture {
        let routed = self
            .host
            .upgrade()
            .ok_or_else(errors::stopping)
            .and_then(|host| {
                let parsed =
                    Interface::parse(&interface).unwrap_or(Interface::new(&interface, "", ""));
                host.router
                    .resolve(&source, parsed, &link_name, |id| host.local(id))
            });
        Box::pin(async move {
            match routed? {
                (_, Target::Local(Local::Actor(actor))) => {
                    actor.call_function(&interface, &function, params).await
                }
                (link, Target::Local(Local::Provider(_))) => Err(errors::cannot_serve(
                    &link.target,
                    "a provider",
                    Interface::parse(&interface).unwrap_or(Interface::new(&interface, "", "")),
                )),
                (link, Target::Remote(remote)) => {
                    remote
                        .call_function(link, interface, function, params)
                        .await
                }
            }
        })
    }
}

impl HostProviderCalls {
    pub(super) fn new(host: &Arc<HostInner>, provider: ComponentId) -> Self {
        Self {
            host: Arc::downgrade(host),
            provider,
        }
    }

    /// Where `link` (presented by a provider here) leads.
    fn route(&self, link: &Link) -> Result<Target, InvocationError> {
        let host = self.host.upgrade().ok_or_else(errors::stopping)?;
        host.router.route(link, |id| host.local(id))
    }
}

impl ProviderCalls for HostProviderCalls {
    fn handle_http(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture {
        let span = lattice_rpc::trace_span!("route", %link, to = tracing::field::Empty);
        let routed = span.in_scope(|| self.route(link));
        let link = link.clone();
        Box::pin(
            async move {
                match routed? {
                    Target::Local(Local::Actor(actor)) => {
                        tracing::Span::current().record("to", "local");
                        actor.handle_http(request).await
                    }
                    Target::Local(Local::Provider(_)) => Err(errors::cannot_serve(
                        &link.target,
                        "a provider",
                        standard::HTTP_INCOMING_HANDLER,
                    )),
                    Target::Remote(remote) => {
                        tracing::Span::current().record("to", "remote");
                        remote.call_http(link, request).await
                    }
                }
            }
            .instrument(span),
        )
    }

    fn deliver_message(&self, link: &Link, message: Message) -> MessagingFuture<'static, ()> {
        // The link as presented, name and all: a named handler link
        // delivers to its own target.
        let routed = self.route(link);
        let link = link.clone();
        Box::pin(async move {
            let failed = |e: InvocationError| MessagingError::Failed(e.message);
            // The body goes as bytes all the way: typed into a local actor,
            // encoded once for a remote one (never a value per byte).
            match routed.map_err(failed)? {
                Target::Local(Local::Actor(actor)) => actor
                    .handle_message(message)
                    .await
                    .map_err(failed)?
                    .map_err(MessagingError::Failed),
                Target::Local(Local::Provider(_)) => Err(failed(errors::cannot_serve(
                    &link.target,
                    "a provider",
                    standard::MESSAGING_HANDLER,
                ))),
                Target::Remote(remote) => {
                    let payload = rmp_serde::to_vec_named(&handler_arguments(message))
                        .map_err(|e| MessagingError::Failed(e.to_string()))?;
                    let answer = remote
                        .call_raw(
                            link,
                            standard::MESSAGING_HANDLER.to_string(),
                            HANDLE_MESSAGE.to_string(),
                            payload,
                        )
                        .await
                        .map_err(failed)?;
                    let results: Vec<WireVal> = rmp_serde::from_slice(&answer).map_err(|e| {
                        MessagingError::Failed(format!("malformed handler answer: {e}"))
                    })?;
                    handler_outcome(&results).map_err(MessagingError::Failed)
                }
            }
        })
    }

    fn report_error(&self, link: &Link, error: &str) {
        let Some(host) = self.host.upgrade() else {
            return;
        };
        if let Some(remote) = host.router.remote() {
            remote.publish_event(LatticeEvent::ProviderError(ProviderLinkError {
                provider_id: self.provider.to_string(),
                host_id: Some(host.identity.host_id().clone()),
                source: link.source.clone(),
                target: link.target.clone(),
                link_name: link.name.clone(),
                error: error.to_string(),
            }));
        }
    }
}

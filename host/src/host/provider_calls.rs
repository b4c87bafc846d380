//! Calls from elsewhere in the lattice to the providers in this host's
//! process: an actor on another host linked to this host's key-value,
//! messaging or outgoing HTTP provider reaches it here, over the link the
//! lattice holds, exactly as a provider process would serve it.

use lattice_interfaces::http_client::{OutgoingRequest, Timeouts};
use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::messaging::wire::{MessagingOp, MessagingReply};

use super::*;
use lattice_provider_sdk::{decode, encode};

impl Host {
    /// The in-process providers other hosts may call: key-value,
    /// messaging and outgoing HTTP.
    pub fn callable_providers(&self) -> Vec<ComponentId> {
        read(&self.inner.providers)
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    Provider::KeyValue(_) | Provider::Messaging(_) | Provider::HttpClient
                )
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Serves `function` of `interface` called by `source` over its link
    /// named `link_name` on provider `target` in this process, with
    /// `payload` in the contract's wire types. `None` when no such
    /// provider runs here.
    #[tracing::instrument(level = "debug", skip_all, fields(provider = %target, source, interface))]
    pub async fn call_provider(
        &self,
        target: &ComponentId,
        source: &str,
        interface: &str,
        link_name: &str,
        payload: &[u8],
    ) -> Option<Result<Vec<u8>, InvocationError>> {
        let provider = match read(&self.inner.providers).get(target)? {
            Provider::KeyValue(kv) => Callable::KeyValue(kv.clone()),
            Provider::Messaging(messaging) => Callable::Messaging(messaging.clone()),
            Provider::HttpClient => Callable::HttpClient,
            _ => return None,
        };
        Some(
            self.serve_provider(provider, target, source, interface, link_name, payload)
                .await,
        )
    }

    /// The link from `source` named `link_name` that carries `interface`
    /// (`ns:pkg/iface`) to `target`, as this host knows it from the
    /// lattice: what authorises a call that arrives over NATS.
    ///
    /// # Errors
    ///
    /// `unauthorized` naming the missing link; `bad_request` for a source
    /// that is not an id.
    pub fn link_for(
        &self,
        source: &str,
        interface: &str,
        link_name: &str,
        target: &ComponentId,
    ) -> Result<Link, InvocationError> {
        let (namespace, rest) = interface.split_once(':').unwrap_or((interface, ""));
        let (package, name) = rest.split_once('/').unwrap_or((rest, ""));
        let source_id = ComponentId::new(source)
            .map_err(|e| InvocationError::new(ErrorKind::BadRequest, e.to_string()))?;
        read(&self.inner.links)
            .resolve(&source_id, namespace, package, name, link_name)
            .filter(|link| link.target == *target)
            .cloned()
            .ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::Unauthorized,
                    format!("no link from {source} for {interface} to {target}"),
                )
            })
    }

    /// Tells the lattice that `link`'s backend cannot be reached.
    fn unreachable(&self, link: &Link, error: &str) {
        let remote = read(&self.inner.remote).clone();
        super::dispatch::report_provider_error(remote.as_ref(), &link.target, link, error);
    }

    async fn serve_provider(
        &self,
        provider: Callable,
        target: &ComponentId,
        source: &str,
        interface: &str,
        link_name: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, InvocationError> {
        // Deny by default: the caller's link must name this provider.
        let link = self.link_for(source, interface, link_name, target)?;
        self.inner.routing.count(target, Route::Local);
        match provider {
            Callable::KeyValue(kv) => {
                let op: KvOp = decode(payload, "key-value")?;
                let reply = kv.serve(&link, op).await.unwrap_or_else(|e| {
                    self.unreachable(&link, &e.to_string());
                    KvReply::Error(e.to_string())
                });
                encode(&reply)
            }
            Callable::Messaging(messaging) => {
                let op: MessagingOp = decode(payload, "messaging")?;
                let reply = messaging.serve(&link, op).await.unwrap_or_else(|e| {
                    self.unreachable(&link, &e);
                    MessagingReply::Error(e)
                });
                encode(&reply)
            }
            Callable::HttpClient => {
                let request: OutgoingRequest = decode(payload, "outgoing HTTP")?;
                encode(&lattice_provider_http_client::send(request, Timeouts::of(&link)).await)
            }
        }
    }
}

/// A provider as a target of lattice calls.
enum Callable {
    KeyValue(Arc<KeyValueProvider>),
    Messaging(Arc<MessagingProvider>),
    HttpClient,
}

//! How calls reach their targets: HTTP from an in-process server provider,
//! calls between actors, key-value, messaging and outgoing HTTP from actors,
//! and messages from a messaging provider, each over the caller's link, to
//! a target in this process or, through the lattice, on another host.

use super::*;
use lattice_interfaces::http_client::Timeouts;

/// Hands HTTP requests from an in-process HTTP server provider to actors.
pub(super) struct HostHttpHandler {
    pub(super) host: Weak<HostInner>,
}

impl IncomingHttp for HostHttpHandler {
    fn handle(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture {
        let route = self
            .host
            .upgrade()
            .ok_or_else(|| InvocationError::new(ErrorKind::NotFound, "the host is stopping"))
            .and_then(|host| {
                // Deny by default: only a link this host holds may carry the call.
                let links = read(&host.links);
                let linked = links
                    .get(&link.key())
                    .is_some_and(|held| held.target == link.target);
                if !linked {
                    return Err(InvocationError::new(
                        ErrorKind::Unauthorized,
                        format!("no link {link} on this host"),
                    ));
                }
                // Local first: an actor on this host is called in-process.
                if let Some(actor) = read(&host.actors).get(&link.target).cloned() {
                    host.routing.count(&link.target, Route::Local);
                    return Ok(HttpTarget::Local(actor));
                }
                match read(&host.remote).clone() {
                    Some(remote) => {
                        host.routing.count(&link.target, Route::Remote);
                        Ok(HttpTarget::Remote(remote, link.clone()))
                    }
                    None => Err(InvocationError::new(
                        ErrorKind::NotFound,
                        format!(
                            "actor \"{}\" does not run on this host and the host is not in a lattice",
                            link.target
                        ),
                    )),
                }
            });
        Box::pin(async move {
            match route? {
                HttpTarget::Local(actor) => actor.handle_http(request).await,
                HttpTarget::Remote(remote, link) => remote.call_http(link, request).await,
            }
        })
    }
}

/// Where an HTTP request goes; the link is cloned only to cross hosts.
enum HttpTarget {
    Local(Arc<Actor>),
    Remote(Arc<dyn RemoteCalls>, Link),
}

enum Target {
    Local(Arc<Actor>),
    Remote(Arc<dyn RemoteCalls>),
}

/// Routes calls from actors over their links: in-process when the target
/// runs here, through the lattice otherwise.
pub(super) struct HostActorCalls {
    pub(super) host: Weak<HostInner>,
}

/// Hands messages from a messaging provider's subscriptions to the actor
/// its handler link names, wherever it runs.
pub(super) struct HostMessageHandler {
    pub(super) host: Weak<HostInner>,
}

impl lattice_interfaces::messaging::MessageHandler for HostMessageHandler {
    fn deliver(
        &self,
        link: Link,
        message: lattice_interfaces::messaging::Message,
    ) -> lattice_interfaces::messaging::MessagingFuture<'static, ()> {
        let host = self.host.upgrade().map(|inner| Host { inner });
        Box::pin(async move {
            let host = host.ok_or("the host is stopping")?;
            let params = vec![crate::runtime::message_value(message)];
            let results = host
                .call(
                    &link.source,
                    "wasmcloud:messaging/handler",
                    "handle-message",
                    params,
                )
                .await
                .map_err(|e| e.message)?;
            match results.first() {
                Some(wasmtime::component::Val::Result(Err(Some(reason)))) => {
                    match reason.as_ref() {
                        wasmtime::component::Val::String(reason) => Err(reason.clone()),
                        other => Err(format!("{other:?}")),
                    }
                }
                Some(wasmtime::component::Val::Result(Err(None))) => {
                    Err("the handler failed".into())
                }
                _ => Ok(()),
            }
        })
    }
}

/// Where a call to a provider goes.
enum ProviderRoute<T> {
    /// The provider runs in this process.
    Local(T),
    /// It does not (a provider process, or another host): over the lattice.
    Remote(Arc<dyn RemoteCalls>),
}

impl HostActorCalls {
    /// The lattice this host calls through, when it is in one.
    fn lattice(&self) -> Option<Arc<dyn RemoteCalls>> {
        self.host
            .upgrade()
            .and_then(|host| read(&host.remote).clone())
    }

    /// The link from `source` for `namespace:package/interface` (deny by
    /// default: none, no call) and where its provider is: in this process,
    /// picked by `pick` (which says what kind of provider it must be), or
    /// anywhere else in the lattice.
    fn provider_route<T>(
        &self,
        source: &ComponentId,
        (namespace, package, interface): (&str, &str, &str),
        kind: &str,
        pick: impl FnOnce(&Provider) -> Option<T>,
    ) -> Result<(ProviderRoute<T>, Link), InvocationError> {
        let host = self
            .host
            .upgrade()
            .ok_or_else(|| InvocationError::new(ErrorKind::NotFound, "the host is stopping"))?;
        let contract = format!("{namespace}:{package}/{interface}");
        let link = read(&host.links)
            .resolve(
                source,
                namespace,
                package,
                interface,
                crate::links::DEFAULT_NAME,
            )
            .cloned()
            .ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::Unauthorized,
                    format!(
                        "no link from {source} for {contract}: put one with lattice-ctl link put"
                    ),
                )
            })?;
        let remote = || {
            read(&host.remote).clone().ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::NotFound,
                    format!(
                        "{kind} provider \"{}\" does not run in this host's process and the host is not in a lattice",
                        link.target
                    ),
                )
            })
        };
        let route = match read(&host.providers).get(&link.target) {
            Some(Provider::External { .. }) => ProviderRoute::Remote(remote()?),
            Some(provider) => ProviderRoute::Local(pick(provider).ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::NotFound,
                    format!(
                        "provider \"{}\" is a {} provider, not {kind}",
                        link.target,
                        provider.kind()
                    ),
                )
            })?),
            None if read(&host.actors).contains_key(&link.target) => {
                return Err(InvocationError::new(
                    ErrorKind::NotFound,
                    format!("\"{}\" is an actor, not a {kind} provider", link.target),
                ))
            }
            None => ProviderRoute::Remote(remote()?),
        };
        let way = match route {
            ProviderRoute::Local(_) => Route::Local,
            ProviderRoute::Remote(_) => Route::Remote,
        };
        host.routing.count(&link.target, way);
        Ok((route, link))
    }
}

/// Tells operators that `provider` cannot serve `link` (its backend is
/// unreachable): a `provider_error` event, when this host is in a lattice.
pub(super) fn report_provider_error(
    remote: Option<&Arc<dyn RemoteCalls>>,
    provider: &ComponentId,
    link: &Link,
    error: &str,
) {
    if let Some(remote) = remote {
        remote.publish_event(
            lattice_interfaces::protocol::events::kinds::PROVIDER_ERROR,
            serde_json::json!({
                "provider_id": provider, "source": link.source, "target": link.target,
                "link_name": link.name, "error": error,
            }),
        );
    }
}

fn provider_failed(link: &Link, kind: &str, error: impl std::fmt::Display) -> InvocationError {
    InvocationError::new(
        ErrorKind::Failed,
        format!("{kind} provider \"{}\": {error}", link.target),
    )
}

impl crate::runtime::ActorCalls for HostActorCalls {
    fn outgoing_http(
        &self,
        source: &ComponentId,
    ) -> Result<crate::runtime::OutgoingHttp, InvocationError> {
        let (route, link) = self.provider_route(
            source,
            ("wasi", "http", "outgoing-handler"),
            HTTP_CLIENT_KIND,
            |p| matches!(p, Provider::HttpClient).then_some(()),
        )?;
        Ok(match route {
            ProviderRoute::Local(()) => crate::runtime::OutgoingHttp::Direct(
                lattice_provider_http_client::request_options(Timeouts::of(&link)),
            ),
            ProviderRoute::Remote(remote) => {
                crate::runtime::OutgoingHttp::Through(crate::remote::sender(remote, link))
            }
        })
    }

    fn messaging(&self, source: &ComponentId) -> crate::runtime::MessagingClientFuture {
        let kind = lattice_provider_messaging_nats::KIND;
        let found = self.provider_route(
            source,
            ("wasmcloud", "messaging", "consumer"),
            kind,
            |p| match p {
                Provider::Messaging(messaging) => Some(messaging.clone()),
                _ => None,
            },
        );
        let remote = self.lattice();
        Box::pin(async move {
            match found? {
                (ProviderRoute::Local(messaging), link) => {
                    messaging.consumer(&link).await.map_err(|e| {
                        report_provider_error(remote.as_ref(), &link.target, &link, &e);
                        provider_failed(&link, kind, e)
                    })
                }
                (ProviderRoute::Remote(remote), link) => {
                    Ok(Arc::new(crate::remote::RemoteMessaging { remote, link })
                        as Arc<dyn lattice_interfaces::messaging::MessagingClient>)
                }
            }
        })
    }

    fn keyvalue(&self, source: &ComponentId) -> crate::runtime::KeyValueFuture {
        let kind = lattice_provider_keyvalue::KIND;
        let found = self.provider_route(source, ("wasi", "keyvalue", "store"), kind, |p| match p {
            Provider::KeyValue(kv) => Some(kv.clone()),
            _ => None,
        });
        let remote = self.lattice();
        Box::pin(async move {
            match found? {
                (ProviderRoute::Local(kv), link) => kv.backend(&link).await.map_err(|e| {
                    // Operators hear of a broken backend, not only the actor.
                    report_provider_error(remote.as_ref(), &link.target, &link, &e.to_string());
                    provider_failed(&link, kind, e)
                }),
                (ProviderRoute::Remote(remote), link) => {
                    Ok(Arc::new(crate::remote::RemoteKeyValue { remote, link })
                        as Arc<dyn lattice_interfaces::keyvalue::KeyValue>)
                }
            }
        })
    }

    fn call(
        &self,
        source: ComponentId,
        interface: String,
        function: String,
        params: Vec<wasmtime::component::Val>,
    ) -> crate::runtime::CallFuture {
        let route = self
            .host
            .upgrade()
            .ok_or_else(|| InvocationError::new(ErrorKind::NotFound, "the host is stopping"))
            .and_then(|host| {
                let (namespace, rest) = interface.split_once(':').unwrap_or((interface.as_str(), ""));
                let (package, name) = rest.split_once('/').unwrap_or((rest, ""));
                // Deny by default: no link, no call.
                let link = read(&host.links)
                    .resolve(&source, namespace, package, name, crate::links::DEFAULT_NAME)
                    .cloned()
                    .ok_or_else(|| {
                        InvocationError::new(
                            ErrorKind::Unauthorized,
                            format!("no link from {source} for {interface}: put one with lattice-ctl link put"),
                        )
                    })?;
                if let Some(actor) = read(&host.actors).get(&link.target).cloned() {
                    host.routing.count(&link.target, Route::Local);
                    return Ok((link, Target::Local(actor)));
                }
                match read(&host.remote).clone() {
                    Some(remote) => {
                        host.routing.count(&link.target, Route::Remote);
                        Ok((link, Target::Remote(remote)))
                    }
                    None => Err(InvocationError::new(
                        ErrorKind::NotFound,
                        format!("actor \"{}\" does not run on this host and the host is not in a lattice", link.target),
                    )),
                }
            });
        Box::pin(async move {
            match route? {
                (_, Target::Local(actor)) => {
                    actor.call_function(&interface, &function, params).await
                }
                (link, Target::Remote(remote)) => {
                    remote
                        .call_function(link, interface, function, params)
                        .await
                }
            }
        })
    }
}

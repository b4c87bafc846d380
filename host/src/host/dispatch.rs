//! How calls reach their targets: HTTP from an in-process server provider,
//! calls between actors, key-value, messaging and outgoing HTTP from actors,
//! and messages from a messaging provider, each over the caller's link, to
//! a target in this process or, through the lattice, on another host.

use super::*;

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

impl HostActorCalls {
    /// The link from `source` for `namespace:package/interface` (deny by
    /// default: none, no call) and the provider it targets on this host,
    /// picked by `pick` (which says what kind of provider it must be).
    fn provider_link<T>(
        &self,
        source: &ComponentId,
        (namespace, package, interface): (&str, &str, &str),
        kind: &str,
        pick: impl FnOnce(&Provider) -> Option<T>,
    ) -> Result<(T, Link), InvocationError> {
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
        let picked = read(&host.providers)
            .get(&link.target)
            .and_then(pick)
            .ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::NotFound,
                    format!(
                        "{kind} provider \"{}\" does not run on this host",
                        link.target
                    ),
                )
            })?;
        host.routing.count(&link.target, Route::Local);
        Ok((picked, link))
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
    ) -> Result<wasmtime_wasi_http::RequestOptions, InvocationError> {
        let ((), link) = self.provider_link(
            source,
            ("wasi", "http", "outgoing-handler"),
            HTTP_CLIENT_KIND,
            |p| matches!(p, Provider::HttpClient).then_some(()),
        )?;
        let millis = |key: &str| {
            link.config(key)
                .and_then(|v| v.parse::<u64>().ok())
                .map(Duration::from_millis)
        };
        Ok(wasmtime_wasi_http::RequestOptions {
            connect_timeout: millis("connect_timeout_ms").or(Some(Duration::from_secs(5))),
            first_byte_timeout: millis("first_byte_timeout_ms").or(Some(Duration::from_secs(30))),
            between_bytes_timeout: millis("between_bytes_timeout_ms")
                .or(Some(Duration::from_secs(30))),
        })
    }

    fn messaging(&self, source: &ComponentId) -> crate::runtime::MessagingClientFuture {
        let kind = lattice_provider_messaging_nats::KIND;
        let found =
            self.provider_link(
                source,
                ("wasmcloud", "messaging", "consumer"),
                kind,
                |p| match p {
                    Provider::Messaging(messaging) => Some(messaging.clone()),
                    _ => None,
                },
            );
        Box::pin(async move {
            let (messaging, link) = found?;
            messaging
                .consumer(&link)
                .await
                .map_err(|e| provider_failed(&link, kind, e))
        })
    }

    fn keyvalue(&self, source: &ComponentId) -> crate::runtime::KeyValueFuture {
        let kind = lattice_provider_keyvalue::KIND;
        let found = self.provider_link(source, ("wasi", "keyvalue", "store"), kind, |p| match p {
            Provider::KeyValue(kv) => Some(Some(kv.clone())),
            // A provider process: reached over the lattice.
            Provider::External { .. } => Some(None),
            _ => None,
        });
        let remote = self
            .host
            .upgrade()
            .and_then(|host| read(&host.remote).clone());
        Box::pin(async move {
            match found? {
                (Some(kv), link) => kv.backend(&link).await.map_err(|e| {
                    // Operators hear of a broken backend, not only the actor.
                    if let Some(remote) = &remote {
                        remote.publish_event(
                            lattice_interfaces::protocol::events::kinds::PROVIDER_ERROR,
                            serde_json::json!({
                                "provider_id": link.target, "source": link.source,
                                "link_name": link.name, "error": e.to_string(),
                            }),
                        );
                    }
                    provider_failed(&link, kind, e)
                }),
                (None, link) => match remote {
                    Some(remote) => {
                        Ok(
                            Arc::new(crate::remote_keyvalue::RemoteKeyValue { remote, link })
                                as Arc<dyn lattice_interfaces::keyvalue::KeyValue>,
                        )
                    }
                    None => Err(provider_failed(
                        &link,
                        kind,
                        "runs as a process but this host is not in a lattice",
                    )),
                },
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

//! Calls between hosts over `lattice.<L>.rpc.<target>`: the caller's side
//! (sign, send, pull a large answer) and the callee's (verify, pull a large
//! request, call the actor or in-process provider, answer).
//!
//! Every host that runs an actor, or a key-value, messaging or outgoing
//! HTTP provider in its process, subscribes to its subject in the queue
//! group named after it, so NATS spreads calls over those hosts and a dead
//! host drops out by itself. An invocation is accepted only when it is signed by a
//! trusted cluster key, arrives before its deadline, and was not seen before.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::protocol::events::kinds;
use lattice_interfaces::protocol::rpc::{
    unix_ms, BodyRef, Invocation, InvocationResponse, Verifier, INLINE_LIMIT,
};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ComponentId, ErrorKind, InvocationError, Link};
use lattice_provider_sdk::rpc::{Call, Caller};
use nkeys::KeyPair;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::routing::RemoteCalls;
use crate::runtime::{decode_values, encode_values, CallFuture};
use crate::Host;
use lattice_provider_sdk::events::EventPublisher;
use wasmtime::component::Val;

use lattice_interfaces::http::wire::{
    decode_request, decode_response, encode_request, encode_response,
    INCOMING_HANDLER as HTTP_INTERFACE,
};
/// Largest HTTP body carried between hosts, either way.
pub const MAX_BODY_BYTES: usize = lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES;
/// Most invocations one host serves at once.
const MAX_CONCURRENT_INVOCATIONS: usize = 1024;

/// The cluster key a host signs invocations with and the keys it trusts.
#[derive(Clone)]
pub struct ClusterKeys {
    signer: Arc<KeyPair>,
    verifier: Arc<Verifier>,
}

impl std::fmt::Debug for ClusterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterKeys")
            .field("signer", &self.signer.public_key())
            .field("trusted", &self.verifier.trusted().collect::<Vec<_>>())
            .finish()
    }
}

impl ClusterKeys {
    /// Signs with `signer` and trusts it plus `issuers`.
    pub fn new(signer: KeyPair, issuers: &[String]) -> Self {
        let mut trusted = vec![signer.public_key()];
        trusted.extend(
            issuers
                .iter()
                .filter(|k| **k != signer.public_key())
                .cloned(),
        );
        Self {
            verifier: Arc::new(Verifier::new(&trusted)),
            signer: Arc::new(signer),
        }
    }

    /// The public key invocations are signed with.
    pub fn public_key(&self) -> String {
        self.signer.public_key()
    }

    /// Whether invocations signed by `key` are accepted.
    pub fn trusts(&self, key: &str) -> bool {
        self.verifier.trusts(key)
    }

    /// The public keys trusted, for provider processes this host starts.
    pub fn trusted(&self) -> Vec<String> {
        self.verifier.trusted().cloned().collect()
    }

    /// A fresh signing key for provider process `provider_id` and this
    /// host's grant for it: the seed and grant go on the process's stdin,
    /// never this host's own key.
    pub(crate) fn grant_for(
        &self,
        provider_id: &str,
    ) -> Result<(String, lattice_interfaces::protocol::rpc::ProviderGrant), String> {
        let key = KeyPair::new_cluster();
        let seed = key.seed().map_err(|e| e.to_string())?;
        let grant = lattice_interfaces::protocol::rpc::ProviderGrant::issue(
            &self.signer,
            provider_id,
            &key.public_key(),
        )
        .map_err(|e| e.to_string())?;
        Ok((seed, grant))
    }

    /// The key invocations are signed with.
    pub(crate) fn signer(&self) -> &KeyPair {
        &self.signer
    }
}

fn err(kind: ErrorKind, message: impl Into<String>) -> InvocationError {
    InvocationError::new(kind, message)
}

/// Both sides of inter-host calls for one host.
pub(crate) struct Rpc {
    pub(crate) client: async_nats::Client,
    pub(crate) subjects: Subjects,
    pub(crate) host: Host,
    pub(crate) keys: ClusterKeys,
    pub(crate) events: EventPublisher,
    pub(crate) call_timeout: Duration,
    /// Ids are `<host>-<run>-<n>`: a host restarted with the same key
    /// within a deadline must not reuse ids its peers remember as served.
    run: String,
    sequence: AtomicU64,
    /// Subscriptions to actors' calls, by actor; one owner at a time.
    serving: tokio::sync::Mutex<HashMap<ComponentId, CancellationToken>>,
    limit: Arc<Semaphore>,
}

impl Rpc {
    pub(crate) fn new(
        client: async_nats::Client,
        subjects: Subjects,
        host: Host,
        keys: ClusterKeys,
        events: EventPublisher,
        call_timeout: Duration,
    ) -> Self {
        Self {
            client,
            subjects,
            host,
            keys,
            events,
            call_timeout,
            run: nuid::next().to_string(),
            sequence: AtomicU64::new(0),
            serving: tokio::sync::Mutex::new(HashMap::new()),
            limit: Arc::new(Semaphore::new(MAX_CONCURRENT_INVOCATIONS)),
        }
    }

    async fn offer(&self, data: Vec<u8>, deadline_ms: u64) -> Result<BodyRef, InvocationError> {
        lattice_provider_sdk::payloads::offer(&self.client, data, deadline_ms).await
    }

    async fn pull(&self, body: &BodyRef, deadline_ms: u64) -> Result<Vec<u8>, InvocationError> {
        lattice_provider_sdk::payloads::pull(&self.client, body, deadline_ms).await
    }

    /// Calls `function` of `interface` on `link`'s target on another host.
    #[tracing::instrument(level = "debug", skip_all, fields(target = %link.target, interface, function))]
    pub(crate) async fn invoke(
        &self,
        link: &Link,
        interface: &str,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let caller = Caller {
            client: &self.client,
            subjects: &self.subjects,
            signer: self.keys.signer(),
            origin_host: self.host.id(),
            timeout: self.call_timeout,
            grant: None,
        };
        let id = format!(
            "{}-{}-{}",
            self.host.id(),
            self.run,
            self.sequence.fetch_add(1, Ordering::Relaxed)
        );
        let call = Call {
            link,
            interface,
            function,
            payload,
        };
        caller.invoke(id, call).await
    }

    /// Serves invocations of `target` from `subscription` until `stop`.
    pub(crate) async fn serve(
        self: Arc<Self>,
        target: ComponentId,
        mut subscription: async_nats::Subscriber,
        stop: CancellationToken,
    ) {
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => break,
                message = subscription.next() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            let Some(reply) = message.reply.clone() else {
                continue;
            };
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                break;
            };
            let rpc = self.clone();
            let target = target.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let response = rpc.answer(&target, &message.payload).await;
                match response.encode() {
                    Ok(bytes) => {
                        if let Err(error) = rpc.client.publish(reply, bytes.into()).await {
                            tracing::warn!(%error, "cannot send an invocation response");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot encode an invocation response"),
                }
            });
        }
        let _ = subscription.unsubscribe().await;
    }

    /// Checks an invocation: signature, trust, deadline, replay.
    fn verify(&self, target: &ComponentId, invocation: &Invocation) -> Result<(), InvocationError> {
        self.keys.verifier.verify(target.as_str(), invocation)
    }

    async fn answer(&self, target: &ComponentId, bytes: &[u8]) -> InvocationResponse {
        let (id, result) = match Invocation::decode(bytes) {
            Err(e) => (
                String::new(),
                Err(err(ErrorKind::BadRequest, e.to_string())),
            ),
            Ok(invocation) => {
                let result = match self.verify(target, &invocation) {
                    Ok(()) => {
                        // The caller gives up at the deadline: so does this host.
                        let left =
                            Duration::from_millis(invocation.deadline_ms.saturating_sub(unix_ms()));
                        tokio::time::timeout(left, self.dispatch(target, &invocation))
                            .await
                            .unwrap_or_else(|_| {
                                Err(err(
                                    ErrorKind::Timeout,
                                    format!(
                                        "{target} did not finish {} before the call's deadline",
                                        invocation.function
                                    ),
                                ))
                            })
                    }
                    Err(refusal) => {
                        self.events
                            .publish(
                                kinds::INVOCATION_REFUSED,
                                serde_json::json!({
                                    "host_id": self.host.id(), "invocation_id": invocation.id, "target": target,
                                    "origin_host": invocation.origin_host, "reason": refusal.message,
                                }),
                            )
                            .await;
                        tracing::warn!(reason = %refusal.message, "invocation refused");
                        Err(refusal)
                    }
                };
                (invocation.id, result)
            }
        };
        match result {
            Ok(payload) if payload.len() > INLINE_LIMIT => {
                let deadline_ms = unix_ms().saturating_add(
                    u64::try_from(self.call_timeout.as_millis()).unwrap_or(u64::MAX),
                );
                match self.offer(payload, deadline_ms).await {
                    Ok(body) => InvocationResponse {
                        id,
                        error: None,
                        payload: Vec::new(),
                        payload_ref: Some(body),
                    },
                    Err(e) => InvocationResponse {
                        id,
                        error: Some(e),
                        payload: Vec::new(),
                        payload_ref: None,
                    },
                }
            }
            Ok(payload) => InvocationResponse {
                id,
                error: None,
                payload,
                payload_ref: None,
            },
            Err(e) => InvocationResponse {
                id,
                error: Some(e),
                payload: Vec::new(),
                payload_ref: None,
            },
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(%target, id = %invocation.id, source = %invocation.source, interface = %invocation.interface, function = %invocation.function))]
    async fn dispatch(
        &self,
        target: &ComponentId,
        invocation: &Invocation,
    ) -> Result<Vec<u8>, InvocationError> {
        // A provider process acts only over its own links: its grant
        // already bound the source, the link table binds the target.
        if invocation.grant.is_some() {
            self.host.link_for(
                &invocation.source,
                &invocation.interface,
                &invocation.link_name,
                target,
            )?;
        }
        let payload = match &invocation.payload_ref {
            Some(body) => self.pull(body, invocation.deadline_ms).await?,
            None => invocation.payload.clone(),
        };
        let Some(actor) = self.host.actor(target) else {
            let served = self
                .host
                .call_provider(
                    target,
                    &invocation.source,
                    &invocation.interface,
                    &invocation.link_name,
                    &payload,
                )
                .await;
            return served.unwrap_or_else(|| {
                Err(err(
                    ErrorKind::NotFound,
                    format!("\"{target}\" no longer runs on host {}", self.host.id()),
                ))
            });
        };
        if invocation.interface != HTTP_INTERFACE {
            let params = decode_values(&payload)?;
            let results = actor
                .call_function(&invocation.interface, &invocation.function, params)
                .await?;
            return encode_values(&results);
        }
        if invocation.function != "handle" {
            return Err(err(
                ErrorKind::NotFound,
                format!("{HTTP_INTERFACE} has no function {}", invocation.function),
            ));
        }
        let request = decode_request(&payload)?;
        let response = actor.handle_http(request).await?;
        encode_response(response).await
    }
}

/// The host's handle for HTTP calls to other hosts.
pub(crate) struct RemoteHostCalls(pub(crate) Arc<Rpc>);

impl RemoteCalls for RemoteHostCalls {
    fn call_http(&self, link: Link, request: http::Request<HttpBody>) -> HandleFuture {
        let rpc = self.0.clone();
        Box::pin(async move {
            let payload = encode_request(request).await?;
            let answer = rpc.invoke(&link, HTTP_INTERFACE, "handle", payload).await?;
            decode_response(&answer)
        })
    }

    fn publish_event(&self, kind: &'static str, data: serde_json::Value) {
        let events = self.0.events.clone();
        tokio::spawn(async move { events.publish(kind, data).await });
    }

    fn call_raw(
        &self,
        link: Link,
        interface: String,
        function: String,
        payload: Vec<u8>,
    ) -> crate::routing::RawFuture {
        let rpc = self.0.clone();
        Box::pin(async move { rpc.invoke(&link, &interface, &function, payload).await })
    }

    fn call_function(
        &self,
        link: Link,
        interface: String,
        function: String,
        params: Vec<Val>,
    ) -> CallFuture {
        let rpc = self.0.clone();
        Box::pin(async move {
            let payload = encode_values(&params)?;
            let answer = rpc.invoke(&link, &interface, &function, payload).await?;
            decode_values(&answer)
        })
    }
}

/// Keeps one subscription per actor and callable in-process provider on
/// this host, following them as they start and stop.
pub(crate) async fn follow_actors(rpc: Arc<Rpc>, stop: CancellationToken) {
    let mut changes = rpc.host.components_changed();
    loop {
        rpc.clone().sync_subscriptions(&stop).await;
        tokio::select! {
            () = stop.cancelled() => break,
            changed = changes.changed() => if changed.is_err() { break },
        }
    }
    for token in rpc.serving.lock().await.values() {
        token.cancel();
    }
}

impl Rpc {
    /// Subscribes to the calls of every actor and callable provider on this
    /// host that has no subscription yet, drops those that left, and
    /// flushes, so that when it returns the server routes calls for every
    /// one of them here. Control requests that start an actor call it before replying.
    pub(crate) async fn sync_subscriptions(self: Arc<Self>, stop: &CancellationToken) {
        let mut serving = self.serving.lock().await;
        let mut running: Vec<ComponentId> =
            self.host.actors().iter().map(|a| a.id().clone()).collect();
        running.extend(self.host.callable_providers());
        serving.retain(|id, token| {
            let keep = running.contains(id);
            if !keep {
                token.cancel();
            }
            keep
        });
        for id in running {
            if serving.contains_key(&id) {
                continue;
            }
            let subject = self.subjects.rpc(id.as_str());
            match self.client.queue_subscribe(subject, id.to_string()).await {
                Ok(subscription) => {
                    let token = stop.child_token();
                    tokio::spawn(self.clone().serve(id.clone(), subscription, token.clone()));
                    serving.insert(id, token);
                }
                Err(error) => {
                    tracing::warn!(actor = %id, %error, "cannot subscribe to the actor's calls")
                }
            }
        }
        let _ = self.client.flush().await;
    }
}

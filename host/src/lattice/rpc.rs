//! A host's side of the lattice's RPC layer (`lattice_rpc`): its cluster
//! keys, the caller it sends invocations with, and the subscriptions that
//! serve what runs here.
//!
//! Every host that runs an actor, or a provider in its process, subscribes
//! to its subject `lattice.<L>.rpc.<id>` in the queue group named after it,
//! so NATS spreads calls over those hosts and a dead host drops out by
//! itself. The callee loop verifies each invocation (trusted cluster key,
//! before its deadline, not seen before) before [`Host::serve_invocation`]
//! sees it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::http::wire::{decode_response, INCOMING_HANDLER};
use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::protocol::events::{InvocationRefusal, LatticeEvent};
use lattice_interfaces::protocol::link_entry::LinkSigners;
use lattice_interfaces::protocol::rpc::{
    unix_ms, GrantRevocation, GrantTerms, Invocation, MacKey, ProviderGrant,
};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{shown, ComponentId, InvocationError, Link};
use lattice_rpc::{Call, Callee, Caller, EventPublisher, InvocationHandler, ServeFuture, Verifier};
use nkeys::KeyPair;
use tokio_util::sync::CancellationToken;

use crate::router::RemoteCalls;
use crate::runtime::{decode_values_within, encode_values, CallFuture};
use crate::Host;
use wasmtime::component::Val;
/// Largest HTTP body carried between hosts, either way.
pub const MAX_BODY_BYTES: usize = lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES;
/// Most invocations one host serves at once.
const MAX_CONCURRENT_INVOCATIONS: usize = 1024;

/// The cluster key a host signs invocations with and the keys it trusts.
#[derive(Clone)]
pub struct ClusterKeys {
    signer: Arc<KeyPair>,
    /// The MAC key of the signer's seed: invocations between hosts holding
    /// it are sealed with it instead of signed.
    mac: Option<MacKey>,
    verifier: Arc<Verifier>,
    /// Given no keys (development): link entries signed by any cluster key
    /// are accepted, so hosts with keys of their own share links.
    development: bool,
}

impl std::fmt::Debug for ClusterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterKeys")
            .field("signer", &self.signer.public_key())
            .field("trusted", &self.verifier.trusted().collect::<Vec<_>>())
            .field("development", &self.development)
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
        // A signer always has its seed: `None` only for a public key.
        let mac = MacKey::of(&signer).ok();
        let verifier = Verifier::new(&trusted);
        let verifier = match &mac {
            Some(key) => verifier.holding(key.clone()),
            None => verifier,
        };
        Self {
            verifier: Arc::new(verifier),
            mac,
            signer: Arc::new(signer),
            development: false,
        }
    }

    /// A host given no cluster key: a new one, trusted by this host alone
    /// for calls; link entries signed by any cluster key are accepted
    /// (hosts of a development lattice each have their own key and share
    /// links). Give hosts a shared key (`--cluster-seed`) or trusted keys
    /// (`--cluster-issuer`) to accept only links their keys signed.
    pub fn development() -> Self {
        Self {
            development: true,
            ..Self::new(KeyPair::new_cluster(), &[])
        }
    }

    /// Whether this host was given no cluster keys (development).
    pub fn is_development(&self) -> bool {
        self.development
    }

    /// Whose link entries this host applies.
    pub fn link_signers(&self) -> LinkSigners {
        if self.development {
            LinkSigners::Any
        } else {
            LinkSigners::Trusted(self.trusted())
        }
    }

    /// The key this host signs with.
    pub(crate) fn signer(&self) -> Arc<KeyPair> {
        self.signer.clone()
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

    /// What checks invocations against these keys.
    pub(crate) fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }

    /// Takes `revocation` to heart, when a key trusted here issued it.
    pub(crate) fn revoke(
        &self,
        revocation: &lattice_interfaces::protocol::rpc::GrantRevocation,
    ) -> Result<(), String> {
        self.verifier.revoke(revocation)
    }
}

/// A signing key for one run of a provider process, and the grants that
/// vouch for it: issued by the host's cluster key, bound to the host, each
/// good for `lifetime`. The seed and grants go on the process's stdin,
/// never the host's own key.
pub(crate) struct ProviderKey {
    issuer: Arc<KeyPair>,
    key: KeyPair,
    lattice: String,
    provider_id: String,
    host_id: String,
    lifetime: Duration,
    /// The latest expiry granted, for the revocation.
    granted_until: std::sync::atomic::AtomicU64,
}

impl ProviderKey {
    /// A fresh key for provider `provider_id` of host `host_id` in
    /// `lattice`.
    pub(crate) fn new(
        keys: &ClusterKeys,
        lattice: &str,
        provider_id: &str,
        host_id: &str,
        lifetime: Duration,
    ) -> Self {
        Self {
            issuer: keys.signer.clone(),
            key: KeyPair::new_cluster(),
            lattice: lattice.to_string(),
            provider_id: provider_id.to_string(),
            host_id: host_id.to_string(),
            lifetime,
            granted_until: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The public key.
    pub(crate) fn public_key(&self) -> String {
        self.key.public_key()
    }

    /// The seed, for the process alone.
    pub(crate) fn seed(&self) -> Result<String, String> {
        self.key.seed().map_err(|e| e.to_string())
    }

    /// A grant good from now for the key's lifetime.
    pub(crate) fn grant(&self) -> Result<ProviderGrant, String> {
        let lifetime = u64::try_from(self.lifetime.as_millis()).unwrap_or(u64::MAX);
        let expires_ms = unix_ms().saturating_add(lifetime);
        let grant = ProviderGrant::issue(
            &self.issuer,
            GrantTerms {
                provider_id: &self.provider_id,
                key: &self.key.public_key(),
                host_id: &self.host_id,
                lattice: &self.lattice,
                expires_ms,
            },
        )
        .map_err(|e| e.to_string())?;
        self.granted_until
            .fetch_max(expires_ms, std::sync::atomic::Ordering::Relaxed);
        Ok(grant)
    }

    /// The end of the key: refused by every host until its last grant
    /// would have expired.
    pub(crate) fn revocation(&self) -> Result<GrantRevocation, String> {
        let until = self
            .granted_until
            .load(std::sync::atomic::Ordering::Relaxed);
        GrantRevocation::issue(&self.issuer, &self.lattice, &self.key.public_key(), until)
            .map_err(|e| e.to_string())
    }
}

/// Both sides of inter-host calls for one host.
pub(crate) struct Rpc {
    pub(crate) client: async_nats::Client,
    pub(crate) subjects: Subjects,
    pub(crate) host: Host,
    pub(crate) keys: ClusterKeys,
    pub(crate) events: EventPublisher,
    caller: Caller,
    callee: Callee,
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
        let caller = Caller::new(
            client.clone(),
            subjects.clone(),
            keys.signer.clone(),
            host.id().as_str(),
            None,
            call_timeout,
        );
        let caller = match &keys.mac {
            Some(key) => caller.sealing(key.clone()),
            None => caller,
        };
        let callee = Callee::new(
            client.clone(),
            keys.verifier.clone(),
            MAX_CONCURRENT_INVOCATIONS,
        )
        .within(host.payload_budget().clone());
        Self {
            client,
            subjects,
            host,
            keys,
            events,
            caller,
            callee,
        }
    }

    /// Calls `function` of `interface` on `link`'s target on another host.
    pub(crate) async fn invoke(
        &self,
        link: &Link,
        interface: &str,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        self.caller
            .invoke(Call {
                link,
                interface,
                function,
                payload,
            })
            .await
    }

    /// The invocations being served, for draining.
    pub(crate) fn serving_tasks(&self) -> &tokio_util::task::TaskTracker {
        self.callee.tasks()
    }
}

/// Serves verified invocations of one target on this host.
struct HostInvocations {
    host: Host,
    target: ComponentId,
    events: EventPublisher,
}

impl InvocationHandler for HostInvocations {
    fn serve(&self, invocation: Invocation, payload: Vec<u8>) -> ServeFuture<'_> {
        Box::pin(
            self.host
                .serve_invocation(&self.target, invocation, payload),
        )
    }

    fn here(&self) -> bool {
        self.host.runs_here(&self.target)
    }

    fn refused(&self, invocation: Option<&Invocation>, refusal: &InvocationError) {
        let events = self.events.clone();
        let event = LatticeEvent::InvocationRefused(InvocationRefusal {
            host_id: Some(self.host.id().clone()),
            provider_id: None,
            target: self.target.to_string(),
            invocation_id: invocation.map(|i| shown(&i.id).into_owned()),
            origin_host: invocation.map(|i| shown(&i.origin_host).into_owned()),
            reason: refusal.message.clone(),
        });
        tokio::spawn(async move { events.publish(event).await });
    }
}

/// The host's handle for HTTP calls to other hosts.
pub(crate) struct RemoteHostCalls(pub(crate) Arc<Rpc>);

impl lattice_contract::RemoteInvoke for RemoteHostCalls {
    fn call_raw(
        &self,
        link: Link,
        interface: String,
        function: String,
        payload: Vec<u8>,
    ) -> lattice_contract::RawFuture {
        let rpc = self.0.clone();
        Box::pin(async move { rpc.invoke(&link, &interface, &function, payload).await })
    }
}

impl RemoteCalls for RemoteHostCalls {
    fn call_http(&self, link: Link, request: http::Request<HttpBody>) -> HandleFuture {
        let rpc = self.0.clone();
        Box::pin(async move {
            // The body is read whole before it crosses, holding room in the
            // host's budget until the answer is back: slow or large uploads
            // cannot take the host's memory.
            let (payload, held) = rpc
                .host
                .payload_budget()
                .encode_request(request, link.target.as_str())
                .await?;
            let answer = rpc
                .invoke(&link, INCOMING_HANDLER, "handle", payload)
                .await?;
            drop(held);
            decode_response(&answer)
        })
    }

    fn publish_event(&self, event: LatticeEvent) {
        let events = self.0.events.clone();
        tokio::spawn(async move { events.publish(event).await });
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
            // Checked, not held: the results leave this host's hands here.
            let (results, _checked) = decode_values_within(
                &answer,
                rpc.host.payload_budget(),
                &format!("results of {interface}.{function} from {}", link.target),
            )?;
            Ok(results)
        })
    }
}

/// What the owner of a host's `rpc` subscriptions is asked to do.
enum SubscriptionCommand {
    /// Subscribe to what runs now, drop what left, flush; then answer.
    Sync(tokio::sync::oneshot::Sender<()>),
}

/// Why the owner of the subscriptions stopped.
#[derive(Debug)]
enum SubscriptionsEnded {
    /// The host leaves the lattice.
    Stopped,
    /// The host is gone: nothing can change any more.
    HostGone,
}

/// A handle on the task that owns this host's `rpc` subscriptions: one
/// per actor and in-process provider, following them as they start and
/// stop. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Subscriptions {
    commands: tokio::sync::mpsc::Sender<SubscriptionCommand>,
}

impl Subscriptions {
    /// Starts the owning task on `tasks`; it ends with `stop`.
    pub(crate) fn start(
        rpc: Arc<Rpc>,
        stop: CancellationToken,
        tasks: &tokio_util::task::TaskTracker,
    ) -> Self {
        let (commands, received) = tokio::sync::mpsc::channel(16);
        tasks.spawn(async move {
            let ended = own_subscriptions(rpc, received, stop).await;
            tracing::debug!(?ended, "rpc subscriptions closed");
        });
        Self { commands }
    }

    /// Returns once the server routes calls for everything that runs on
    /// this host now (control requests that start an actor wait for it
    /// before replying).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the subscriptions are synced anyway.
    pub(crate) async fn sync(&self) {
        let (done, synced) = tokio::sync::oneshot::channel();
        if self
            .commands
            .send(SubscriptionCommand::Sync(done))
            .await
            .is_ok()
        {
            let _ = synced.await;
        }
    }
}

/// The owner's loop: syncs on every change of what runs and on request.
async fn own_subscriptions(
    rpc: Arc<Rpc>,
    mut commands: tokio::sync::mpsc::Receiver<SubscriptionCommand>,
    stop: CancellationToken,
) -> SubscriptionsEnded {
    let mut serving: HashMap<ComponentId, CancellationToken> = HashMap::new();
    let mut changes = rpc.host.components_changed();
    rpc.sync(&mut serving, &stop).await;
    let ended = loop {
        tokio::select! {
            () = stop.cancelled() => break SubscriptionsEnded::Stopped,
            command = commands.recv() => match command {
                Some(SubscriptionCommand::Sync(done)) => {
                    rpc.sync(&mut serving, &stop).await;
                    let _ = done.send(());
                }
                None => break SubscriptionsEnded::Stopped,
            },
            changed = changes.changed() => match changed {
                Ok(()) => rpc.sync(&mut serving, &stop).await,
                Err(_) => break SubscriptionsEnded::HostGone,
            },
        }
    };
    for token in serving.values() {
        token.cancel();
    }
    ended
}

impl Rpc {
    /// Subscribes to the calls of every actor and in-process provider on
    /// this host that has no subscription in `serving` yet, drops those
    /// that left, and flushes, so that when it returns the server routes
    /// calls for every one of them here.
    async fn sync(
        self: &Arc<Self>,
        serving: &mut HashMap<ComponentId, CancellationToken>,
        stop: &CancellationToken,
    ) {
        // A set: with thousands of actors, `contains` below must not scan.
        let mut running: std::collections::HashSet<ComponentId> =
            self.host.actors().iter().map(|a| a.id().clone()).collect();
        running.extend(self.host.in_process_providers());
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
                    let handler = Arc::new(HostInvocations {
                        host: self.host.clone(),
                        target: id.clone(),
                        events: self.events.clone(),
                    });
                    let (callee, target, stop) =
                        (self.callee.clone(), id.to_string(), token.clone());
                    tokio::spawn(
                        async move { callee.serve(target, subscription, handler, stop).await },
                    );
                    serving.insert(id, token);
                }
                Err(error) => {
                    tracing::warn!(target = %id, %error, "cannot subscribe to its calls")
                }
            }
        }
        // Callable once the server has the subscriptions, not merely once
        // they left this process.
        if let Err(error) =
            lattice_rpc::server_caught_up(&self.client, std::time::Duration::from_secs(5)).await
        {
            tracing::warn!(%error, "cannot confirm the call subscriptions with the server");
        }
    }
}

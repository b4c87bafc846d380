//! The messaging provider on NATS.
//!
//! Two kinds of link:
//! - **consumer**: actor → provider over `wasmcloud:messaging/consumer`; the
//!   actor may publish and make requests (with a timeout). The link's
//!   `target_config` (or the provider's config) may name `url` (or
//!   wasmCloud's `cluster_uris`), the NATS server (default
//!   `nats://127.0.0.1:4222`), and `subjects` the patterns
//!   it may send on; the lattice's and NATS's own subjects (`lattice.>`,
//!   `$JS.>`, `$KV.>`, `$O.>`, `$SYS.>`) are refused whatever it says (see
//!   [`SubjectPolicy`]).
//! - **handler**: provider → actor over `wasmcloud:messaging/handler`; the
//!   link's `source_config` names `subscriptions=a.b,c.>` and optionally
//!   `queue_group`; every message on those subjects is handed to the actor's
//!   `handle-message`.
//!
//! One NATS connection per server URL, shared by every link that names it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::capability::{
    Capability, CapabilityFuture, ContractClient, ContractClientFuture, ProviderCalls,
    ProviderContext,
};
use lattice_interfaces::messaging::wire::{MessagingOp, MessagingReply};
use lattice_interfaces::messaging::{Message, MessagingClient, MessagingError, MessagingFuture};
use lattice_interfaces::protocol::provider::Health;
use lattice_interfaces::{standard, ComponentId, Interface, InvocationError, Link, LinkKey};
use tokio_util::sync::CancellationToken;

pub use subjects::{check_subscription, SubjectPolicy, RESERVED};

mod subjects;

/// The link settings naming the NATS server: Lattice's `url`, then
/// wasmCloud's `cluster_uris` (comma-separated).
const SERVER: &[&str] = &["url", "cluster_uris"];

/// The provider kind manifests name to run this provider.
pub const KIND: &str = "messaging-nats";

/// First wait before a handler link tries its NATS server again.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between tries.
const RETRY_MAX: Duration = Duration::from_secs(5);

/// Most messages of one handler link being handled at once.
const MAX_IN_FLIGHT: usize = 256;

/// The NATS server used when no `url` is configured.
pub const DEFAULT_URL: &str = "nats://127.0.0.1:4222";

/// The messaging provider. Cheap to share: its state lives in one
/// [`Arc`] that handler links' tasks hold too.
pub struct MessagingProvider {
    id: ComponentId,
    shared: Arc<Shared>,
}

struct Shared {
    default_url: String,
    calls: Arc<dyn ProviderCalls>,
    /// One connection per server URL, made once; a URL that cannot be
    /// reached does not hold up the others.
    clients: std::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<async_nats::Client>>>>,
    subscriptions: std::sync::Mutex<HashMap<LinkKey, CancellationToken>>,
    /// Handler links that cannot subscribe yet, and why.
    failing: std::sync::Mutex<HashMap<LinkKey, String>>,
}

/// A NATS connection as an actor's messaging client, within its link's
/// subject policy.
struct NatsClient(async_nats::Client, SubjectPolicy);

impl MessagingClient for NatsClient {
    fn publish(&self, message: Message) -> MessagingFuture<'_, ()> {
        Box::pin(async move {
            self.1.check(&message.subject)?;
            if let Some(reply_to) = &message.reply_to {
                self.1.check_reply_to(reply_to)?;
            }
            let result = match message.reply_to {
                Some(reply) => {
                    self.0
                        .publish_with_reply(message.subject, reply, message.body.into())
                        .await
                }
                None => self.0.publish(message.subject, message.body.into()).await,
            };
            result.map_err(|e| MessagingError::Failed(format!("publish failed: {e}")))
        })
    }

    fn request(
        &self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> MessagingFuture<'_, Message> {
        Box::pin(async move {
            self.1.check(&subject)?;
            let timeout = Duration::from_millis(u64::from(timeout_ms.max(1)));
            let reply = tokio::time::timeout(timeout, self.0.request(subject.clone(), body.into()))
                .await
                .map_err(|_| MessagingError::Timeout {
                    subject: subject.clone(),
                    timeout_ms: u64::from(timeout_ms.max(1)),
                })?
                .map_err(|e| MessagingError::Failed(format!("request on {subject} failed: {e}")))?;
            Ok(Message {
                subject: reply.subject.to_string(),
                body: reply.payload.to_vec(),
                reply_to: reply.reply.map(|r| r.to_string()),
            })
        })
    }
}

impl MessagingProvider {
    /// A provider that connects to its config's `url` (default
    /// [`DEFAULT_URL`]) unless a link names another, and hands handler
    /// links' messages to actors through `context`'s calls.
    pub fn new(context: ProviderContext) -> Self {
        Self {
            id: context.id,
            shared: Arc::new(Shared {
                default_url: context
                    .config
                    .get("url")
                    .cloned()
                    .unwrap_or_else(|| DEFAULT_URL.to_string()),
                calls: context.calls,
                clients: std::sync::Mutex::new(HashMap::new()),
                subscriptions: std::sync::Mutex::new(HashMap::new()),
                failing: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The messaging client for consumer `link`; an unreachable server is
    /// reported to the lattice too.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may drop a half-made connection.
    pub async fn consumer(&self, link: &Link) -> Result<Arc<dyn MessagingClient>, MessagingError> {
        self.shared.consumer(link).await
    }

    /// Serves one consumer operation that arrived over the lattice on
    /// `link`; a failed operation is a [`MessagingReply::Error`] naming it.
    ///
    /// # Cancel safety
    ///
    /// As [`Self::consumer`]; a message already published stays published.
    pub async fn serve(&self, link: &Link, op: MessagingOp) -> MessagingReply {
        let client = match self.consumer(link).await {
            Ok(client) => client,
            Err(e) => return MessagingReply::Error(e.to_string()),
        };
        let result = match op {
            MessagingOp::Publish {
                subject,
                body,
                reply_to,
            } => client
                .publish(Message {
                    subject,
                    body,
                    reply_to,
                })
                .await
                .map(|()| MessagingReply::Done),
            MessagingOp::Request {
                subject,
                body,
                timeout_ms,
            } => client
                .request(subject, body, timeout_ms)
                .await
                .map(MessagingReply::from),
        };
        result.unwrap_or_else(|e| MessagingReply::Error(e.to_string()))
    }
}

impl Capability for MessagingProvider {
    fn put_link(&self, link: &Link) -> Result<(), String> {
        if link.source == self.id && link.carries(standard::MESSAGING_HANDLER) {
            // Subscribing talks to NATS: done in the background, retried
            // until its server answers; failures reach the lattice.
            return self.shared.serve_handler_link(link.clone());
        }
        Ok(())
    }

    fn delete_link(&self, link: &Link) {
        self.shared.delete_handler_link(&link.key());
    }

    fn serves(&self, interface: Interface<'_>) -> bool {
        interface == standard::MESSAGING_CONSUMER
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> CapabilityFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let op: MessagingOp = lattice_interfaces::wire::decode(&payload, "messaging")?;
            lattice_interfaces::wire::encode(&self.serve(&link, op).await)
        })
    }

    fn health(&self) -> Health {
        match self.shared.health() {
            Ok(()) => Health {
                healthy: true,
                message: String::new(),
            },
            Err(message) => Health {
                healthy: false,
                message,
            },
        }
    }

    fn shutdown(&self, _grace: Duration) -> CapabilityFuture<'_, ()> {
        self.shared.shutdown();
        Box::pin(async {})
    }

    fn client(&self, interface: Interface<'_>, link: &Link) -> Option<ContractClientFuture<'_>> {
        if interface != standard::MESSAGING_CONSUMER {
            return None;
        }
        let link = link.clone();
        Some(Box::pin(async move {
            let consumer = self.consumer(&link).await?;
            Ok(ContractClient::new(consumer))
        }))
    }
}

impl Shared {
    async fn client(&self, url: &str) -> Result<async_nats::Client, MessagingError> {
        let cell = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(url.to_string())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async {
            async_nats::ConnectOptions::new()
                .connection_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(|e| MessagingError::Unreachable {
                    url: lattice_interfaces::redacted(url),
                    reason: lattice_interfaces::redacted_in(&e.to_string(), url),
                })
        })
        .await
        .cloned()
    }

    async fn consumer(&self, link: &Link) -> Result<Arc<dyn MessagingClient>, MessagingError> {
        let url = link
            .config_of(SERVER)
            .unwrap_or(&self.default_url)
            .to_string();
        match self.client(&url).await {
            Ok(client) => Ok(Arc::new(NatsClient(client, SubjectPolicy::of(link)))),
            Err(error) => {
                self.calls.report_error(link, &error.to_string());
                Err(error)
            }
        }
    }

    /// Serves handler `link` (provider → actor) in the background:
    /// subscribes to its `subscriptions` and delivers every message to the
    /// link's target. Until its NATS server can be reached it tries again
    /// with backoff (100 ms doubling to 5 s), reporting to the lattice each time
    /// a try fails after one that did not. Putting the link again replaces
    /// its subscriptions; deleting it stops them.
    ///
    /// # Errors
    ///
    /// A link without `subscriptions`, refused at once.
    fn serve_handler_link(self: &Arc<Self>, link: Link) -> Result<(), String> {
        let subjects = subjects::subject_list(&link, "subscriptions");
        if subjects.is_empty() {
            // A link put again without subscriptions serves none.
            self.delete_handler_link(&link.key());
            return Err(format!("link {link}: no `subscriptions` in its source_config (e.g. subscriptions = \"orders.>\")"));
        }
        if let Some(refused) = subjects
            .iter()
            .find_map(|pattern| subjects::check_subscription(pattern).err())
        {
            self.delete_handler_link(&link.key());
            return Err(format!("link {link}: {refused}"));
        }
        let stop = CancellationToken::new();
        if let Some(previous) = self
            .subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(link.key(), stop.clone())
        {
            previous.cancel();
        }
        let provider = self.clone();
        tokio::spawn(async move {
            let mut backoff = lattice_rpc::Backoff::new(RETRY_FIRST, RETRY_MAX);
            let mut failing = false;
            let streams = loop {
                match provider.subscribe(&link, &subjects).await {
                    Ok(streams) => break streams,
                    Err(error) => {
                        tracing::warn!(%link, %error, retry_in = ?backoff.delay(), "cannot start messaging subscriptions");
                        provider
                            .failing()
                            .insert(link.key(), format!("link {link}: {error}"));
                        if !failing {
                            provider.calls.report_error(&link, &error);
                            failing = true;
                        }
                    }
                }
                if !backoff.wait(&stop).await {
                    return;
                }
            };
            provider.note_failing(&link, &stop, None);
            tracing::info!(%link, subjects = ?subjects, "messaging subscriptions started");
            provider.deliver(link, streams, stop).await;
        });
        Ok(())
    }

    async fn subscribe(
        &self,
        link: &Link,
        subjects: &[String],
    ) -> Result<Vec<async_nats::Subscriber>, String> {
        let url = link
            .config_of(SERVER)
            .unwrap_or(&self.default_url)
            .to_string();
        let client = self.client(&url).await.map_err(|e| e.to_string())?;
        let queue = link.config("queue_group").map(str::to_string);
        let mut streams = Vec::new();
        for subject in subjects {
            let subscriber = match &queue {
                Some(group) => client.queue_subscribe(subject.clone(), group.clone()).await,
                None => client.subscribe(subject.clone()).await,
            }
            .map_err(|e| format!("cannot subscribe to {subject}: {e}"))?;
            streams.push(subscriber);
        }
        let _ = client.flush().await;
        Ok(streams)
    }

    /// Hands every message on `streams` to `link`'s target until `stop`.
    async fn deliver(
        &self,
        link: Link,
        streams: Vec<async_nats::Subscriber>,
        stop: CancellationToken,
    ) {
        let mut messages = futures::stream::select_all(streams);
        let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => break,
                message = messages.next() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            let message = Message {
                subject: message.subject.to_string(),
                body: message.payload.to_vec(),
                reply_to: message.reply.map(|r| r.to_string()),
            };
            // Each message is handled on its own task, at most
            // MAX_IN_FLIGHT at once; past that the subscription waits.
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let (calls, link) = (self.calls.clone(), link.clone());
            tokio::spawn(async move {
                let _permit = permit;
                if let Err(error) = calls.deliver_message(&link, message).await {
                    tracing::warn!(%link, %error, "message handler failed");
                }
            });
        }
    }

    /// Handler links that cannot subscribe yet, and why.
    fn failing(&self) -> std::sync::MutexGuard<'_, HashMap<LinkKey, String>> {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that handler `link` cannot subscribe (`Some(why)`) or now
    /// can (`None`), unless its task was stopped: a deleted or replaced
    /// link leaves no stale entry behind.
    fn note_failing(&self, link: &Link, stop: &CancellationToken, why: Option<String>) {
        let mut failing = self.failing();
        if stop.is_cancelled() {
            return;
        }
        match why {
            Some(why) => failing.insert(link.key(), why),
            None => failing.remove(&link.key()),
        };
    }

    /// Whether every handler link is subscribed: `Err` names those that are
    /// not and why (their NATS server cannot be reached).
    fn health(&self) -> Result<(), String> {
        let failing = self.failing();
        if failing.is_empty() {
            return Ok(());
        }
        let mut reasons: Vec<&str> = failing.values().map(String::as_str).collect();
        reasons.sort_unstable();
        Err(reasons.join("; "))
    }

    /// Stops the subscriptions of handler link `key`.
    fn delete_handler_link(&self, key: &LinkKey) {
        if let Some(stop) = self
            .subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key)
        {
            stop.cancel();
        }
        // After the cancel: a task that was about to note a failure sees it.
        self.failing().remove(key);
    }

    /// Stops every subscription.
    fn shutdown(&self) {
        for (_, stop) in self
            .subscriptions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .drain()
        {
            stop.cancel();
        }
    }
}

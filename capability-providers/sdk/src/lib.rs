//! The provider SDK: what turns a provider into a standalone binary on the
//! lattice.
//!
//! 1. Implement [`ProviderHandler`] for the provider: link put and delete,
//!    and one invocation at a time.
//! 2. Call [`run`] from `main`: it reads the [`HostData`] the host wrote on
//!    stdin, connects to NATS, learns the provider's links from the lattice's
//!    KV bucket (and every change to them), serves signed invocations on
//!    `lattice.<L>.rpc.<provider-id>`, answers health checks, and returns
//!    when SIGTERM or SIGINT arrives.
//!
//! Invocations are checked as a host checks them (trusted cluster key,
//! deadline, each id once) before the handler sees them. A provider that
//! calls actors itself (messages to a handler) builds its handler with
//! [`run_with`], which hands it [`LatticeCalls`]: invocations signed with
//! the cluster key in the host data.

mod connect;
pub mod events;
mod invoke;
pub mod payloads;
pub mod rpc;

pub use connect::{connect, redacted};
pub use invoke::{LatticeCalls, DEFAULT_CALL_TIMEOUT};

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_nats::jetstream::kv::Operation;
use futures::StreamExt as _;
use lattice_interfaces::protocol::provider::{Health, HostData};
use lattice_interfaces::protocol::rpc::{Invocation, InvocationResponse, Verifier};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ErrorKind, InvocationError, Link};

/// Most calls a provider process serves at once.
pub const MAX_CONCURRENT_CALLS: usize = 1024;

/// The future a handler returns.
pub type HandlerFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a provider does; [`run`] calls it.
pub trait ProviderHandler: Send + Sync + 'static {
    /// A link naming this provider was put (or changed).
    fn put_link(&self, link: Link) -> HandlerFuture<'_, ()>;
    /// A link naming this provider was deleted.
    fn delete_link(&self, link: Link) -> HandlerFuture<'_, ()>;
    /// Serves `function` called over `link` with `payload`.
    fn invoke(
        &self,
        link: Link,
        function: String,
        payload: Vec<u8>,
    ) -> HandlerFuture<'_, Result<Vec<u8>, InvocationError>>;
    /// Whether the provider can serve now.
    fn health(&self) -> HandlerFuture<'_, Health> {
        Box::pin(async {
            Health {
                healthy: true,
                message: String::new(),
            }
        })
    }
    /// The process is stopping (SIGTERM): finish what is in flight.
    fn shutdown(&self) -> HandlerFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Why a provider process could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// stdin held no host data.
    #[error("cannot read host data from stdin: {0}")]
    HostData(String),
    /// NATS or the lattice bucket is unreachable.
    #[error("cannot join lattice {lattice} at {url}: {reason}")]
    Join {
        /// The lattice.
        lattice: String,
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
}

/// The whole `main` of a provider binary: logs to stderr (filtered by
/// `RUST_LOG`, default `info`), reads the host data on stdin, runs the
/// handler `make` builds until SIGTERM, and says why it could not.
pub async fn main_with(
    make: impl FnOnce(&HostData, Arc<LatticeCalls>) -> Arc<dyn ProviderHandler>,
) -> std::process::ExitCode {
    init_tracing();
    let result = match read_host_data() {
        Ok(data) => {
            let copy = data.clone();
            run_with(data, move |calls| make(&copy, calls)).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: `info`, NATS client
/// chatter at `warn`): how every Lattice process logs.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Decodes the MessagePack arguments of a call; garbage is a
/// `bad_request` naming `what` was malformed.
///
/// # Errors
///
/// When `payload` is not a `T`.
pub fn decode<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    what: &str,
) -> Result<T, InvocationError> {
    rmp_serde::from_slice(payload).map_err(|e| {
        InvocationError::new(ErrorKind::BadRequest, format!("malformed {what} call: {e}"))
    })
}

/// Encodes an answer as MessagePack with named fields.
///
/// # Errors
///
/// When `value` cannot be encoded.
pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, InvocationError> {
    rmp_serde::to_vec_named(value)
        .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()))
}

/// Reads the host data: one JSON line on stdin.
pub fn read_host_data() -> Result<HostData, RunError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| RunError::HostData(e.to_string()))?;
    serde_json::from_str(&line).map_err(|e| RunError::HostData(e.to_string()))
}

/// Runs `handler` on the lattice `data` names until SIGTERM or SIGINT.
///
/// # Cancel safety
///
/// Dropping the future stops serving at once, without draining.
pub async fn run(handler: Arc<dyn ProviderHandler>, data: HostData) -> Result<(), RunError> {
    run_with(data, |_| handler).await
}

/// Like [`run`], for a provider that calls actors: `make` builds the
/// handler from the provider's [`LatticeCalls`] once NATS is reached.
///
/// # Cancel safety
///
/// Dropping the future stops serving at once, without draining.
pub async fn run_with(
    data: HostData,
    make: impl FnOnce(Arc<LatticeCalls>) -> Arc<dyn ProviderHandler>,
) -> Result<(), RunError> {
    let join_error = |reason: String| RunError::Join {
        lattice: data.lattice.clone(),
        url: redacted(&data.nats_url),
        reason,
    };
    let subjects = Subjects::new(&data.lattice).map_err(|e| join_error(e.to_string()))?;
    let signer = data
        .invocation_seed
        .as_deref()
        .map(nkeys::KeyPair::from_seed)
        .transpose()
        .map_err(|e| join_error(format!("invocation_seed is not a valid seed: {e}")))?;
    let client = connect(
        &data.nats_url,
        &data.nats,
        &format!("provider {}", data.provider_id),
    )
    .await
    .map_err(join_error)?;
    let handler = make(Arc::new(LatticeCalls::new(
        client.clone(),
        subjects.clone(),
        data.provider_id.clone(),
        data.host_id.clone(),
        signer,
        data.invocation_grant.clone(),
    )));
    let js = async_nats::jetstream::new(client.clone());
    let kv = js.get_key_value(subjects.bucket()).await.map_err(|e| {
        join_error(format!(
            "no lattice state bucket {}: {e}",
            subjects.bucket()
        ))
    })?;
    let id = data.provider_id.clone();

    // Links: watch first, then read what is there, so no change is missed.
    let mut watch = kv
        .watch("link.>")
        .await
        .map_err(|e| join_error(e.to_string()))?;
    let mut links: HashMap<String, Link> = HashMap::new();
    let mut names = Vec::new();
    // An empty bucket may have no key stream at all: no links yet.
    if let Ok(mut keys) = kv.keys().await {
        while let Some(Ok(key)) = keys.next().await {
            names.push(key);
        }
    }
    for key in names {
        if let Ok(Some(entry)) = kv.entry(key.clone()).await {
            if entry.operation == Operation::Put {
                if let Ok(link) = serde_json::from_slice::<Link>(&entry.value) {
                    if link.target.as_str() == id || link.source.as_str() == id {
                        handler.put_link(link.clone()).await;
                        links.insert(key, link);
                    }
                }
            }
        }
    }

    let verifier = Arc::new(Verifier::new(&data.trusted_cluster_keys));
    let mut calls = client
        .queue_subscribe(subjects.rpc(&id), id.clone())
        .await
        .map_err(|e| join_error(e.to_string()))?;
    let mut health = client
        .subscribe(subjects.provider_health(&id))
        .await
        .map_err(|e| join_error(e.to_string()))?;
    let _ = client.flush().await;
    tracing::info!(provider = %id, lattice = %data.lattice, "provider serving");
    let links = Arc::new(tokio::sync::RwLock::new(links));

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| join_error(e.to_string()))?;
    // Why serving ended without being asked to, if it did.
    let mut lost: Option<String> = None;
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_CALLS));
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            change = watch.next() => {
                let entry = match change {
                    Some(Ok(entry)) => entry,
                    Some(Err(error)) => {
                        tracing::warn!(%error, "link watch error");
                        continue;
                    }
                    None => {
                        // Without the watch, links would go stale: exit, and
                        // the supervising host restarts the process, which
                        // reads every link again.
                        lost = Some("the watch of the lattice's links ended".into());
                        break;
                    }
                };
                let mut known = links.write().await;
                match entry.operation {
                    Operation::Put => {
                        let Ok(link) = serde_json::from_slice::<Link>(&entry.value) else {
                            tracing::warn!(key = %entry.key, "unreadable link in lattice state; ignored");
                            continue;
                        };
                        if link.target.as_str() == id || link.source.as_str() == id {
                            handler.put_link(link.clone()).await;
                            known.insert(entry.key, link);
                        } else if let Some(moved) = known.remove(&entry.key) {
                            // The link now names another provider: it no
                            // longer authorises calls to this one.
                            handler.delete_link(moved).await;
                        }
                    }
                    Operation::Delete | Operation::Purge => {
                        if let Some(link) = known.remove(&entry.key) {
                            handler.delete_link(link).await;
                        }
                    }
                }
            }
            check = health.next() => {
                let Some(check) = check else {
                    lost = Some("the health subscription ended".into());
                    break;
                };
                if let Some(reply) = check.reply {
                    let answer = handler.health().await;
                    let _ = client.publish(reply, serde_json::to_vec(&answer).unwrap_or_default().into()).await;
                }
            }
            call = calls.next() => {
                let Some(call) = call else {
                    lost = Some("the subscription to its calls ended".into());
                    break;
                };
                let Some(reply) = call.reply.clone() else { continue };
                // Bounded: past the limit, calls wait here (and NATS buffers).
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                let (handler, verifier, links, client, id) = (handler.clone(), verifier.clone(), links.clone(), client.clone(), id.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    let response = answer(&*handler, &verifier, &links, &id, &client, &call.payload).await;
                    match response.encode() {
                        Ok(bytes) => { let _ = client.publish(reply, bytes.into()).await; }
                        Err(error) => tracing::warn!(%error, "cannot encode a response"),
                    }
                });
            }
        }
    }
    tracing::info!(provider = %id, "provider stopping");
    handler.shutdown().await;
    let _ = client.flush().await;
    match lost {
        Some(reason) => Err(join_error(reason)),
        None => Ok(()),
    }
}

#[tracing::instrument(level = "debug", skip_all, fields(provider = id))]
async fn answer(
    handler: &dyn ProviderHandler,
    verifier: &Verifier,
    links: &tokio::sync::RwLock<HashMap<String, Link>>,
    id: &str,
    client: &async_nats::Client,
    bytes: &[u8],
) -> InvocationResponse {
    let invocation = match Invocation::decode(bytes) {
        Ok(invocation) => invocation,
        Err(e) => {
            return InvocationResponse {
                id: String::new(),
                error: Some(InvocationError::new(ErrorKind::BadRequest, e.to_string())),
                payload: Vec::new(),
                payload_ref: None,
            }
        }
    };
    tracing::debug!(
        invocation = %invocation.id, source = %invocation.source,
        interface = %invocation.interface, function = %invocation.function, "invocation"
    );
    let result = async {
        verifier.verify(id, &invocation).inspect_err(|refusal| {
            tracing::warn!(invocation = %invocation.id, reason = %refusal.message, "invocation refused");
        })?;
        let (namespace_package, interface) = invocation
            .interface
            .rsplit_once('/')
            .unwrap_or((invocation.interface.as_str(), ""));
        let link = links
            .read()
            .await
            .values()
            .find(|l| {
                l.target.as_str() == id
                    && l.source.as_str() == invocation.source
                    && l.name == invocation.link_name
                    && format!("{}:{}", l.namespace, l.package) == namespace_package
                    && l.interfaces.iter().any(|i| i == interface)
            })
            .cloned()
            .ok_or_else(|| {
                InvocationError::new(
                    ErrorKind::Unauthorized,
                    format!(
                        "no link from {} for {} to provider {id}",
                        invocation.source, invocation.interface
                    ),
                )
            })?;
        let payload = match &invocation.payload_ref {
            Some(body) => payloads::pull(client, body, invocation.deadline_ms).await?,
            None => invocation.payload.clone(),
        };
        // The caller gives up at the deadline: so does the provider.
        let left = std::time::Duration::from_millis(
            invocation
                .deadline_ms
                .saturating_sub(lattice_interfaces::protocol::rpc::unix_ms()),
        );
        let answer = tokio::time::timeout(
            left,
            handler.invoke(link, invocation.function.clone(), payload),
        )
        .await
        .map_err(|_| {
            InvocationError::new(
                ErrorKind::Timeout,
                format!("{} did not finish before the call's deadline", invocation.function),
            )
        })??;
        payloads::place(client, answer, invocation.deadline_ms).await
    }
    .await;
    match result {
        Ok((payload, payload_ref)) => InvocationResponse {
            id: invocation.id,
            error: None,
            payload,
            payload_ref,
        },
        Err(error) => InvocationResponse {
            id: invocation.id,
            error: Some(error),
            payload: Vec::new(),
            payload_ref: None,
        },
    }
}

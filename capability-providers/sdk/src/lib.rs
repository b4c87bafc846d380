//! The provider SDK: what turns a [`Capability`] into a standalone binary on
//! the lattice.
//!
//! ```no_run
//! # struct MyProvider;
//! # impl MyProvider { fn new(_: lattice_interfaces::capability::ProviderContext) -> Self { Self } }
//! # impl lattice_interfaces::capability::Capability for MyProvider {
//! #     fn put_link(&self, _: &lattice_interfaces::Link) -> Result<(), String> { Ok(()) }
//! #     fn delete_link(&self, _: &lattice_interfaces::Link) {}
//! # }
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     lattice_provider_sdk::main_with(MyProvider::new).await
//! }
//! ```
//!
//! [`main_with`] reads the [`HostData`] the host wrote on stdin, connects to
//! NATS, builds the provider with a [`ProviderContext`] whose calls go over
//! the lattice, hands it every link that names it from the lattice's KV
//! bucket (and every change to them), serves its verified invocations on
//! `lattice.<L>.rpc.<provider-id>` through `lattice_rpc`'s callee loop,
//! answers health checks, and drains it when SIGTERM or SIGINT arrives.

mod calls;
mod links;

pub use calls::DEFAULT_CALL_TIMEOUT;
pub use lattice_rpc::{init_tracing, telemetry, trace_span};

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::capability::{Capability, ProviderContext};
use lattice_interfaces::protocol::events::{InvocationRefusal, LatticeEvent};
use lattice_interfaces::protocol::link_entry::LinkSigners;
use lattice_interfaces::protocol::provider::{HostData, HostMessage};
use lattice_interfaces::protocol::rpc::Invocation;
use lattice_interfaces::protocol::subjects::{is_reply_inbox, Subjects};
use lattice_interfaces::{ComponentId, ErrorKind, Interface, InvocationError, Link};
use lattice_rpc::{connect, redacted, Callee, Caller, EventPublisher, InvocationHandler, Verifier};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use lattice_rpc::{LinkChange, LinkWatch};
use links::{LinkApplier, LinkTable};

/// Most calls a provider process serves at once.
pub const MAX_CONCURRENT_CALLS: usize = 1024;

/// How long calls in flight may finish when the process stops.
const DRAIN: Duration = Duration::from_secs(5);

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
/// `RUST_LOG`, default `info`), exports traces when its host gave it
/// `OTEL_EXPORTER_OTLP_ENDPOINT`, reads the host data on stdin, runs the
/// provider `make` builds until SIGTERM, and says why it could not.
pub async fn main_with<P: Capability>(
    make: impl FnOnce(ProviderContext) -> P,
) -> std::process::ExitCode {
    let _telemetry = lattice_rpc::logging::init(&lattice_rpc::logging::Settings {
        default_filter: None,
        service: service_name(),
        format: lattice_rpc::logging::LogFormat::Text,
        otlp_endpoint: std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .ok()
            .filter(|url| !url.is_empty()),
    });
    let result = match read_host_data() {
        Ok(data) => run(data, make).await,
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

/// The name traces carry: the binary's file name (`lattice-provider-keyvalue`).
fn service_name() -> String {
    std::env::args_os()
        .next()
        .and_then(|path| {
            std::path::Path::new(&path)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "lattice-provider".to_string())
}

/// Reads the host data: one JSON line on stdin.
///
/// # Errors
///
/// When stdin holds no host data.
pub fn read_host_data() -> Result<HostData, RunError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| RunError::HostData(e.to_string()))?;
    serde_json::from_str(&line).map_err(|e| RunError::HostData(e.to_string()))
}

/// Reads what the host writes after the host data, if `watch` (the host
/// holds stdin open while it wants the process): each renewed grant goes to
/// `caller`; resolves when stdin ends. Never resolves otherwise.
async fn host_messages(watch: bool, caller: Option<Arc<Caller>>) {
    if !watch {
        return std::future::pending().await;
    }
    // A blocking read on a thread of its own (not tokio's blocking pool,
    // which the runtime would wait for at exit).
    let (ended, end) = tokio::sync::oneshot::channel::<()>();
    let reader = std::thread::Builder::new()
        .name("host-messages".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut line = String::new();
            loop {
                line.clear();
                match std::io::BufRead::read_line(&mut stdin, &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                match serde_json::from_str::<HostMessage>(&line) {
                    Ok(HostMessage::RenewGrant(grant)) => {
                        tracing::debug!(expires_ms = grant.expires_ms, "grant renewed");
                        if let Some(caller) = &caller {
                            caller.renew_grant(grant);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "unreadable message from the host on stdin; ignored");
                    }
                }
            }
            let _ = ended.send(());
        });
    if reader.is_err() {
        return std::future::pending().await;
    }
    let _ = end.await;
}

/// Serves verified invocations over the links that name this provider.
struct ProviderInvocations {
    id: String,
    provider: Arc<dyn Capability>,
    links: LinkTable,
    events: EventPublisher,
}

impl InvocationHandler for ProviderInvocations {
    fn serve(&self, invocation: Invocation, payload: Vec<u8>) -> lattice_rpc::ServeFuture<'_> {
        let span = trace_span!(
            "provider.call",
            provider = %self.id,
            interface = %invocation.interface,
            function = %invocation.function
        );
        Box::pin(
            async move {
                let link = self.link_for(&invocation)?;
                self.provider
                    .invoke(link, invocation.function, payload)
                    .await
            }
            .instrument(span),
        )
    }

    fn refused(&self, invocation: Option<&Invocation>, refusal: &InvocationError) {
        let events = self.events.clone();
        let event = LatticeEvent::InvocationRefused(InvocationRefusal {
            host_id: None,
            provider_id: Some(self.id.to_string()),
            target: self.id.to_string(),
            invocation_id: invocation.map(|i| lattice_interfaces::shown(&i.id).into_owned()),
            origin_host: invocation.map(|i| lattice_interfaces::shown(&i.origin_host).into_owned()),
            reason: refusal.message.clone(),
        });
        tokio::spawn(async move { events.publish(event).await });
    }
}

impl ProviderInvocations {
    /// The link the invocation travels over; deny by default.
    fn link_for(&self, invocation: &Invocation) -> Result<Link, InvocationError> {
        let interface = Interface::parse(&invocation.interface)
            .filter(|interface| self.provider.serves(*interface));
        let found = interface.and_then(|interface| {
            self.links
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .values()
                .find(|l| {
                    l.target.as_str() == self.id
                        && l.source.as_str() == invocation.source
                        && l.name == invocation.link_name
                        && l.carries(interface)
                })
                .cloned()
        });
        found.ok_or_else(|| {
            InvocationError::new(
                ErrorKind::Unauthorized,
                format!(
                    "no link from {} for {} to provider {}",
                    lattice_interfaces::shown(&invocation.source),
                    lattice_interfaces::shown(&invocation.interface),
                    self.id
                ),
            )
        })
    }
}

/// The inbox prefix of provider `id`'s replies: `_INBOX.provider.<id>`, so
/// NATS permissions can let it subscribe there and nowhere else.
pub fn inbox_prefix(id: &ComponentId) -> String {
    format!("_INBOX.provider.{id}")
}

/// Runs the provider `make` builds on the lattice `data` names until
/// SIGTERM or SIGINT, then drains it.
///
/// # Errors
///
/// When NATS or the lattice's bucket cannot be reached at the start, or the
/// subscriptions end for good (the host then restarts the process). A link
/// watch that ends is opened again and every link read again.
///
/// # Cancel safety
///
/// Dropping the future stops serving at once, without draining.
pub async fn run<P: Capability>(
    data: HostData,
    make: impl FnOnce(ProviderContext) -> P,
) -> Result<(), RunError> {
    let join_error = |reason: String| RunError::Join {
        lattice: data.lattice.clone(),
        url: redacted(&data.nats_url),
        reason,
    };
    let subjects = Subjects::new(&data.lattice).map_err(|e| join_error(e.to_string()))?;
    let id =
        ComponentId::new(&data.provider_id).map_err(|e| join_error(format!("provider_id: {e}")))?;
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
        Some(&inbox_prefix(&id)),
    )
    .await
    .map_err(join_error)?;
    let events = EventPublisher::new(client.clone(), subjects.clone(), data.provider_id.clone());
    let caller = signer.map(|signer| {
        Arc::new(Caller::new(
            client.clone(),
            subjects.clone(),
            Arc::new(signer),
            data.host_id.as_str(),
            data.invocation_grant.clone(),
            DEFAULT_CALL_TIMEOUT,
        ))
    });
    let budget = lattice_rpc::budget::PayloadBudget::new(
        data.payload_budget
            .and_then(|bytes| usize::try_from(bytes).ok())
            .unwrap_or(lattice_rpc::budget::DEFAULT_PAYLOAD_BUDGET),
    );
    let calls = calls::NatsProviderCalls {
        provider_id: data.provider_id.clone(),
        host_id: data.host_id.clone(),
        caller: caller.clone(),
        events: events.clone(),
        budget: budget.clone(),
    };
    let context = ProviderContext {
        id: id.clone(),
        config: data.config.clone(),
        calls: Arc::new(calls),
    };
    let provider: Arc<dyn Capability> = Arc::new(make(context.clone()));
    let js = match &data.js_domain {
        Some(domain) => async_nats::jetstream::with_domain(client.clone(), domain),
        None => async_nats::jetstream::new(client.clone()),
    };
    let kv = js.get_key_value(subjects.bucket()).await.map_err(|e| {
        join_error(format!(
            "no lattice state bucket {}: {e}",
            subjects.bucket()
        ))
    })?;

    // Links: every one there is now, read before anything is served, then
    // each change.
    let links: LinkTable = Arc::default();
    let signers = if data.links_from_any_signer {
        LinkSigners::Any
    } else {
        LinkSigners::Trusted(data.trusted_cluster_keys.clone())
    };
    let versions = std::sync::Mutex::default();
    let applier = LinkApplier {
        context: &context,
        provider: &*provider,
        links: &links,
        signers: &signers,
        versions: &versions,
    };
    let (mut watch, snapshot) = LinkWatch::open(kv.clone()).await.map_err(join_error)?;
    applier.apply(LinkChange::Snapshot(snapshot));

    let verifier = Arc::new(Verifier::new(&data.trusted_cluster_keys));
    verifier.serve_lattice(&data.lattice);
    // Keys revoked anywhere in the lattice, before any call is served.
    let revocations = lattice_rpc::revocations::follow(kv, verifier.clone())
        .await
        .map_err(join_error)?;
    let mut revocations = std::pin::pin!(revocations);
    let callee = Callee::new(client.clone(), verifier, MAX_CONCURRENT_CALLS).within(budget);
    let invocations = Arc::new(ProviderInvocations {
        id: data.provider_id.clone(),
        provider: provider.clone(),
        links: links.clone(),
        events,
    });
    let calls_subscription = client
        .queue_subscribe(subjects.rpc(id.as_str()), id.to_string())
        .await
        .map_err(|e| join_error(e.to_string()))?;
    let mut health = client
        .subscribe(subjects.provider_health(id.as_str()))
        .await
        .map_err(|e| join_error(e.to_string()))?;
    let _ = client.flush().await;
    tracing::info!(provider = %id, lattice = %data.lattice, "provider serving");

    let stop_calls = CancellationToken::new();
    let mut serving = {
        let (callee, stop) = (callee.clone(), stop_calls.clone());
        let target = id.to_string();
        tokio::spawn(async move {
            callee
                .serve(target, calls_subscription, invocations, stop)
                .await;
        })
    };
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| join_error(e.to_string()))?;
    let mut host_gone = std::pin::pin!(host_messages(data.exit_with_host, caller));
    // Why serving ended without being asked to, if it did.
    let mut lost: Option<String> = None;
    loop {
        tokio::select! {
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            () = &mut host_gone => {
                // How a host stops its providers, and what a dead host
                // leaves: not a fault of this process.
                tracing::info!(provider = %id, "stdin closed: the host stopped this provider or is gone; stopping");
                break;
            }
            change = watch.next() => applier.apply(change),
            () = &mut revocations => {}
            check = health.next() => {
                let Some(check) = check else {
                    lost = Some("the health subscription ended".into());
                    break;
                };
                if let Some(reply) = check.reply.filter(|r| is_reply_inbox(r)) {
                    let answer = serde_json::to_vec(&provider.health()).unwrap_or_default();
                    let _ = client.publish(reply, answer.into()).await;
                }
            }
            _ = &mut serving => {
                lost = Some("the subscription to its calls ended".into());
                break;
            }
        }
    }
    tracing::info!(provider = %id, "provider stopping");
    stop_calls.cancel();
    callee.tasks().close();
    let _ = tokio::time::timeout(DRAIN, callee.tasks().wait()).await;
    provider.shutdown(DRAIN).await;
    let _ = client.flush().await;
    match lost {
        Some(reason) => Err(join_error(reason)),
        None => Ok(()),
    }
}

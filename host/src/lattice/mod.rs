//! Joining a lattice over NATS: the control interface, events, heartbeats and
//! the lattice state a host mirrors from JetStream KV.
//!
//! 1. [`Lattice::join`] connects to NATS, opens (or creates) the KV bucket
//!    `LATTICE_<L>`, applies every link stored there, subscribes to the
//!    control subjects, flushes, and announces `host_started`.
//! 2. The returned [`Lattice`] answers control requests, sends a heartbeat
//!    every `heartbeat` interval and mirrors link changes, until
//!    [`Lattice::stopped`] fires (a `host.stop` request) or it is told to
//!    [`Lattice::leave`].
//! 3. [`Lattice::leave`] stops answering, announces `host_stopped` and
//!    flushes; the caller then drains the host itself.

mod activation;
mod autoscale;
mod control;
mod placement;
mod process;
mod reconciler;
mod rpc;
mod state;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::control::{op, Audience, CtlReply};
use lattice_interfaces::protocol::events::LatticeEvent;
use lattice_interfaces::protocol::subjects::{is_reply_inbox, Subjects};
use lattice_interfaces::HostId;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

pub use lattice_client::connect::{ConnectError, NatsArgs, DEFAULT_NATS_URL};
pub use lattice_interfaces::protocol::control::MAX_REQUEST_BYTES;
pub use lattice_rpc::EventPublisher;
pub use reconciler::ReconcilerTiming;
pub use rpc::{ClusterKeys, MAX_BODY_BYTES};
pub use state::{DeletedLink, LatticeState, LinkSigning, StateError};

use crate::Host;
use control::Control;

/// Most control requests handled at once; more wait in NATS.
const MAX_CONCURRENT_REQUESTS: usize = 64;

/// How a host takes part in a lattice.
#[derive(Debug, Clone)]
pub struct LatticeConfig {
    /// NATS connection and lattice id.
    pub nats: NatsArgs,
    /// How often to send a heartbeat.
    pub heartbeat: Duration,
    /// Replicas of the KV bucket when this host creates it (clustered NATS).
    pub kv_replicas: usize,
    /// The key invocations are signed with and the keys trusted.
    pub cluster: ClusterKeys,
    /// Deadline of a call to another host.
    pub call_timeout: Duration,
    /// How often provider processes this host runs are health-checked.
    pub provider_health: Duration,
    /// How long each grant of a provider process's key lasts; the host
    /// renews it at half-life while the process runs.
    pub provider_grant: Duration,
    /// Where each provider process's own NATS credentials are
    /// (`DIR/<provider-id>.creds` or `.nk`); none: they get the host's.
    pub provider_credentials: Option<std::path::PathBuf>,
    /// How often the reconciler brings hosts to the lattice's apps (one
    /// host reconciles at a time; see [`ReconcilerTiming`]).
    pub reconcile: ReconcilerTiming,
}

/// Why a host could not join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// The lattice id is not usable.
    #[error(transparent)]
    LatticeId(#[from] lattice_interfaces::protocol::subjects::LatticeIdError),
    /// The reconciler's control client cannot be made.
    #[error("cannot start the reconciler: {0}")]
    Reconciler(String),
    /// NATS is not reachable.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The KV bucket is not usable.
    #[error(transparent)]
    State(#[from] StateError),
    /// Subscribing failed.
    #[error("cannot subscribe to the control subjects of lattice {lattice}: {reason}")]
    Subscribe {
        /// The lattice.
        lattice: String,
        /// Why.
        reason: String,
    },
}

/// A host's membership in a lattice.
pub struct Lattice {
    control: Arc<Control>,
    tasks: TaskTracker,
    stop_tasks: CancellationToken,
    /// Whether the watch of the bucket's links is open.
    links_followed: Arc<std::sync::atomic::AtomicBool>,
}

impl Lattice {
    /// Joins `host` to the lattice `config` names. See the module docs.
    pub async fn join(host: Host, config: &LatticeConfig) -> Result<Self, JoinError> {
        let subjects = Subjects::new(&config.nats.lattice)?;
        let client = config
            .nats
            .connect(&format!("lattice-host {}", host.id()))
            .await?;
        let js = config.nats.jetstream(client.clone());
        let state = LatticeState::open(&js, &subjects.bucket(), config.kv_replicas)
            .await?
            .with_signing(LinkSigning {
                signer: config.cluster.signer(),
                signers: config.cluster.link_signers(),
            });
        let events = EventPublisher::new(client.clone(), subjects.clone(), host.id().to_string());
        let mirror = state::mirror_links(&state, host.clone(), events.clone()).await?;
        let links_followed = mirror.following();
        let config_mirror = state::mirror_config(&state, host.clone(), events.clone()).await?;
        // What belongs to another lattice is refused here, whoever signed it.
        config.cluster.verifier().serve_lattice(subjects.lattice());
        // Provider keys revoked anywhere in the lattice, before any call.
        let revocations =
            lattice_rpc::revocations::follow(state.kv().clone(), config.cluster.verifier())
                .await
                .map_err(StateError::Nats)?;
        let stop_tasks = CancellationToken::new();
        let rpc = Arc::new(rpc::Rpc::new(
            client.clone(),
            subjects.clone(),
            host.clone(),
            config.cluster.clone(),
            events.clone(),
            config.call_timeout,
        ));
        let tasks = TaskTracker::new();
        let rpc_subscriptions = rpc::Subscriptions::start(rpc.clone(), stop_tasks.clone(), &tasks);
        let control = Arc::new(Control {
            host: host.clone(),
            subscriptions: rpc_subscriptions,
            client: client.clone(),
            subjects: subjects.clone(),
            state,
            events,
            rpc: rpc.clone(),
            nats_url: config.nats.url_or_default(),
            nats_credentials: config.nats.credentials(),
            provider_credentials: config.provider_credentials.clone(),
            provider_health: config.provider_health,
            provider_grant: config.provider_grant,
            js_domain: config.nats.js_domain.clone(),
            processes: Default::default(),
            stop: CancellationToken::new(),
            stop_tasks: stop_tasks.clone(),
            version: env!("CARGO_PKG_VERSION"),
        });

        let subscribe_error = |e: async_nats::SubscribeError| JoinError::Subscribe {
            lattice: subjects.lattice().to_string(),
            reason: e.to_string(),
        };
        let mut subscriptions = Vec::new();
        let answered_by = |audience| op::ALL.iter().filter(move |o| o.audience == audience);
        for op in answered_by(Audience::Every) {
            subscriptions.push(
                client
                    .subscribe(subjects.ctl(op.name))
                    .await
                    .map_err(subscribe_error)?,
            );
        }
        subscriptions.push(
            client
                .subscribe(subjects.ctl_for_host(host.id()))
                .await
                .map_err(subscribe_error)?,
        );
        for op in answered_by(Audience::AnyHost) {
            subscriptions.push(
                client
                    .queue_subscribe(subjects.ctl(op.name), subjects.ctl_queue_group())
                    .await
                    .map_err(subscribe_error)?,
            );
        }
        // Ready means subscribed at the server (a flush only empties our
        // buffer): a round trip through the server before announcing.
        lattice_rpc::server_caught_up(&client, Duration::from_secs(10))
            .await
            .map_err(|reason| {
                JoinError::Connect(ConnectError {
                    url: config.nats.url_or_default(),
                    reason,
                })
            })?;

        host.set_remote(Some(Arc::new(rpc::RemoteHostCalls(rpc.clone()))));
        let span =
            tracing::info_span!("lattice", lattice = %subjects.lattice(), host_id = %host.id());
        tasks.spawn(
            serve_control(
                control.clone(),
                subscriptions,
                stop_tasks.clone(),
                tasks.clone(),
            )
            .instrument(span.clone()),
        );
        tasks.spawn(
            heartbeat(control.clone(), config.heartbeat, stop_tasks.clone())
                .instrument(span.clone()),
        );
        tasks.spawn(
            publish_logs(
                client.clone(),
                subjects.clone(),
                host.clone(),
                host.runtime().log_tap().connect(),
                stop_tasks.clone(),
            )
            .instrument(span.clone()),
        );
        let reconciler = reconciler::Reconciler {
            host_id: host.id().clone(),
            client: client.clone(),
            subjects: subjects.clone(),
            board: activation::Board::default(),
            host: host.clone(),
            state: control.state.clone(),
            control: lattice_client::ControlClient::new(
                client.clone(),
                subjects.lattice(),
                &lattice_rpc::redacted(&config.nats.url_or_default()),
                Duration::from_secs(30),
            )
            .map_err(|e| JoinError::Reconciler(e.to_string()))?,
            events: control.events.clone(),
            timing: config.reconcile,
        };
        tasks.spawn(reconciler.run(stop_tasks.clone()).instrument(span.clone()));
        let stop = stop_tasks.clone();
        tasks.spawn(
            async move {
                tokio::select! {
                    () = mirror.run() => {}
                    () = config_mirror.run() => {}
                    () = revocations => {}
                    () = stop.cancelled() => {}
                }
            }
            .instrument(span),
        );

        control
            .events
            .publish(LatticeEvent::HostStarted(control.info()))
            .await;
        tracing::info!(lattice = %subjects.lattice(), host_id = %host.id(), url = %config.nats.url_or_default(), "joined the lattice");
        Ok(Self {
            control,
            tasks,
            stop_tasks,
            links_followed,
        })
    }

    /// Stores `link` in the lattice (compare-and-set) and applies it here at
    /// once; the bucket's echo of it is then a no-op.
    ///
    /// # Errors
    ///
    /// Another link holds its key, or the bucket cannot be written.
    pub async fn put_link(&self, link: lattice_interfaces::Link) -> Result<(), StateError> {
        self.control.state.put_link(&link).await?;
        self.link_set(link).await;
        Ok(())
    }

    /// Stores `link` in the lattice replacing whatever link holds its key,
    /// and applies it here at once (what `lattice-ctl up` does with its
    /// manifest's links: it owns them).
    ///
    /// # Errors
    ///
    /// The bucket cannot be written.
    pub async fn replace_link(&self, link: lattice_interfaces::Link) -> Result<(), StateError> {
        self.control.state.replace_link(&link).await?;
        self.link_set(link).await;
        Ok(())
    }

    /// Stores named config `name` in the lattice and gives it to this
    /// host's actors at once (other hosts get it through their watch).
    ///
    /// # Errors
    ///
    /// The bucket cannot be written.
    pub async fn put_config(
        &self,
        name: &lattice_interfaces::ComponentId,
        values: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StateError> {
        self.control.state.put_config(name, values).await?;
        self.control
            .host
            .named_config()
            .put(name.clone(), values.clone());
        Ok(())
    }

    /// Applies a link just stored and announces it.
    async fn link_set(&self, link: lattice_interfaces::Link) {
        let shown = link.redacted();
        self.control.host.apply_lattice_link(link);
        self.control
            .events
            .publish(LatticeEvent::LinkSet(shown))
            .await;
    }

    /// Deletes `link` from the lattice if it is still what the bucket holds;
    /// returns whether it was deleted.
    pub async fn delete_link_if_unchanged(
        &self,
        link: &lattice_interfaces::Link,
    ) -> Result<bool, StateError> {
        let deleted = self.control.state.delete_link_if_unchanged(link).await?;
        if deleted {
            self.control
                .events
                .publish(LatticeEvent::LinkDeleted(link.redacted()))
                .await;
        }
        Ok(deleted)
    }

    /// Starts provider `id` as a process from the binary `path` names (a
    /// file, or a registry reference),
    /// supervised: restarted with backoff when it exits, stopped with the
    /// provider or the host.
    pub async fn start_provider_process(
        &self,
        id: &lattice_interfaces::ComponentId,
        path: &str,
        config: std::collections::BTreeMap<String, String>,
    ) -> Result<(), crate::HostError> {
        self.control.start_provider_process(id, path, config).await
    }

    /// The process id of provider process `id`, while it runs.
    pub fn provider_process_id(&self, id: &lattice_interfaces::ComponentId) -> Option<u32> {
        self.control.provider_pid(id)
    }

    /// Whether this host can take work from the lattice, asked each time
    /// the returned function is called (for `/readyz`): its NATS connection
    /// is up and its watch of the lattice's links is open (while it is not,
    /// the links it serves may be stale); else why not.
    pub fn readiness_probe(&self) -> Arc<dyn Fn() -> Result<(), String> + Send + Sync> {
        let client = self.control.client.clone();
        let links_followed = self.links_followed.clone();
        Arc::new(move || {
            if client.connection_state() != async_nats::connection::State::Connected {
                return Err(
                    "not connected to NATS: calls from the lattice cannot reach this host".into(),
                );
            }
            if !links_followed.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(
                    "the watch of the lattice's links is down: the links served may be stale"
                        .into(),
                );
            }
            Ok(())
        })
    }

    /// Before this host stops on its own (SIGTERM): when it runs replicas
    /// of an app, it marks itself draining, so the reconciler places them
    /// elsewhere, and waits up to `wait` until every such app has
    /// converged without it. Returns the apps that had not; empty when
    /// there were none or all moved.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: the host stays marked draining.
    pub async fn hand_over(&self, wait: Duration) -> Vec<String> {
        let host_id = self.control.host.id().clone();
        let holding = self.apps_running_on(&host_id, false).await;
        if holding.is_empty() {
            return Vec::new();
        }
        tracing::info!(apps = %holding.join(", "), "handing over app replicas before stopping");
        self.control
            .host
            .put_label(lattice_interfaces::placement::DRAINING_LABEL, "true");
        self.control.labels_changed().await;
        let until = tokio::time::Instant::now() + wait;
        loop {
            let waiting = self.apps_running_on(&host_id, true).await;
            if waiting.is_empty() || tokio::time::Instant::now() >= until {
                return waiting;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The apps whose status lists `host_id` among a component's hosts (or,
    /// with `or_unsettled`, that have not converged yet).
    async fn apps_running_on(&self, host_id: &HostId, or_unsettled: bool) -> Vec<String> {
        let state = &self.control.state;
        let Ok((apps, _)) = state.apps().await else {
            return Vec::new();
        };
        let mut names = Vec::new();
        for (name, app) in &apps.apps {
            if app.current == 0 {
                continue;
            }
            let status = state.app_status(name).await.ok().flatten();
            let waiting = match &status {
                Some(status) if or_unsettled => !status.settled_without(host_id),
                Some(status) => status.runs_on(host_id),
                None => or_unsettled,
            };
            if waiting {
                names.push(name.clone());
            }
        }
        names
    }

    /// Resolves when the lattice asked this host to stop (`host.stop`).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn stopped(&self) {
        self.control.stop.cancelled().await;
    }

    /// Stops answering, announces `host_stopped` and flushes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may lose the `host_stopped` event.
    pub async fn leave(self) {
        self.stop_tasks.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tasks.wait()).await;
        // Invocations already taken finish before the host leaves.
        let serving = self.control.rpc.serving_tasks();
        serving.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), serving.wait()).await;
        self.control.host.set_remote(None);
        let info = self.control.info();
        self.control
            .events
            .publish(LatticeEvent::HostStopped(info))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.control.client.flush()).await;
    }
}

async fn serve_control(
    control: Arc<Control>,
    subscriptions: Vec<async_nats::Subscriber>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let mut requests = futures::stream::select_all(subscriptions);
    let limit = Arc::new(Semaphore::new(MAX_CONCURRENT_REQUESTS));
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => break,
            message = requests.next() => match message {
                Some(message) => message,
                None => break,
            },
        };
        // Replies go to the requester's inbox only (see `is_reply_inbox`).
        let Some(reply_to) = message.reply.clone().filter(|r| is_reply_inbox(r)) else {
            tracing::debug!(subject = %message.subject, "control message without a reply inbox; ignored");
            continue;
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        let control = control.clone();
        tasks.spawn(async move {
            let _permit = permit;
            if let Some(answer) = control.handle(&message.subject, &message.payload).await {
                let Some(answer) = fitted(&control.client, answer).await else {
                    return;
                };
                if let Err(error) = control.client.publish(reply_to, answer.into()).await {
                    tracing::warn!(%error, "cannot send control reply");
                }
            }
        });
    }
    tracing::debug!("control subscriptions closed");
}

/// How long a control reply offered in chunks stays to be pulled.
const OFFERED_REPLY_LIFETIME: Duration = Duration::from_secs(30);

/// `answer` as it can travel: itself, or when larger than one message
/// should be (an inventory of thousands of actors), a reply that says
/// where to pull it from in chunks.
async fn fitted(client: &async_nats::Client, answer: Vec<u8>) -> Option<Vec<u8>> {
    let until = lattice_interfaces::protocol::rpc::unix_ms()
        .saturating_add(OFFERED_REPLY_LIFETIME.as_millis() as u64);
    // Inline or offered, by the same rule as RPC payloads.
    match lattice_rpc::payloads::place(client, answer, until).await {
        Ok((answer, None)) => Some(answer),
        Ok((_, Some(body))) => CtlReply::<()>::offered(body).encoded(),
        Err(error) => {
            tracing::warn!(%error, "cannot offer a large control reply");
            CtlReply::<()>::refused(
                lattice_interfaces::ErrorKind::Failed,
                format!(
                    "the reply is too large to send at once and cannot be offered in chunks: {}",
                    error.message
                ),
            )
            .encoded()
        }
    }
}

async fn heartbeat(control: Arc<Control>, every: Duration, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate; host_started covers it
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {
                control.events.publish(LatticeEvent::HostHeartbeat(control.info())).await;
            }
        }
    }
}

/// Publishes the host's actors' log lines on `lattice.<L>.log.<actor>`
/// until `stop`, each tagged with the host; once a second, logs how many
/// lines the tap dropped because this fell behind.
async fn publish_logs(
    client: async_nats::Client,
    subjects: Subjects,
    host: Host,
    mut lines: tokio::sync::mpsc::Receiver<crate::runtime::log_tap::LogLine>,
    stop: CancellationToken,
) {
    let mut second = tokio::time::interval(Duration::from_secs(1));
    loop {
        let mut line = tokio::select! {
            () = stop.cancelled() => {
                // Left the lattice: the lines stay in the host's log.
                host.runtime().log_tap().disconnect();
                return;
            }
            line = lines.recv() => match line {
                Some(line) => line,
                None => return,
            },
            _ = second.tick() => {
                let dropped = host.runtime().log_tap().take_dropped();
                if dropped == 0 {
                    continue;
                }
                tracing::warn!(dropped, "actor log lines not published: the lattice fell behind");
                continue;
            }
        };
        line.host = host.id().to_string();
        let Ok(payload) = serde_json::to_vec(&line) else {
            continue;
        };
        if let Err(error) = client
            .publish(subjects.log(line.actor.as_str()), payload.into())
            .await
        {
            tracing::debug!(%error, "cannot publish an actor's log line");
        }
    }
}

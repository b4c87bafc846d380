//! Answering control requests on `lattice.<L>.ctl.v1.*`.
//!
//! Every request gets a [`CtlReply`]; a malformed one gets an error reply
//! that says what is wrong, and the host goes on serving. Scatter-gather
//! operations (ping, auctions) are answered by every host that qualifies;
//! host-targeted ones by the named host; link, claims and config operations
//! by any one host, through a queue group.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use lattice_interfaces::protocol::control::*;
use lattice_interfaces::protocol::events::{
    ActorScaling, ActorUpdating, HostLabels, LatticeEvent, ProviderChange,
};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ComponentId, Contract, ErrorKind, Link, LinkKey, ProviderSpec};
use tokio_util::sync::CancellationToken;

use super::state::LatticeState;
use crate::Host;
use lattice_rpc::EventPublisher;

/// What the control handler works with.
pub(crate) struct Control {
    pub(crate) host: Host,
    pub(crate) client: async_nats::Client,
    pub(crate) subjects: Subjects,
    pub(crate) state: LatticeState,
    pub(crate) events: EventPublisher,
    pub(crate) rpc: std::sync::Arc<super::rpc::Rpc>,
    /// The owner of this host's `rpc` subscriptions.
    pub(crate) subscriptions: super::rpc::Subscriptions,
    /// Where provider processes connect.
    pub(crate) nats_url: String,
    /// How they authenticate: the host's own credentials.
    pub(crate) nats_credentials: lattice_interfaces::protocol::provider::NatsCredentials,
    /// Where provider processes' own NATS credentials are, if anywhere.
    pub(crate) provider_credentials: Option<std::path::PathBuf>,
    /// How often provider processes are health-checked.
    pub(crate) provider_health: std::time::Duration,
    /// How long each grant of a provider process's key lasts.
    pub(crate) provider_grant: std::time::Duration,
    /// JetStream domain of the state bucket, passed to provider processes.
    pub(crate) js_domain: Option<String>,
    /// Running provider processes' ids, by provider.
    pub(crate) processes: std::sync::Mutex<
        std::collections::HashMap<
            lattice_interfaces::ComponentId,
            std::sync::Arc<std::sync::atomic::AtomicU32>,
        >,
    >,
    pub(crate) stop: CancellationToken,
    /// Stops the lattice tasks (subscriptions among them).
    pub(crate) stop_tasks: CancellationToken,
    pub(crate) version: &'static str,
}

impl From<crate::HostError> for Refusal {
    fn from(error: crate::HostError) -> Self {
        use crate::HostError;
        let kind = match &error {
            HostError::NoSuchActor { .. } => ErrorKind::NotFound,
            HostError::AlreadyRunning { .. } | HostError::Conflict { .. } => ErrorKind::Conflict,
            HostError::LinkRefused { .. } => ErrorKind::BadRequest,
            HostError::ActorLoad(_)
            | HostError::Artifacts(_)
            | HostError::Runtime(_)
            | HostError::Provider { .. } => ErrorKind::Failed,
        };
        Refusal::new(kind, error.to_string())
    }
}

/// What a handler returns.
type Handled<T> = Result<T, Refusal>;

/// A lattice event made of data `D` (a variant of [`LatticeEvent`]).
type EventOf<D> = fn(D) -> LatticeEvent;

impl Control {
    /// Starts a supervised provider process; see [`super::process`].
    pub(crate) async fn start_provider_process(
        &self,
        id: &lattice_interfaces::ComponentId,
        path: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(), crate::HostError> {
        let nats = self.credentials_for(id)?;
        let stop = self.stop_tasks.child_token();
        let installed = self
            .host
            .add_provider_process(id, path, stop.clone())
            .await?;
        if let Some(claims) = installed.claims.clone() {
            let state = self.state.clone();
            tokio::spawn(async move {
                let claims = lattice_interfaces::claims::LatticeClaims::Provider(claims);
                if let Err(error) = state.put_claims(&claims).await {
                    tracing::warn!(%error, "cannot store provider claims");
                }
            });
        }
        let data = lattice_interfaces::protocol::provider::HostData {
            lattice: self.subjects.lattice().to_string(),
            nats_url: self.nats_url.clone(),
            nats,
            provider_id: id.to_string(),
            host_id: self.host.id().clone(),
            trusted_cluster_keys: self.rpc.keys.trusted(),
            links_from_any_signer: self.rpc.keys.is_development(),
            // Filled in for each run of the process by its supervisor.
            invocation_seed: None,
            invocation_grant: None,
            config,
            js_domain: self.js_domain.clone(),
            exit_with_host: true,
            payload_budget: Some(self.host.payload_budget().total() as u64),
        };
        let pid = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        self.processes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.clone(), pid.clone());
        let health = super::process::HealthCheck {
            client: self.client.clone(),
            subject: self.subjects.provider_health(id.as_str()),
            every: self.provider_health,
        };
        tokio::spawn(super::process::supervise(
            super::process::Binary {
                reference: installed.origin,
                path: installed.path,
                sha256: installed.sha256,
            },
            data,
            super::process::Grants {
                keys: self.rpc.keys.clone(),
                lifetime: self.provider_grant,
                client: self.client.clone(),
                revoke_subject: self.subjects.ctl(op::RevokeGrant::NAME),
                state: self.state.clone(),
            },
            self.events.clone(),
            health,
            stop,
            pid,
        ));
        Ok(())
    }

    /// The NATS credentials provider process `id` connects with: its own
    /// from the operator's directory (`<id>.creds`, else `<id>.nk`) when the
    /// host has one, refusing to start it without; else the host's.
    fn credentials_for(
        &self,
        id: &lattice_interfaces::ComponentId,
    ) -> Result<lattice_interfaces::protocol::provider::NatsCredentials, crate::HostError> {
        let Some(dir) = &self.provider_credentials else {
            return Ok(self.nats_credentials.clone());
        };
        let own = |extension: &str| {
            let path = dir.join(format!("{id}.{extension}"));
            path.is_file().then(|| path.display().to_string())
        };
        // The host's TLS settings stay; its identity does not.
        let mut credentials = lattice_interfaces::protocol::provider::NatsCredentials {
            creds_file: None,
            nkey_seed: None,
            user: None,
            password: None,
            ..self.nats_credentials.clone()
        };
        if let Some(creds) = own("creds") {
            credentials.creds_file = Some(creds);
        } else if let Some(seed_file) = own("nk") {
            credentials.nkey_seed = Some(seed_file);
        } else {
            return Err(crate::HostError::Provider {
                id: id.clone(),
                reason: format!(
                    "no NATS credentials of its own in {} ({id}.creds or {id}.nk; --provider-credentials)",
                    dir.display()
                ),
            });
        }
        Ok(credentials)
    }

    /// The process id of provider process `id`, while it runs.
    pub(crate) fn provider_pid(&self, id: &lattice_interfaces::ComponentId) -> Option<u32> {
        self.processes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .map(|pid| pid.load(std::sync::atomic::Ordering::Relaxed))
            .filter(|pid| *pid != 0)
    }

    /// The host's summary.
    pub(crate) fn info(&self) -> HostInfo {
        let started = self.host.started_at();
        HostInfo {
            host_id: self.host.id().clone(),
            lattice: self.subjects.lattice().to_string(),
            labels: self.host.labels(),
            version: self.version.to_string(),
            commit: crate::build_info::COMMIT.to_string(),
            built: crate::build_info::DATE.to_string(),
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            uptime_seconds: SystemTime::now()
                .duration_since(started)
                .map_or(0, |d| d.as_secs()),
            actors: self.host.actors().len(),
            providers: self.host.providers().len(),
        }
    }

    fn inventory_now(&self) -> Inventory {
        Inventory {
            host: self.info(),
            actors: self
                .host
                .actors()
                .iter()
                .map(|actor| {
                    let stats = actor.stats();
                    ActorInventory {
                        id: actor.id().clone(),
                        reference: actor.origin().to_string(),
                        max_instances: actor.limits().max_instances,
                        instances_in_use: actor.instances_in_use(),
                        instance_reuse: actor.limits().instance_reuse,
                        min_instances: actor.limits().min_instances,
                        linked: actor.is_linked(),
                        calls: stats.calls,
                        failed: stats.failed,
                        busy_us: stats.busy_us,
                        issuer: actor.claims().map(|c| c.issuer.clone()),
                        subject: actor.claims().map(|c| c.subject.clone()),
                        config: actor.config().sources().config.clone(),
                        secrets: actor.config().sources().secrets.clone(),
                    }
                })
                .collect(),
            providers: self
                .host
                .providers()
                .into_iter()
                .map(|(id, reference)| ProviderInventory { id, reference })
                .collect(),
            routing: self
                .host
                .routing()
                .all()
                .into_iter()
                .map(|(id, c)| {
                    (
                        id,
                        RouteCount {
                            local: c.local,
                            remote: c.remote,
                        },
                    )
                })
                .collect(),
            artifacts: self.host.artifacts_held(),
        }
    }

    fn satisfies(&self, constraints: &BTreeMap<String, String>) -> bool {
        let labels = self.host.labels();
        constraints.iter().all(|(k, v)| labels.get(k) == Some(v))
    }

    /// Handles one request; returns the reply, if one is owed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave an operation half done (an actor
    /// started, its event not yet sent); callers run it to completion.
    pub(crate) async fn handle(&self, subject: &str, payload: &[u8]) -> Option<Vec<u8>> {
        let Some((name, target)) = self.subjects.parse_ctl(subject) else {
            return CtlReply::<()>::refused(
                ErrorKind::BadRequest,
                format!(
                    "not a control subject: {}",
                    lattice_interfaces::shown(subject)
                ),
            )
            .encoded();
        };
        if target.is_some_and(|t| t != self.host.id().as_str()) {
            return None; // not ours; cannot happen with our subscriptions
        }
        op::dispatch(self, name, payload).await
    }

    pub(super) async fn labels_changed(&self) -> BTreeMap<String, String> {
        let labels = self.host.labels();
        self.events
            .publish(LatticeEvent::LabelsChanged(HostLabels {
                host_id: self.host.id().clone(),
                labels: labels.clone(),
            }))
            .await;
        labels
    }

    fn ack(
        &self,
        constraints: &BTreeMap<String, String>,
        already_running: bool,
    ) -> Handled<AuctionAck> {
        if !self.satisfies(constraints) {
            return Err(Refusal::Silent);
        }
        Ok(AuctionAck {
            host_id: self.host.id().clone(),
            labels: self.host.labels(),
            already_running,
        })
    }

    /// Records the claims of actor `id` (when it runs signed) in the
    /// lattice's bucket, for `claims.get`.
    async fn store_claims(&self, id: &ComponentId) {
        let Some(claims) = self.host.actor(id).and_then(|a| a.claims().cloned()) else {
            return;
        };
        let claims = lattice_interfaces::claims::LatticeClaims::Actor(claims);
        if let Err(e) = self.state.put_claims(&claims).await {
            tracing::warn!(error = %e, "cannot store claims");
        }
    }

    /// Announces how a change went, as event `done` or `failed` of the
    /// data `data` makes of `reply` and the error, if any, and answers
    /// with `reply` or the error.
    async fn announce<T, D>(
        &self,
        result: Result<(), crate::HostError>,
        reply: T,
        data: impl FnOnce(&T, Option<String>) -> D,
        (done, failed): (EventOf<D>, EventOf<D>),
    ) -> Handled<T> {
        match result {
            Ok(()) => {
                self.events.publish(done(data(&reply, None))).await;
                Ok(reply)
            }
            Err(e) => {
                // The operator reading this host's log sees why, not only
                // the one who asked.
                tracing::warn!(error = %e, "a requested change failed");
                let event = failed(data(&reply, Some(e.to_string())));
                self.events.publish(event).await;
                Err(e.into())
            }
        }
    }
}

/// The handlers of every control operation (the table is
/// `lattice_interfaces::protocol::control::op`).
impl op::Handlers for Control {
    async fn ping(&self, _: Empty) -> Handled<HostInfo> {
        Ok(self.info())
    }

    async fn inventory(&self, _: Empty) -> Handled<Inventory> {
        Ok(self.inventory_now())
    }

    async fn actor_logs(
        &self,
        request: lattice_interfaces::protocol::logs::RecentLogsRequest,
    ) -> Handled<lattice_interfaces::protocol::logs::RecentLogs> {
        // Hosts that do not run the actor stay silent.
        let actor = self.host.actor(&request.actor).ok_or(Refusal::Silent)?;
        let host = self.host.id().to_string();
        let mut lines = actor.output().recent(request.since_ms.unwrap_or(0));
        for line in &mut lines {
            line.host.clone_from(&host);
        }
        Ok(lattice_interfaces::protocol::logs::RecentLogs {
            host_id: self.host.id().clone(),
            lines,
        })
    }

    async fn get_links(&self, _: Empty) -> Handled<Vec<Link>> {
        Ok(self.state.links().await?)
    }

    async fn get_claims(
        &self,
        _: Empty,
    ) -> Handled<Vec<lattice_interfaces::claims::LatticeClaims>> {
        Ok(self.state.claims().await?)
    }

    async fn revoke_grant(
        &self,
        revocation: lattice_interfaces::protocol::rpc::GrantRevocation,
    ) -> Handled<GrantRevoked> {
        self.rpc
            .keys
            .revoke(&revocation)
            .map_err(Refusal::bad_request)?;
        tracing::info!(key = %revocation.key, until_ms = revocation.until_ms, "provider key revoked");
        Ok(GrantRevoked {
            host_id: self.host.id().clone(),
            key: revocation.key,
        })
    }

    async fn stop_host(&self, request: StopHost) -> Handled<HostStopped> {
        tracing::info!(timeout_ms = ?request.timeout_ms, "stop requested over the lattice");
        self.stop.cancel();
        Ok(HostStopped {
            host_id: self.host.id().clone(),
        })
    }

    async fn put_label(&self, request: LabelPut) -> Handled<BTreeMap<String, String>> {
        if request.key.is_empty() {
            return Err(Refusal::bad_request("label key is empty"));
        }
        self.host.put_label(&request.key, &request.value);
        Ok(self.labels_changed().await)
    }

    async fn delete_label(&self, request: LabelDel) -> Handled<BTreeMap<String, String>> {
        if !self.host.delete_label(&request.key) {
            return Err(Refusal::not_found(format!(
                "host has no label {:?}",
                lattice_interfaces::shown(&request.key)
            )));
        }
        Ok(self.labels_changed().await)
    }

    async fn actor_auction(&self, request: ActorAuction) -> Handled<AuctionAck> {
        let running = self.host.actor(&request.actor_id).is_some();
        self.ack(&request.constraints, running)
    }

    async fn provider_auction(&self, request: ProviderAuction) -> Handled<AuctionAck> {
        let running = self
            .host
            .providers()
            .iter()
            .any(|(id, _)| *id == request.provider_id);
        self.ack(&request.constraints, running)
    }

    async fn scale_actor(&self, request: ScaleActor) -> Handled<ActorScaled> {
        absolute("actor_ref", &request.actor_ref)?;
        // The reference may be left out for an actor that runs: it is known.
        let running = self.host.actor(&request.actor_id);
        let reference = match (&running, request.actor_ref.as_str()) {
            (Some(actor), "") => actor.origin().to_string(),
            (None, "") if request.max_instances > 0 => {
                return Err(Refusal::bad_request(format!(
                    "actor {} does not run on this host: actor_ref is required to start it",
                    request.actor_id
                )))
            }
            (_, given) => given.to_string(),
        };
        let scaling = |actor_ref: &str| ActorScaling {
            host_id: self.host.id().clone(),
            actor_id: request.actor_id.clone(),
            actor_ref: actor_ref.to_string(),
            max_instances: request.max_instances,
            error: None,
        };
        // Named config as the bucket holds it now: one just written with
        // `config put` counts even before this host's watch brings it.
        for name in request.config.iter().flatten() {
            match self.state.config(name).await {
                Ok(Some(values)) => self.host.named_config().put(name.clone(), values),
                Ok(None) => {}
                Err(e) => {
                    return Err(Refusal::failed(format!(
                        "actor {}: cannot read named config \"{name}\": {e}",
                        request.actor_id
                    )))
                }
            }
        }
        let scaled = self
            .host
            .scale_actor(
                &request.actor_id,
                &reference,
                request.max_instances,
                crate::host::Scaling {
                    instance_reuse: request.instance_reuse,
                    min_instances: request.min_instances,
                    models: request.models.clone(),
                },
                (request.config.is_some() || request.secrets.is_some())
                    .then(|| crate::config::ConfigSources {
                        config: request.config.clone().unwrap_or_default(),
                        secrets: request.secrets.clone().unwrap_or_default(),
                    })
                    .as_ref(),
            )
            .await;
        if let Err(e) = scaled {
            tracing::warn!(actor = %request.actor_id, error = %e, "cannot scale the actor");
            self.events
                .publish(LatticeEvent::ActorScaleFailed(ActorScaling {
                    error: Some(e.to_string()),
                    ..scaling(&lattice_interfaces::shown(&reference))
                }))
                .await;
            return Err(e.into());
        }
        self.store_claims(&request.actor_id).await;
        // What runs (a registry tag pinned to its digest); of a stopped
        // actor, what it ran.
        let scaled = match self.host.actor(&request.actor_id) {
            Some(actor) => scaling(actor.origin()),
            None => scaling(&lattice_interfaces::shown(&reference)),
        };
        // Callable lattice-wide before the reply says so.
        self.subscriptions.sync().await;
        self.events.publish(LatticeEvent::ActorScaled(scaled)).await;
        Ok(ActorScaled {
            host_id: self.host.id().clone(),
            actor_id: request.actor_id,
            max_instances: request.max_instances,
        })
    }

    async fn update_actor(&self, request: UpdateActor) -> Handled<ActorUpdated> {
        absolute("new_actor_ref", &request.new_actor_ref)?;
        let mut reply = ActorUpdated {
            host_id: self.host.id().clone(),
            actor_id: request.actor_id.clone(),
            actor_ref: lattice_interfaces::shown(&request.new_actor_ref).into_owned(),
        };
        let updated = self
            .host
            .update_actor(&request.actor_id, &request.new_actor_ref)
            .await;
        if updated.is_ok() {
            self.store_claims(&request.actor_id).await;
            // What runs, a registry tag pinned to its digest.
            if let Some(actor) = self.host.actor(&request.actor_id) {
                reply.actor_ref = actor.origin().to_string();
            }
        }
        self.announce(
            updated,
            reply,
            |reply, error| ActorUpdating {
                host_id: reply.host_id.clone(),
                actor_id: reply.actor_id.clone(),
                actor_ref: reply.actor_ref.clone(),
                error,
            },
            (LatticeEvent::ActorUpdated, LatticeEvent::ActorUpdateFailed),
        )
        .await
    }

    /// Calls an exported function of an actor here, arguments and results
    /// in WAVE (`lattice-ctl call`).
    #[tracing::instrument(skip_all, fields(actor = %request.actor_id, function = %lattice_interfaces::shown(&request.function)))]
    async fn call_actor(&self, request: CallActor) -> Handled<ActorCalled> {
        let actor =
            self.host
                .actor(&request.actor_id)
                .ok_or_else(|| crate::HostError::NoSuchActor {
                    id: request.actor_id.clone(),
                })?;
        let results = actor
            .call_wave(&request.function, &request.args)
            .await
            .map_err(Refusal::from)?;
        Ok(ActorCalled {
            host_id: self.host.id().clone(),
            actor_id: request.actor_id,
            results,
        })
    }

    async fn start_provider(&self, request: StartProvider) -> Handled<ProviderChanged> {
        let reply = ProviderChanged {
            host_id: self.host.id().clone(),
            provider_id: request.provider_id.clone(),
            reference: lattice_interfaces::shown(&request.reference).into_owned(),
        };
        if request.reference.contains('/') {
            absolute("reference", &request.reference)?;
        }
        let started = if request.reference.contains('/') {
            // A path: a provider binary, run as a supervised process (its
            // own provider_started event follows when it runs).
            self.start_provider_process(&request.provider_id, &request.reference, request.config)
                .await
        } else {
            self.host.start_provider(&ProviderSpec {
                id: request.provider_id,
                reference: request.reference,
                config: request.config,
                placement: None,
            })
        };
        if started.is_ok() {
            // Callable lattice-wide before the reply says so.
            self.subscriptions.sync().await;
        }
        self.announce(
            started,
            reply,
            |reply, error| ProviderChange {
                error,
                ..provider_change(reply)
            },
            (
                LatticeEvent::ProviderStarted,
                LatticeEvent::ProviderStartFailed,
            ),
        )
        .await
    }

    async fn stop_provider(&self, request: StopProvider) -> Handled<ProviderChanged> {
        let reference = self
            .host
            .stop_provider(&request.provider_id, Duration::from_secs(5))
            .await?;
        let reply = ProviderChanged {
            host_id: self.host.id().clone(),
            provider_id: request.provider_id,
            reference,
        };
        self.events
            .publish(LatticeEvent::ProviderStopped(provider_change(&reply)))
            .await;
        Ok(reply)
    }

    async fn put_link(&self, link: Link) -> Handled<Link> {
        Contract::parse(&link.contract().to_string()).map_err(|e| {
            Refusal::bad_request(format!("link {} -> {}: {e}", link.source, link.target))
        })?;
        self.host.check_link_contract(&link)?;
        // Refused now, not only on the host whose server would bind it.
        if link.carries(lattice_interfaces::standard::HTTP_INCOMING_HANDLER) {
            let clash = self.state.links().await?.into_iter().find(|other| {
                other.source == link.source
                    && other.key() != link.key()
                    && other.carries(lattice_interfaces::standard::HTTP_INCOMING_HANDLER)
                    && lattice_provider_http_server::same_route(other, &link)
            });
            if let Some(other) = clash {
                return Err(Refusal::conflict(format!(
                    "link {link}: address {} path {} is already served by link {other}",
                    link.config("address").unwrap_or_default(),
                    link.config("path").unwrap_or("/")
                )));
            }
        }
        self.state
            .put_link(&link)
            .await
            .map_err(|e| Refusal::new(e.kind(), format!("link {link}: {e}")))?;
        self.events
            .publish(LatticeEvent::LinkSet(link.redacted()))
            .await;
        Ok(link)
    }

    async fn delete_link(&self, request: LinkDel) -> Handled<Link> {
        let key = LinkKey {
            source: request.source,
            namespace: request.namespace,
            package: request.package,
            name: request.name,
        };
        let deleted = self.state.delete_link(&key).await?.ok_or_else(|| {
            Refusal::not_found(format!(
                "no link from {} for {}:{} named {}",
                key.source,
                lattice_interfaces::shown(&key.namespace),
                lattice_interfaces::shown(&key.package),
                lattice_interfaces::shown(&key.name)
            ))
        })?;
        match deleted {
            super::state::DeletedLink::Link(link) => {
                self.events
                    .publish(LatticeEvent::LinkDeleted(link.redacted()))
                    .await;
                Ok(link)
            }
            unreadable => Err(Refusal::failed(format!(
                "{unreadable} held no link a host could read; it is deleted"
            ))),
        }
    }

    async fn put_config(&self, request: ConfigPut) -> Handled<ConfigNamed> {
        self.state
            .put_config(&request.name, &request.values)
            .await?;
        self.events
            .publish(LatticeEvent::ConfigSet(ConfigNamed {
                name: request.name.clone(),
            }))
            .await;
        Ok(ConfigNamed { name: request.name })
    }

    async fn get_config(&self, request: ConfigName) -> Handled<BTreeMap<String, String>> {
        self.state
            .config(&request.name)
            .await?
            .ok_or_else(|| no_config(&request.name))
    }

    async fn delete_config(&self, request: ConfigName) -> Handled<ConfigNamed> {
        if !self.state.delete_config(&request.name).await? {
            return Err(no_config(&request.name));
        }
        self.events
            .publish(LatticeEvent::ConfigDeleted(ConfigNamed {
                name: request.name.clone(),
            }))
            .await;
        Ok(ConfigNamed { name: request.name })
    }
}

/// Refuses a relative file reference in a request from the lattice: the
/// sender's working directory means nothing on this host.
fn absolute(what: &str, reference: &str) -> Handled<()> {
    if reference.is_empty()
        || lattice_interfaces::ArtifactRef::is_oci(reference)
        || std::path::Path::new(reference).is_absolute()
    {
        return Ok(());
    }
    Err(Refusal::bad_request(format!(
        "{what} {} is a relative path: over the lattice give the absolute path of the file on the host (e.g. $PWD/{})",
        lattice_interfaces::shown(reference),
        lattice_interfaces::shown(reference)
    )))
}

/// The event data of a provider change answered with `reply`.
fn provider_change(reply: &ProviderChanged) -> ProviderChange {
    ProviderChange::of(
        reply.host_id.clone(),
        reply.provider_id.to_string(),
        reply.reference.clone(),
    )
}

fn no_config(name: &ComponentId) -> Refusal {
    Refusal::not_found(format!("no config named {:?}", name.as_str()))
}

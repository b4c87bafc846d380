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
use lattice_interfaces::protocol::events::kinds;
use lattice_interfaces::protocol::subjects::{ops, Subjects};
use lattice_interfaces::{Contract, LinkKey, ProviderSpec};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::state::LatticeState;
use crate::Host;
use lattice_provider_sdk::events::EventPublisher;

/// Largest control request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 512 << 10;

/// What the control handler works with.
pub(crate) struct Control {
    pub(crate) host: Host,
    pub(crate) client: async_nats::Client,
    pub(crate) subjects: Subjects,
    pub(crate) state: LatticeState,
    pub(crate) events: EventPublisher,
    pub(crate) rpc: std::sync::Arc<super::rpc::Rpc>,
    /// Where provider processes connect.
    pub(crate) nats_url: String,
    /// How they authenticate: the host's own credentials.
    pub(crate) nats_credentials: lattice_interfaces::protocol::provider::NatsCredentials,
    /// How often provider processes are health-checked.
    pub(crate) provider_health: std::time::Duration,
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

/// What a handler returns: a reply to send, or none (an auction the host
/// does not qualify for).
type Outcome = Option<Vec<u8>>;

fn reply<T: Serialize>(reply: &CtlReply<T>) -> Outcome {
    serde_json::to_vec(reply).ok()
}

fn ok<T: Serialize>(response: T) -> Outcome {
    reply(&CtlReply::ok(response))
}

/// The response of a successful read, or its error.
fn answer<T: Serialize>(result: Result<T, super::state::StateError>) -> Outcome {
    result.map_or_else(|e| error(e.to_string()), ok)
}

fn error(message: impl Into<String>) -> Outcome {
    reply(&CtlReply::<()>::error(message))
}

/// Adds `"error": "..."` to an event's data.
fn with_error(data: &mut serde_json::Value, error: &dyn std::fmt::Display) {
    if let Some(object) = data.as_object_mut() {
        object.insert("error".to_string(), json!(error.to_string()));
    }
}

fn parse<T: DeserializeOwned>(op: &str, payload: &[u8]) -> Result<T, Outcome> {
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        payload
    };
    serde_json::from_slice(payload).map_err(|e| error(format!("bad request to {op}: {e}")))
}

impl Control {
    /// Starts a supervised provider process; see [`super::process`].
    pub(crate) fn start_provider_process(
        &self,
        id: &lattice_interfaces::ComponentId,
        path: &str,
        config: BTreeMap<String, String>,
    ) -> Result<(), crate::HostError> {
        let (seed, grant) =
            self.rpc
                .keys
                .grant_for(id.as_str())
                .map_err(|reason| crate::HostError::Provider {
                    id: id.clone(),
                    reason: format!("cannot make its signing key: {reason}"),
                })?;
        let stop = self.stop_tasks.child_token();
        self.host.add_provider_process(id, path, stop.clone())?;
        let data = lattice_interfaces::protocol::provider::HostData {
            lattice: self.subjects.lattice().to_string(),
            nats_url: self.nats_url.clone(),
            nats: self.nats_credentials.clone(),
            provider_id: id.to_string(),
            host_id: self.host.id().to_string(),
            trusted_cluster_keys: self.rpc.keys.trusted(),
            invocation_seed: Some(seed),
            invocation_grant: Some(grant),
            config,
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
            path.to_string(),
            data,
            self.events.clone(),
            health,
            stop,
            pid,
        ));
        Ok(())
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
            host_id: self.host.id().to_string(),
            lattice: self.subjects.lattice().to_string(),
            labels: self.host.labels(),
            version: self.version.to_string(),
            started_at: humantime::format_rfc3339_seconds(started).to_string(),
            uptime_seconds: SystemTime::now()
                .duration_since(started)
                .map_or(0, |d| d.as_secs()),
            actors: self.host.actors().len(),
            providers: self.host.providers().len(),
        }
    }

    fn inventory(&self) -> Inventory {
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
                        calls: stats.calls,
                        failed: stats.failed,
                        issuer: actor.claims().map(|c| c.issuer.clone()),
                        subject: actor.claims().map(|c| c.subject.clone()),
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
    pub(crate) async fn handle(&self, subject: &str, payload: &[u8]) -> Outcome {
        let Some((op, target)) = self.subjects.parse_ctl(subject) else {
            return error(format!("not a control subject: {subject}"));
        };
        if target.is_some_and(|t| t != self.host.id()) {
            return None; // not ours; cannot happen with our subscriptions
        }
        if payload.len() > MAX_REQUEST_BYTES {
            return error(format!(
                "request to {op} is {} bytes; the limit is {MAX_REQUEST_BYTES}",
                payload.len()
            ));
        }
        let outcome = match op {
            ops::HOST_PING => ok(self.info()),
            ops::HOST_INVENTORY => ok(self.inventory()),
            ops::HOST_STOP => self.stop_host(op, payload),
            ops::LABELS_PUT => self.put_label(op, payload).await,
            ops::LABELS_DEL => self.delete_label(op, payload).await,
            ops::ACTOR_AUCTION => self.actor_auction(op, payload),
            ops::PROVIDER_AUCTION => self.provider_auction(op, payload),
            ops::ACTOR_SCALE => self.scale_actor(op, payload).await,
            ops::ACTOR_UPDATE => self.update_actor(op, payload).await,
            ops::PROVIDER_START => self.start_provider(op, payload).await,
            ops::PROVIDER_STOP => self.stop_provider(op, payload).await,
            ops::LINK_PUT => self.put_link(op, payload).await,
            ops::LINK_DEL => self.delete_link(op, payload).await,
            ops::LINK_GET => self.get_links(op, payload).await,
            ops::CLAIMS_GET => self.get_claims(op, payload).await,
            ops::CONFIG_PUT => self.put_config(op, payload).await,
            ops::CONFIG_GET => self.get_config(op, payload).await,
            ops::CONFIG_DEL => self.delete_config(op, payload).await,
            other => error(format!("unknown operation {other:?}")),
        };
        outcome
    }

    fn stop_host(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: StopHost = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        tracing::info!(timeout_ms = ?request.timeout_ms, "stop requested over the lattice");
        self.stop.cancel();
        ok(json!({ "host_id": self.host.id() }))
    }

    async fn put_label(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: LabelPut = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        if request.key.is_empty() {
            return error("label key is empty");
        }
        self.host.put_label(&request.key, &request.value);
        self.events
            .publish(
                kinds::LABELS_CHANGED,
                json!({ "host_id": self.host.id(), "labels": self.host.labels() }),
            )
            .await;
        ok(self.host.labels())
    }

    async fn delete_label(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: LabelDel = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        if !self.host.delete_label(&request.key) {
            return error(format!("host has no label {:?}", request.key));
        }
        self.events
            .publish(
                kinds::LABELS_CHANGED,
                json!({ "host_id": self.host.id(), "labels": self.host.labels() }),
            )
            .await;
        ok(self.host.labels())
    }

    fn actor_auction(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ActorAuction = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        self.satisfies(&request.constraints)
            .then(|| AuctionAck {
                host_id: self.host.id().to_string(),
                labels: self.host.labels(),
                already_running: self.host.actor(&request.actor_id).is_some(),
            })
            .and_then(ok)
    }

    fn provider_auction(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ProviderAuction = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        self.satisfies(&request.constraints)
            .then(|| AuctionAck {
                host_id: self.host.id().to_string(),
                labels: self.host.labels(),
                already_running: self
                    .host
                    .providers()
                    .iter()
                    .any(|(id, _)| *id == request.provider_id),
            })
            .and_then(ok)
    }

    async fn scale_actor(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ScaleActor = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let data = json!({
            "host_id": self.host.id(),
            "actor_id": request.actor_id,
            "actor_ref": request.actor_ref,
            "max_instances": request.max_instances,
        });
        match self
            .host
            .scale_actor(
                &request.actor_id,
                &request.actor_ref,
                request.max_instances,
                request.instance_reuse,
            )
            .await
        {
            Ok(()) => {
                if let Some(claims) = self
                    .host
                    .actor(&request.actor_id)
                    .and_then(|a| a.claims().cloned())
                {
                    match serde_json::to_value(&claims) {
                        Ok(value) => {
                            if let Err(e) = self.state.put_claims(&claims.subject, &value).await {
                                tracing::warn!(error = %e, "cannot store claims");
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot encode claims"),
                    }
                }
                // Callable lattice-wide before the reply says so.
                self.rpc.clone().sync_subscriptions(&self.stop_tasks).await;
                self.events.publish(kinds::ACTOR_SCALED, data).await;
                ok(
                    json!({ "host_id": self.host.id(), "actor_id": request.actor_id, "max_instances": request.max_instances }),
                )
            }
            Err(e) => {
                let mut data = data;
                with_error(&mut data, &e);
                self.events.publish(kinds::ACTOR_SCALE_FAILED, data).await;
                error(e.to_string())
            }
        }
    }

    async fn update_actor(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: UpdateActor = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let data = json!({ "host_id": self.host.id(), "actor_id": request.actor_id, "actor_ref": request.new_actor_ref });
        let updated = self
            .host
            .update_actor(&request.actor_id, &request.new_actor_ref)
            .await;
        self.announce(
            updated,
            data,
            (kinds::ACTOR_UPDATED, kinds::ACTOR_UPDATE_FAILED),
        )
        .await
    }

    /// Announces how a change went, event `done` or `failed` (with the
    /// error) carrying `data`, and answers with `data` or the error.
    async fn announce(
        &self,
        result: Result<(), crate::HostError>,
        mut data: serde_json::Value,
        (done, failed): (&'static str, &'static str),
    ) -> Outcome {
        match result {
            Ok(()) => {
                self.events.publish(done, data.clone()).await;
                ok(data)
            }
            Err(e) => {
                with_error(&mut data, &e);
                self.events.publish(failed, data).await;
                error(e.to_string())
            }
        }
    }

    async fn start_provider(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: StartProvider = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let spec = ProviderSpec {
            id: request.provider_id.clone(),
            kind: request.provider_ref.clone(),
            config: request.config,
        };
        let data = json!({ "host_id": self.host.id(), "provider_id": request.provider_id, "provider_ref": request.provider_ref });
        let started = if spec.kind.contains('/') {
            // A path: a provider binary, run as a supervised process (its
            // own provider_started event follows when it runs).
            self.start_provider_process(&spec.id, &spec.kind, spec.config.clone())
        } else {
            self.host.start_provider(&spec)
        };
        self.announce(
            started,
            data,
            (kinds::PROVIDER_STARTED, kinds::PROVIDER_START_FAILED),
        )
        .await
    }

    async fn stop_provider(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: StopProvider = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self
            .host
            .stop_provider(&request.provider_id, Duration::from_secs(5))
            .await
        {
            Ok(()) => {
                let data = json!({ "host_id": self.host.id(), "provider_id": request.provider_id });
                self.events
                    .publish(kinds::PROVIDER_STOPPED, data.clone())
                    .await;
                ok(data)
            }
            Err(e) => error(e.to_string()),
        }
    }

    async fn put_link(&self, op: &str, payload: &[u8]) -> Outcome {
        let link: LinkPut = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let contract = Contract::parse(&link.contract().to_string());
        if let Err(e) = contract {
            return error(format!("link {} -> {}: {e}", link.source, link.target));
        }
        if let Err(e) = self.host.check_link_contract(&link) {
            return error(e.to_string());
        }
        match self.state.put_link(&link).await {
            Ok(()) => {
                self.events.publish(kinds::LINK_SET, json!(link)).await;
                ok(link)
            }
            Err(e) => error(format!("link {link}: {e}")),
        }
    }

    async fn delete_link(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: LinkDel = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let key = LinkKey {
            source: request.source,
            namespace: request.namespace,
            package: request.package,
            name: request.name,
        };
        match self.state.delete_link(&key).await {
            Ok(Some(link)) => {
                self.events.publish(kinds::LINK_DELETED, json!(link)).await;
                ok(link)
            }
            Ok(None) => error(format!(
                "no link from {} for {}:{} named {}",
                key.source, key.namespace, key.package, key.name
            )),
            Err(e) => error(e.to_string()),
        }
    }

    async fn get_links(&self, op: &str, payload: &[u8]) -> Outcome {
        if let Err(e) = parse::<Empty>(op, payload) {
            return e;
        }
        answer(self.state.links().await)
    }

    async fn get_claims(&self, op: &str, payload: &[u8]) -> Outcome {
        if let Err(e) = parse::<Empty>(op, payload) {
            return e;
        }
        answer(self.state.claims().await)
    }

    async fn put_config(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ConfigPut = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.state.put_config(&request.name, &request.values).await {
            Ok(()) => {
                self.events
                    .publish(kinds::CONFIG_SET, json!({ "name": request.name }))
                    .await;
                ok(json!({ "name": request.name }))
            }
            Err(e) => error(e.to_string()),
        }
    }

    async fn get_config(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ConfigName = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.state.config(&request.name).await {
            Ok(Some(values)) => ok(values),
            Ok(None) => error(format!("no config named {:?}", request.name.as_str())),
            Err(e) => error(e.to_string()),
        }
    }

    async fn delete_config(&self, op: &str, payload: &[u8]) -> Outcome {
        let request: ConfigName = match parse(op, payload) {
            Ok(r) => r,
            Err(e) => return e,
        };
        match self.state.delete_config(&request.name).await {
            Ok(true) => {
                self.events
                    .publish(kinds::CONFIG_DELETED, json!({ "name": request.name }))
                    .await;
                ok(json!({ "name": request.name }))
            }
            Ok(false) => error(format!("no config named {:?}", request.name.as_str())),
            Err(e) => error(e.to_string()),
        }
    }
}

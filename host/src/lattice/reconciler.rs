//! The reconciler: brings the hosts of a lattice to the apps in its bucket.
//!
//! Every host runs this loop; at most one acts at a time, the holder of the
//! lease in the bucket (`reconciler.lease`), which it renews every pass by
//! compare-and-set. Any host takes an expired lease, so when the leader dies
//! another takes over within the lease's time. Before each action the leader
//! checks the lease is still the one it wrote: a leader paused past its
//! lease (and replaced) sends nothing when it wakes.
//!
//! A pass: read the apps (one key); with none, stop there (a lattice without
//! apps pays one KV read per pass). Otherwise gather every host's inventory,
//! plan each app ([`super::placement`]), send the actions as control
//! requests to the hosts, 16 at a time with the lease checked before each
//! 16 (so hosts act and announce as for an operator's request), put the
//! app's links this host does not hold as declared, and record its status. A host that stops
//! answering still counts as running what it ran until it has been silent
//! for `lost_after`: a slow host is not replaced, a dead one is, one pass
//! after that bound.
//!
//! An autoscaled actor's replicas are what its [`Autoscaler`] decides from
//! the load its hosts report each pass (the change of each replica's busy
//! time); each decision is announced (`component_scaled`) and recorded in
//! the app's status. While it leads, the leader also answers activations
//! (`lattice.<L>.activate.<actor>`): a caller holding a call for an
//! autoscaled actor no host runs gets a replica at once, not at the next
//! pass.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use lattice_interfaces::protocol::rpc::unix_ms;

use lattice_client::ControlClient;
use lattice_interfaces::protocol::app::{App, AppStatus, Apps, Lease, ScaleStatus};
use lattice_interfaces::protocol::control::{
    op, Empty, LinkDel, ScaleActor, StartProvider, StopProvider, UpdateActor,
};
use lattice_interfaces::protocol::events::{
    AppNamed, AppVersioned, LatticeEvent, NotPlaced, Placed, Scaled,
};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ComponentId, HostId, Manifest};
use lattice_rpc::EventPublisher;
use tokio_util::sync::CancellationToken;

use super::autoscale::{Autoscaler, Decision};
use super::placement::{self, Action, HostView};
use super::state::LatticeState;

/// How long a link put may take before the pass goes on without it (a host
/// that took the request may just have been cut off).
const LINK_PUT_DEADLINE: Duration = Duration::from_secs(2);

/// Actions sent at once, between two checks of the lease.
const ACTIONS_AT_ONCE: usize = 16;

/// How the reconciler runs.
#[derive(Debug, Clone, Copy)]
pub struct ReconcilerTiming {
    /// Time between passes.
    pub every: Duration,
    /// How long a lease lasts unless renewed.
    pub lease: Duration,
    /// Silence after which a host's replicas are placed elsewhere.
    pub lost_after: Duration,
}

impl ReconcilerTiming {
    /// Passes every `every`; a lease of 3 passes; a host lost after 3
    /// passes of silence.
    pub fn every(every: Duration) -> Self {
        Self {
            every,
            lease: every * 3,
            lost_after: every * 3,
        }
    }
}

pub(crate) struct Reconciler {
    pub host_id: HostId,
    /// Where activations arrive while this host leads.
    pub client: async_nats::Client,
    pub subjects: Subjects,
    /// What the passes share with the answering of activations.
    pub board: super::activation::Board,
    /// This host: its mirror of the lattice's links.
    pub host: crate::Host,
    pub state: LatticeState,
    pub control: ControlClient,
    pub events: EventPublisher,
    pub timing: ReconcilerTiming,
}

/// What the leader remembers between passes.
#[derive(Default)]
struct Memory {
    /// The lease revision this host wrote last, while it leads.
    lease_revision: Option<u64>,
    /// Until when the lease this host wrote cannot have passed to another
    /// (its expiry less one pass, for clocks that disagree a little).
    lease_sure_until: Option<Instant>,
    /// Each host's last inventory and when it answered.
    seen: HashMap<HostId, (Instant, HostView)>,
    /// The version of each app last announced as deployed.
    deployed: HashMap<String, u32>,
    /// The status last written, per app.
    statuses: HashMap<String, AppStatus>,
    /// The apps as the last pass read them (activations look here).
    apps: Apps,
    /// Each autoscaled actor's autoscaler, by app and actor.
    scaling: HashMap<(String, ComponentId), Scaling>,
    /// Each replica's busy time at the last pass, and when it was heard.
    busy: HashMap<(HostId, ComponentId), (Instant, u64)>,
}

/// What a pass hands the autoscalers.
struct Load<'a> {
    /// The hosts that may take replicas.
    hosts: &'a [HostView],
    /// Each actor's calls in flight, on average over the pass.
    loads: &'a HashMap<ComponentId, f64>,
    /// The actors activated since the last pass, by app.
    activated: &'a [(String, ComponentId)],
}

/// An autoscaler and its last decision, in words.
struct Scaling {
    scaler: Autoscaler,
    why: String,
    at_ms: u64,
}

impl Reconciler {
    /// Runs passes, and answers activations while this host leads, until
    /// `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let this = std::sync::Arc::new(self);
        tokio::spawn(super::activation::serve(this.clone(), stop.clone()));
        this.passes(stop).await;
    }

    async fn passes(&self, stop: CancellationToken) {
        let mut memory = Memory::default();
        let mut ticks = tokio::time::interval(self.timing.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = ticks.tick() => {
                    if let Err(error) = self.pass(&mut memory).await {
                        tracing::warn!(%error, "reconciler pass failed; trying again next pass");
                    }
                    let leading = super::activation::Leading {
                        revision: memory.lease_revision,
                        sure_until: memory.lease_sure_until,
                    };
                    self.board.after_pass(&memory.apps, Self::placeable(&memory), leading);
                }
            }
        }
    }

    /// The hosts the last passes heard from that may take replicas (not
    /// draining).
    fn placeable(memory: &Memory) -> Vec<HostView> {
        memory
            .seen
            .values()
            .map(|(_, view)| view)
            .filter(|view| {
                !view
                    .labels
                    .contains_key(lattice_interfaces::placement::DRAINING_LABEL)
            })
            .cloned()
            .collect()
    }

    /// What this pass started and stopped, in the hosts' views until their
    /// next inventories: an activation meanwhile reads them.
    fn remember(done: &[Action], memory: &mut Memory) {
        for action in done {
            let Some((_, view)) = memory.seen.get_mut(action.host()) else {
                continue;
            };
            match action {
                Action::RunActor { spec, .. } => {
                    view.actors.insert(spec.id.clone(), HostView::running(spec));
                }
                Action::StopActor { id, .. } => {
                    view.actors.remove(id);
                }
                Action::StartProvider { spec, .. } => {
                    view.providers
                        .insert(spec.id.clone(), spec.reference.clone());
                }
                Action::StopProvider { id, .. } => {
                    view.providers.remove(id);
                }
                Action::UpdateActor { .. } => {}
            }
        }
    }

    /// Announces and records a decision of `actor`'s autoscaler.
    async fn decided(
        &self,
        app: &str,
        actor: &ComponentId,
        decision: Decision,
        scaling: &mut Scaling,
    ) {
        tracing::info!(app, %actor, from = decision.from, to = decision.to, load = decision.load, why = %decision.why, "autoscaled");
        scaling.why.clone_from(&decision.why);
        scaling.at_ms = unix_ms();
        self.events
            .publish(LatticeEvent::ComponentScaled(Scaled {
                app: app.to_string(),
                component: actor.to_string(),
                from: decision.from,
                to: decision.to,
                load: decision.load,
                per_replica: decision.per_replica,
                reason: decision.why,
            }))
            .await;
    }

    /// Feeds each autoscaled actor of app `name` its load, creating its
    /// autoscaler when new (from the replicas last decided, else what
    /// runs, else one).
    async fn autoscale(
        &self,
        name: &str,
        manifest: &Manifest,
        load: &Load<'_>,
        memory: &mut Memory,
    ) {
        let Load {
            hosts,
            loads,
            activated,
        } = load;
        let now = Instant::now();
        let mut last_status: Option<Option<AppStatus>> = None;
        for actor in &manifest.actors {
            let Some(placement) = actor.placement.as_ref() else {
                continue;
            };
            let Some(range) = placement.autoscaled() else {
                continue;
            };
            let max_instances = actor.max_instances.unwrap_or(100);
            let key = (name.to_string(), actor.id.clone());
            let activated_now = activated
                .iter()
                .any(|(app, a)| app == name && a == &actor.id);
            if !memory.scaling.contains_key(&key) {
                if last_status.is_none() {
                    let status = match memory.statuses.get(name) {
                        Some(status) => Some(status.clone()),
                        None => self.state.app_status(name).await.ok().flatten(),
                    };
                    last_status = Some(status);
                }
                let decided = last_status
                    .as_ref()
                    .and_then(Option::as_ref)
                    .and_then(|s| s.components.iter().find(|c| c.id == actor.id.as_str()))
                    .filter(|c| c.scale.is_some())
                    .map(|c| c.desired);
                let running = hosts
                    .iter()
                    .filter(|h| h.actors.contains_key(&actor.id))
                    .count();
                // Activated, it ran nowhere: from zero, so the activation
                // is a decision like any other.
                let start = if activated_now {
                    0
                } else {
                    decided.unwrap_or_else(|| u32::try_from(running).unwrap_or(u32::MAX).max(1))
                };
                memory.scaling.insert(
                    key.clone(),
                    Scaling {
                        scaler: Autoscaler::new(range, max_instances, start, now),
                        why: format!("started at {start} replica(s)"),
                        at_ms: unix_ms(),
                    },
                );
            }
            let Some(scaling) = memory.scaling.get_mut(&key) else {
                continue;
            };
            scaling.scaler.follow(range, max_instances);
            if activated_now {
                if let Some(decision) = scaling.scaler.activate(now) {
                    self.decided(name, &actor.id, decision, scaling).await;
                }
            }
            let admitted = hosts.iter().filter(|h| placement.admits(&h.labels)).count();
            let load = loads.get(&actor.id).copied().unwrap_or(0.0);
            if let Some(decision) =
                scaling
                    .scaler
                    .observe(now, load, u32::try_from(admitted).unwrap_or(u32::MAX))
            {
                self.decided(name, &actor.id, decision, scaling).await;
            }
        }
    }

    /// App `name`'s manifest with each autoscaled actor's replicas as its
    /// autoscaler wants, and what each decided last.
    fn scaled(
        &self,
        name: &str,
        manifest: &Manifest,
        memory: &Memory,
    ) -> (Manifest, BTreeMap<String, ScaleStatus>) {
        let mut scaled = manifest.clone();
        let mut scales = BTreeMap::new();
        for actor in &mut scaled.actors {
            let Some(placement) = actor.placement.as_ref() else {
                continue;
            };
            let Some(scaling) = memory.scaling.get(&(name.to_string(), actor.id.clone())) else {
                continue;
            };
            let (min, max) = scaling.scaler.range();
            actor.placement = Some(placement.with_replicas(scaling.scaler.desired()));
            scales.insert(
                actor.id.to_string(),
                ScaleStatus {
                    min,
                    max,
                    why: scaling.why.clone(),
                    at_ms: scaling.at_ms,
                },
            );
        }
        (scaled, scales)
    }

    /// Each actor's calls in flight on average since the last pass, summed
    /// over its replicas, from the change of each replica's busy time; a
    /// replica heard for the first time counts from the next pass.
    fn loads(
        inventories: &[lattice_interfaces::protocol::control::Inventory],
        heard: Instant,
        memory: &mut Memory,
    ) -> HashMap<ComponentId, f64> {
        let mut loads: HashMap<ComponentId, f64> = HashMap::new();
        for inventory in inventories {
            for actor in &inventory.actors {
                let key = (inventory.host.host_id.clone(), actor.id.clone());
                if let Some((at, busy)) = memory.busy.insert(key, (heard, actor.busy_us)) {
                    let elapsed = heard.duration_since(at).as_micros();
                    if elapsed > 0 && actor.busy_us >= busy {
                        *loads.entry(actor.id.clone()).or_default() +=
                            (actor.busy_us - busy) as f64 / elapsed as f64;
                    }
                }
            }
        }
        let seen = &memory.seen;
        memory.busy.retain(|(host, _), _| seen.contains_key(host));
        loads
    }

    /// Takes or renews the lease; whether this host leads now.
    async fn lead(&self, memory: &mut Memory) -> Result<bool, super::StateError> {
        let (lease, revision) = self.state.lease().await?;
        let ours = lease.as_ref().is_some_and(|l| l.holder == self.host_id);
        let expired = lease.as_ref().is_none_or(|l| l.expires_at_ms <= unix_ms());
        if !ours && !expired {
            memory.lease_revision = None;
            memory.lease_sure_until = None;
            return Ok(false);
        }
        let writing = Instant::now();
        let renewed = Lease {
            holder: self.host_id.clone(),
            expires_at_ms: unix_ms()
                + u64::try_from(self.timing.lease.as_millis()).unwrap_or(u64::MAX),
        };
        memory.lease_revision = self.state.write_lease_if(&renewed, revision).await?;
        memory.lease_sure_until = memory
            .lease_revision
            .map(|_| writing + self.timing.lease.saturating_sub(self.timing.every));
        if memory.lease_revision.is_some() && !ours {
            tracing::info!("this host now reconciles the lattice's apps");
        }
        Ok(memory.lease_revision.is_some())
    }

    /// Whether the lease is still the one this host wrote (fencing).
    async fn still_leading(&self, memory: &Memory) -> bool {
        self.leads_at(memory.lease_revision).await
    }

    /// Whether the lease is still the one this host wrote at `revision`.
    pub(super) async fn leads_at(&self, revision: Option<u64>) -> bool {
        match (self.state.lease().await, revision) {
            (Ok((Some(lease), revision)), Some(ours)) => {
                revision == ours && lease.holder == self.host_id && lease.expires_at_ms > unix_ms()
            }
            _ => false,
        }
    }

    async fn pass(&self, memory: &mut Memory) -> Result<(), super::StateError> {
        let (apps, _) = self.state.apps().await?;
        if apps.apps.is_empty() {
            memory.apps = apps;
            return Ok(());
        }
        if !self.lead(memory).await? {
            memory.seen.clear();
            return Ok(());
        }
        let window =
            (self.timing.every / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
        let inventories = self.inventories(window).await;
        let heard = Instant::now();
        for inventory in &inventories {
            memory.seen.insert(
                inventory.host.host_id.clone(),
                (heard, HostView::of(inventory)),
            );
        }
        let lost_after = self.timing.lost_after;
        memory.seen.retain(|host, (at, _)| {
            let alive = at.elapsed() < lost_after;
            if !alive {
                tracing::warn!(%host, "host silent too long: placing its replicas elsewhere");
            }
            alive
        });
        // Replicas activated since the last pass, or still starting: as if
        // heard, so this pass neither starts another nor stops them.
        let super::activation::Taken {
            activated,
            starting,
        } = self.board.take();
        for (host, spec) in starting {
            if let Some((_, view)) = memory.seen.get_mut(&host) {
                view.actors
                    .entry(spec.id.clone())
                    .or_insert_with(|| HostView::running(&spec));
            }
        }
        // A draining host is left out: nothing is placed on it, and what it
        // runs is placed elsewhere (it keeps serving until it stops).
        let hosts = Self::placeable(memory);
        let answered: Vec<&HostId> = inventories.iter().map(|i| &i.host.host_id).collect();
        let reachable = |host: &HostId| answered.contains(&host);
        let loads = Self::loads(&inventories, heard, memory);
        memory.scaling.retain(|(app, actor), _| {
            apps.apps
                .get(app)
                .and_then(App::desired)
                .is_some_and(|v| v.manifest.actors.iter().any(|a| &a.id == actor))
        });

        for (name, app) in &apps.apps {
            match app.desired() {
                Some(version) => {
                    if memory.deployed.get(name) != Some(&version.version) {
                        memory.deployed.insert(name.clone(), version.version);
                        self.events
                            .publish(LatticeEvent::AppDeployed(AppVersioned {
                                app: name.clone(),
                                version: version.version,
                            }))
                            .await;
                    }
                    let scaling = Load {
                        hosts: &hosts,
                        loads: &loads,
                        activated: &activated,
                    };
                    self.autoscale(name, &version.manifest, &scaling, memory)
                        .await;
                    let (manifest, scales) = self.scaled(name, &version.manifest, memory);
                    let done = self
                        .reconcile(
                            name,
                            version.version,
                            &manifest,
                            &hosts,
                            &reachable,
                            memory,
                            &scales,
                        )
                        .await;
                    Self::remember(&done, memory);
                }
                None => self.remove(name, app, &hosts, &reachable, memory).await?,
            }
        }
        memory.apps = apps;
        Ok(())
    }

    /// Brings the hosts to app `name`'s `manifest` (autoscaled replicas
    /// already decided: `scales`) and records its status; returns the
    /// actions carried out.
    #[allow(clippy::too_many_arguments)]
    async fn reconcile(
        &self,
        name: &str,
        version: u32,
        manifest: &Manifest,
        hosts: &[HostView],
        reachable: &(dyn Fn(&HostId) -> bool + Sync),
        memory: &mut Memory,
        scales: &BTreeMap<String, ScaleStatus>,
    ) -> Vec<Action> {
        let plan = placement::plan(manifest, hosts, reachable);
        let mut failed = Vec::new();
        let mut done = Vec::new();
        // Its named config first, so its actors find it when they start;
        // only entries this host does not hold as declared (it mirrors the
        // bucket's config): a converged pass writes nothing.
        if !manifest.config.is_empty() && !self.still_leading(memory).await {
            return done;
        }
        let named = self.host.named_config();
        for (config, values) in &manifest.config {
            if named.get(config).as_ref() != Some(values) {
                if let Err(error) = self.state.put_config(config, values).await {
                    failed.push(format!("named config {config}: {error}"));
                }
            }
        }
        // Up to 16 actions at once (they go to different hosts or ids), the
        // lease checked before each batch.
        for batch in plan.actions.chunks(ACTIONS_AT_ONCE) {
            if !self.still_leading(memory).await {
                return done;
            }
            let results = futures::future::join_all(batch.iter().map(|a| self.carry_out(a))).await;
            for (action, result) in batch.iter().zip(results) {
                match result {
                    Ok(()) => done.push(action.clone()),
                    Err(reason) => failed.push(reason),
                }
            }
        }
        // Only links this host does not hold as declared (it mirrors every
        // link of the lattice): a converged pass sends nothing.
        let held = self.host.links();
        for link in manifest.links.iter().filter(|l| !held.contains(l)) {
            let put = tokio::time::timeout(
                LINK_PUT_DEADLINE,
                self.control.request::<op::PutLink>(None, link),
            )
            .await;
            match put {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => failed.push(format!("link {link}: {error}")),
                Err(_) => failed.push(format!("link {link}: no answer in {LINK_PUT_DEADLINE:?}")),
            }
        }
        let plan_short_of_hosts = plan.short_of_hosts;
        let mut status = AppStatus {
            version,
            converged: plan.actions.is_empty()
                && failed.is_empty()
                && plan.components.iter().all(|c| c.reason.is_none()),
            components: plan.components,
        };
        for component in &mut status.components {
            component.scale = scales.get(&component.id).cloned();
        }
        for component in &mut status.components {
            if let Some(reason) = &component.reason {
                if memory.statuses.get(name).is_none_or(|old| {
                    old.components
                        .iter()
                        .find(|c| c.id == component.id)
                        .and_then(|c| c.reason.as_ref())
                        != Some(reason)
                }) && plan_short_of_hosts.contains(&component.id)
                {
                    self.events
                        .publish(LatticeEvent::PlacementFailed(NotPlaced {
                            component: component.id.clone(),
                            reason: reason.clone(),
                            app: Some(name.to_string()),
                            host_id: None,
                        }))
                        .await;
                }
            }
        }
        if !failed.is_empty() {
            status.converged = false;
            if let Some(first) = status.components.first_mut() {
                let reason = failed.join("; ");
                first.reason = Some(
                    first
                        .reason
                        .take()
                        .map_or(reason.clone(), |r| format!("{r}; {reason}")),
                );
            }
        }
        if memory.statuses.get(name) != Some(&status) {
            if status.converged {
                self.events
                    .publish(LatticeEvent::AppReconciled(AppVersioned {
                        app: name.to_string(),
                        version,
                    }))
                    .await;
            }
            if let Err(error) = self.state.put_app_status(name, &status).await {
                tracing::warn!(app = name, %error, "cannot record the app's status");
            }
            memory.statuses.insert(name.to_string(), status);
        }
        done
    }

    /// Stops what a deleted app ran and deletes its links and named config;
    /// once nothing of it runs, removes the app.
    async fn remove(
        &self,
        name: &str,
        app: &App,
        hosts: &[HostView],
        reachable: &(dyn Fn(&HostId) -> bool + Sync),
        memory: &mut Memory,
    ) -> Result<(), super::StateError> {
        let Some(last) = app.latest() else {
            return Ok(());
        };
        let actions = placement::removal(&last.manifest, hosts, reachable);
        let done = actions.is_empty();
        for batch in actions.chunks(ACTIONS_AT_ONCE) {
            if !self.still_leading(memory).await {
                return Ok(());
            }
            for refused in futures::future::join_all(batch.iter().map(|a| self.carry_out(a))).await
            {
                if let Err(reason) = refused {
                    tracing::warn!(app = name, reason, "cannot stop a deleted app's component");
                }
            }
        }
        if !done {
            return Ok(());
        }
        for link in &last.manifest.links {
            let key = link.key();
            let request = LinkDel {
                source: key.source,
                namespace: key.namespace,
                package: key.package,
                name: key.name,
            };
            // Already gone is as good as deleted.
            let _ = self.control.request::<op::DeleteLink>(None, &request).await;
        }
        for config in last.manifest.config.keys() {
            if let Err(error) = self.state.delete_config(config).await {
                tracing::warn!(app = name, %config, %error, "cannot delete a deleted app's named config");
            }
        }
        // Removed only if still deleted: an apply since brings it back.
        let _unrefused: Result<(), String> = self
            .state
            .update_apps(|apps| {
                if apps.apps.get(name).is_some_and(|a| a.current == 0) {
                    apps.apps.remove(name);
                }
                Ok(())
            })
            .await?;
        self.state.delete_app_status(name).await?;
        memory.statuses.remove(name);
        memory.deployed.remove(name);
        self.events
            .publish(LatticeEvent::AppDeleted(AppNamed {
                app: name.to_string(),
            }))
            .await;
        Ok(())
    }

    /// Every host's inventory: a ping gathered for `window`, then each host
    /// that answered asked for its inventory (at most `window` each, all at
    /// once). A host that does not answer is left out.
    async fn inventories(
        &self,
        window: Duration,
    ) -> Vec<lattice_interfaces::protocol::control::Inventory> {
        let hosts = self
            .control
            .gather::<op::Ping>(&Empty {}, window)
            .await
            .unwrap_or_default();
        let asked = hosts.iter().map(|host| {
            tokio::time::timeout(
                window * 2,
                self.control
                    .request::<op::Inventory>(Some(&host.host_id), &Empty {}),
            )
        });
        futures::future::join_all(asked)
            .await
            .into_iter()
            .filter_map(|answer| answer.ok()?.ok())
            .collect()
    }

    /// Sends one action to its host; the refusal, one line.
    pub(super) async fn carry_out(&self, action: &Action) -> Result<(), String> {
        let host = Some(action.host());
        let (component, what, result) = match action {
            Action::RunActor { spec, .. } => (
                spec.id.to_string(),
                "run actor",
                self.control
                    .request::<op::ScaleActor>(
                        host,
                        &ScaleActor {
                            actor_id: spec.id.clone(),
                            actor_ref: spec.reference.clone(),
                            max_instances: spec.max_instances.unwrap_or(100),
                            instance_reuse: spec.instance_reuse,
                            min_instances: spec.min_instances,
                            config: Some(spec.config.clone()),
                            secrets: Some(spec.secrets.clone()),
                            models: spec.models.clone(),
                        },
                    )
                    .await
                    .map(drop),
            ),
            Action::UpdateActor { id, reference, .. } => (
                id.to_string(),
                "update actor",
                self.control
                    .request::<op::UpdateActor>(
                        host,
                        &UpdateActor {
                            actor_id: id.clone(),
                            new_actor_ref: reference.clone(),
                        },
                    )
                    .await
                    .map(drop),
            ),
            Action::StopActor { id, .. } => (
                id.to_string(),
                "stop actor",
                self.control
                    .request::<op::ScaleActor>(host, &ScaleActor::stop(id.clone()))
                    .await
                    .map(drop),
            ),
            Action::StartProvider { spec, .. } => (
                spec.id.to_string(),
                "start provider",
                self.control
                    .request::<op::StartProvider>(
                        host,
                        &StartProvider {
                            provider_id: spec.id.clone(),
                            reference: spec.reference.clone(),
                            config: spec.config.clone(),
                        },
                    )
                    .await
                    .map(drop),
            ),
            Action::StopProvider { id, .. } => (
                id.to_string(),
                "stop provider",
                self.control
                    .request::<op::StopProvider>(
                        host,
                        &StopProvider {
                            provider_id: id.clone(),
                        },
                    )
                    .await
                    .map(drop),
            ),
        };
        let host = action.host();
        match result {
            Ok(()) => {
                self.events
                    .publish(LatticeEvent::ReplicaPlaced(Placed {
                        component: component.to_string(),
                        host_id: host.clone(),
                        action: what.to_string(),
                    }))
                    .await;
                Ok(())
            }
            Err(error) => {
                let reason = format!("{what} {component} on {host}: {error}");
                self.events
                    .publish(LatticeEvent::PlacementFailed(NotPlaced {
                        component: component.to_string(),
                        reason: reason.clone(),
                        app: None,
                        host_id: Some(host.clone()),
                    }))
                    .await;
                Err(reason)
            }
        }
    }
}

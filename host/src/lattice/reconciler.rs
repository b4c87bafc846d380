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

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lattice_interfaces::protocol::rpc::unix_ms;

use lattice_client::ControlClient;
use lattice_interfaces::protocol::app::{App, AppStatus, Lease};
use lattice_interfaces::protocol::control::{
    op, Empty, LinkDel, ScaleActor, StartProvider, StopProvider, UpdateActor,
};
use lattice_interfaces::protocol::events::{
    AppNamed, AppVersioned, LatticeEvent, NotPlaced, Placed,
};
use lattice_interfaces::{HostId, Manifest};
use lattice_rpc::EventPublisher;
use tokio_util::sync::CancellationToken;

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
    /// Each host's last inventory and when it answered.
    seen: HashMap<HostId, (Instant, HostView)>,
    /// The version of each app last announced as deployed.
    deployed: HashMap<String, u32>,
    /// The status last written, per app.
    statuses: HashMap<String, AppStatus>,
}

impl Reconciler {
    /// Runs passes until `stop`.
    pub async fn run(self, stop: CancellationToken) {
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
                }
            }
        }
    }

    /// Takes or renews the lease; whether this host leads now.
    async fn lead(&self, memory: &mut Memory) -> Result<bool, super::StateError> {
        let (lease, revision) = self.state.lease().await?;
        let ours = lease.as_ref().is_some_and(|l| l.holder == self.host_id);
        let expired = lease.as_ref().is_none_or(|l| l.expires_at_ms <= unix_ms());
        if !ours && !expired {
            memory.lease_revision = None;
            return Ok(false);
        }
        let renewed = Lease {
            holder: self.host_id.clone(),
            expires_at_ms: unix_ms()
                + u64::try_from(self.timing.lease.as_millis()).unwrap_or(u64::MAX),
        };
        memory.lease_revision = self.state.write_lease_if(&renewed, revision).await?;
        if memory.lease_revision.is_some() && !ours {
            tracing::info!("this host now reconciles the lattice's apps");
        }
        Ok(memory.lease_revision.is_some())
    }

    /// Whether the lease is still the one this host wrote (fencing).
    async fn still_leading(&self, memory: &Memory) -> bool {
        match (self.state.lease().await, memory.lease_revision) {
            (Ok((Some(lease), revision)), Some(ours)) => {
                revision == ours && lease.holder == self.host_id && lease.expires_at_ms > unix_ms()
            }
            _ => false,
        }
    }

    async fn pass(&self, memory: &mut Memory) -> Result<(), super::StateError> {
        let (apps, _) = self.state.apps().await?;
        if apps.apps.is_empty() {
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
        // A draining host is left out: nothing is placed on it, and what it
        // runs is placed elsewhere (it keeps serving until it stops).
        let hosts: Vec<HostView> = memory
            .seen
            .values()
            .map(|(_, view)| view)
            .filter(|view| {
                !view
                    .labels
                    .contains_key(lattice_interfaces::placement::DRAINING_LABEL)
            })
            .cloned()
            .collect();
        let answered: Vec<&HostId> = inventories.iter().map(|i| &i.host.host_id).collect();
        let reachable = |host: &HostId| answered.contains(&host);

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
                    self.reconcile(
                        name,
                        version.version,
                        &version.manifest,
                        &hosts,
                        &reachable,
                        memory,
                    )
                    .await;
                }
                None => self.remove(name, app, &hosts, &reachable, memory).await?,
            }
        }
        Ok(())
    }

    async fn reconcile(
        &self,
        name: &str,
        version: u32,
        manifest: &Manifest,
        hosts: &[HostView],
        reachable: &(dyn Fn(&HostId) -> bool + Sync),
        memory: &mut Memory,
    ) {
        let plan = placement::plan(manifest, hosts, reachable);
        let mut failed = Vec::new();
        // Its named config first, so its actors find it when they start;
        // only entries this host does not hold as declared (it mirrors the
        // bucket's config): a converged pass writes nothing.
        if !manifest.config.is_empty() && !self.still_leading(memory).await {
            return;
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
                return;
            }
            let done = futures::future::join_all(batch.iter().map(|a| self.carry_out(a))).await;
            failed.extend(done.into_iter().filter_map(Result::err));
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
    async fn carry_out(&self, action: &Action) -> Result<(), String> {
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

//! The dashboard's view of the lattice, kept by one task: the
//! [`Refresher`].
//!
//! It reads only what the lattice already carries over NATS, through the
//! same control requests as `lattice-ctl get`: `host.ping` and
//! `host.inventory` for the hosts, `link.get` for the links, and the state
//! bucket's `apps` and `appstatus.<name>` keys for the apps. Nothing is
//! scraped from the hosts' `/metrics`.
//!
//! 1. Every [`REFRESH`] it reads everything; a host that misses a ping is
//!    shown `unreachable` with what it last ran, and dropped after
//!    [`MISSES_DROPPED`] misses.
//! 2. A [`Hint`] from the event feed has the part it names read again
//!    [`SETTLE`] later (hints arriving meanwhile are served by the same
//!    read): one host's inventory, the links, or the apps. A stopped host
//!    is dropped at once.
//! 3. Per-actor call and error rates are the growth of the inventory's
//!    `calls` and `failed` counters between two inventories at least
//!    [`RATE_WINDOW`] apart, per second.
//! 4. Each part is published as JSON on a `watch` channel, only when its
//!    text changed: a page that falls behind gets the latest.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::protocol::rpc::unix_ms;

use futures::StreamExt as _;
use lattice_client::state::LatticeState;
use lattice_client::{ControlClient, ControlError};
use lattice_interfaces::placement::DRAINING_LABEL;
use lattice_interfaces::protocol::app::AppStatus;
use lattice_interfaces::protocol::control::{
    op, ActorInventory, Empty, HostInfo, Inventory, ProviderInventory, RouteCount,
};
use lattice_interfaces::{ComponentId, HostId, Link};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::client::LatticeClient;

/// How often everything is read again.
pub const REFRESH: Duration = Duration::from_secs(5);
/// How long after a hint its part is read (later hints join the read).
pub const SETTLE: Duration = Duration::from_millis(150);
/// The shortest time between two inventories a rate is computed over.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);
/// Missed pings after which a host is no longer shown.
pub const MISSES_DROPPED: u32 = 3;
/// How long a ping gathers answers.
const PING_WINDOW: Duration = Duration::from_millis(750);
/// How long one inventory or link request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Inventories asked at once.
const INVENTORIES_AT_ONCE: usize = 8;

/// What an event says changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// What this host runs, or its labels.
    Host(HostId),
    /// This host stopped.
    HostGone(HostId),
    /// The links.
    Links,
    /// The apps or their statuses.
    Apps,
}

/// The view's parts as JSON, each updated when it changes.
#[derive(Clone)]
pub struct Parts {
    /// `[HostView]`, by host id.
    pub hosts: watch::Receiver<Arc<str>>,
    /// `[Link]`, by key.
    pub links: watch::Receiver<Arc<str>>,
    /// `[AppView]`, by name.
    pub apps: watch::Receiver<Arc<str>>,
    /// `{"refreshed_at_ms", "problems": [..]}`: what could not be read.
    pub meta: watch::Receiver<Arc<str>>,
}

impl Parts {
    /// The current parts as one JSON object (`GET /api/snapshot`).
    pub fn snapshot(&self) -> String {
        format!(
            r#"{{"hosts":{},"links":{},"apps":{},"meta":{}}}"#,
            &**self.hosts.borrow(),
            &**self.links.borrow(),
            &**self.apps.borrow(),
            &**self.meta.borrow()
        )
    }
}

/// One host as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HostView {
    /// The host's id.
    pub host_id: HostId,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its version.
    pub version: String,
    /// When it started.
    pub started_at: String,
    /// Seconds it had been up when it last answered.
    pub uptime_seconds: u64,
    /// `ready`, `draining` or `unreachable`.
    pub state: &'static str,
    /// Its actors with their rates.
    pub actors: Vec<ActorView>,
    /// Its providers.
    pub providers: Vec<ProviderInventory>,
    /// How it routed calls, per target.
    pub routing: BTreeMap<ComponentId, RouteCount>,
}

/// One actor on one host.
#[derive(Debug, Clone, Serialize)]
pub struct ActorView {
    /// What the host says of it.
    #[serde(flatten)]
    pub inventory: ActorInventory,
    /// Calls per second lately.
    pub rate: f64,
    /// Failed calls per second lately.
    pub error_rate: f64,
}

/// One app with the reconciler's last finding.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    /// Its name.
    pub name: String,
    /// The version that should run (0: deleted).
    pub current: u32,
    /// The versions kept.
    pub versions: Vec<u32>,
    /// `converged`, `reconciling` or `deleting`.
    pub state: &'static str,
    /// Desired against running, per component, with reasons.
    pub status: Option<AppStatus>,
}

/// A counter reading of one actor.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    calls: u64,
    failed: u64,
    rate: f64,
    error_rate: f64,
}

impl Sample {
    /// The reading after `self` at `at`: new rates once [`RATE_WINDOW`]
    /// has passed, else `self` as it is.
    fn next(self, at: Instant, calls: u64, failed: u64) -> Self {
        let elapsed = at.saturating_duration_since(self.at);
        if elapsed < RATE_WINDOW {
            return self;
        }
        let per_second = |now: u64, before: u64| {
            // A counter that went back: the actor started again.
            now.checked_sub(before).unwrap_or(now) as f64 / elapsed.as_secs_f64()
        };
        Self {
            at,
            calls,
            failed,
            rate: per_second(calls, self.calls),
            error_rate: per_second(failed, self.failed),
        }
    }
}

/// What is known of one host.
struct Known {
    info: HostInfo,
    inventory: Option<Inventory>,
    missed: u32,
    samples: HashMap<ComponentId, Sample>,
}

impl Known {
    fn new(info: HostInfo) -> Self {
        Self {
            info,
            inventory: None,
            missed: 0,
            samples: HashMap::new(),
        }
    }

    /// Takes `inventory`, read at `at`, updating the rates.
    fn take(&mut self, inventory: Inventory, at: Instant) {
        let mut samples = HashMap::new();
        for actor in &inventory.actors {
            let sample = match self.samples.get(&actor.id) {
                Some(before) => before.next(at, actor.calls, actor.failed),
                None => Sample {
                    at,
                    calls: actor.calls,
                    failed: actor.failed,
                    rate: 0.0,
                    error_rate: 0.0,
                },
            };
            samples.insert(actor.id.clone(), sample);
        }
        self.samples = samples;
        self.info = inventory.host.clone();
        self.missed = 0;
        self.inventory = Some(inventory);
    }

    fn view(&self) -> HostView {
        let state = if self.missed > 0 {
            "unreachable"
        } else if self
            .info
            .labels
            .get(DRAINING_LABEL)
            .is_some_and(|v| v == "true")
        {
            "draining"
        } else {
            "ready"
        };
        let (actors, providers, routing) = match &self.inventory {
            Some(inventory) => (
                inventory
                    .actors
                    .iter()
                    .map(|actor| {
                        let sample = self.samples.get(&actor.id);
                        ActorView {
                            inventory: actor.clone(),
                            rate: sample.map_or(0.0, |s| s.rate),
                            error_rate: sample.map_or(0.0, |s| s.error_rate),
                        }
                    })
                    .collect(),
                inventory.providers.clone(),
                inventory.routing.clone(),
            ),
            None => Default::default(),
        };
        HostView {
            host_id: self.info.host_id.clone(),
            labels: self.info.labels.clone(),
            version: self.info.version.clone(),
            started_at: self.info.started_at.clone(),
            uptime_seconds: self.info.uptime_seconds,
            state,
            actors,
            providers,
            routing,
        }
    }
}

/// Parts that hints asked for, read together.
#[derive(Debug, Default)]
struct Pending {
    hosts: BTreeSet<HostId>,
    links: bool,
    apps: bool,
}

/// The task that keeps the view.
pub struct Refresher {
    client: LatticeClient,
    control: ControlClient,
    state: Option<LatticeState>,
    hosts: BTreeMap<HostId, Known>,
    problems: BTreeMap<&'static str, String>,
    senders: Senders,
}

struct Senders {
    hosts: watch::Sender<Arc<str>>,
    links: watch::Sender<Arc<str>>,
    apps: watch::Sender<Arc<str>>,
    meta: watch::Sender<Arc<str>>,
}

/// Sends `text` on `sender` when it differs from what it holds.
fn publish(sender: &watch::Sender<Arc<str>>, text: String) {
    sender.send_if_modified(|held| {
        if **held == *text {
            return false;
        }
        *held = text.into();
        true
    });
}

impl Refresher {
    /// Starts the task for the lattice `client` is connected to (`url`
    /// naming its server in messages), taking `hints`, until `stop`; the
    /// parts it publishes.
    ///
    /// # Errors
    ///
    /// When the lattice id is not usable (it was, to connect).
    pub fn start(
        client: &LatticeClient,
        url: &str,
        hints: mpsc::Receiver<Hint>,
        stop: CancellationToken,
    ) -> anyhow::Result<Parts> {
        let empty = || watch::channel::<Arc<str>>(Arc::from("[]"));
        let (hosts, hosts_rx) = empty();
        let (links, links_rx) = empty();
        let (apps, apps_rx) = empty();
        let (meta, meta_rx) = watch::channel::<Arc<str>>(Arc::from(
            r#"{"refreshed_at_ms":0,"problems":["reading the lattice…"]}"#,
        ));
        let control = ControlClient::new(
            client.nats().clone(),
            client.subjects().lattice(),
            url,
            REQUEST_TIMEOUT,
        )?;
        let refresher = Self {
            client: client.clone(),
            control,
            state: None,
            hosts: BTreeMap::new(),
            problems: BTreeMap::new(),
            senders: Senders {
                hosts,
                links,
                apps,
                meta,
            },
        };
        tokio::spawn(refresher.run(hints, stop));
        Ok(Parts {
            hosts: hosts_rx,
            links: links_rx,
            apps: apps_rx,
            meta: meta_rx,
        })
    }

    async fn run(mut self, mut hints: mpsc::Receiver<Hint>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(REFRESH);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = Pending::default();
        let mut due: Option<Instant> = None;
        let mut hints_open = true;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {
                    pending = Pending::default();
                    due = None;
                    self.refresh_all().await;
                }
                hint = hints.recv(), if hints_open => match hint {
                    Some(Hint::HostGone(host)) => {
                        if self.hosts.remove(&host).is_some() {
                            self.publish_hosts();
                        }
                        pending.hosts.remove(&host);
                    }
                    Some(hint) => {
                        match hint {
                            Hint::Host(host) => { pending.hosts.insert(host); }
                            Hint::Links => pending.links = true,
                            Hint::Apps => pending.apps = true,
                            Hint::HostGone(_) => {}
                        }
                        due.get_or_insert_with(|| Instant::now() + SETTLE);
                    }
                    None => hints_open = false,
                },
                () = async {
                    match due {
                        Some(due) => tokio::time::sleep_until(due).await,
                        None => std::future::pending().await,
                    }
                } => {
                    due = None;
                    let asked = std::mem::take(&mut pending);
                    self.refresh_pending(asked).await;
                }
            }
        }
    }

    async fn refresh_all(&mut self) {
        match self
            .control
            .gather::<op::Ping>(&Empty {}, PING_WINDOW)
            .await
        {
            Ok(answered) => {
                self.problems.remove("hosts");
                let answered: BTreeMap<HostId, HostInfo> = answered
                    .into_iter()
                    .map(|info| (info.host_id.clone(), info))
                    .collect();
                self.hosts.retain(|id, known| {
                    if !answered.contains_key(id) {
                        known.missed += 1;
                    }
                    known.missed < MISSES_DROPPED
                });
                for (id, info) in &answered {
                    self.hosts
                        .entry(id.clone())
                        .or_insert_with(|| Known::new(info.clone()))
                        .missed = 0;
                }
                self.read_inventories(answered.into_keys().collect()).await;
            }
            Err(error) => {
                self.problems
                    .insert("hosts", format!("cannot ping: {error}"));
            }
        }
        self.publish_hosts();
        self.refresh_links().await;
        self.refresh_apps().await;
        self.publish_meta();
    }

    async fn refresh_pending(&mut self, pending: Pending) {
        if !pending.hosts.is_empty() {
            self.read_inventories(pending.hosts.into_iter().collect())
                .await;
            self.publish_hosts();
        }
        if pending.links {
            self.refresh_links().await;
        }
        if pending.apps {
            self.refresh_apps().await;
        }
        self.publish_meta();
    }

    /// Asks each of `ids` for its inventory, a few at a time.
    async fn read_inventories(&mut self, ids: Vec<HostId>) {
        let control = &self.control;
        let answers: Vec<(HostId, Result<Inventory, ControlError>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let answer = control.request::<op::Inventory>(Some(&id), &Empty {}).await;
                (id, answer)
            })
            .buffer_unordered(INVENTORIES_AT_ONCE)
            .collect()
            .await;
        let at = Instant::now();
        let mut failed = Vec::new();
        for (id, answer) in answers {
            match answer {
                Ok(inventory) => self
                    .hosts
                    .entry(id)
                    .or_insert_with(|| Known::new(inventory.host.clone()))
                    .take(inventory, at),
                Err(error) => failed.push(format!("{id}: {error}")),
            }
        }
        match failed.first() {
            None => {
                self.problems.remove("inventory");
            }
            Some(first) => {
                self.problems.insert(
                    "inventory",
                    format!("{} inventories unread; first: {first}", failed.len()),
                );
            }
        }
    }

    async fn refresh_links(&mut self) {
        let links: Result<Vec<Link>, String> =
            match self.control.request::<op::GetLinks>(None, &Empty {}).await {
                Ok(links) => Ok(links),
                // No host: the bucket holds them all the same (unverified).
                Err(ControlError::NoAnswer { .. }) => match self.state().await {
                    Some(state) => state.links().await.map_err(|e| e.to_string()),
                    None => Ok(Vec::new()),
                },
                Err(error) => Err(error.to_string()),
            };
        match links.and_then(|links| serde_json::to_string(&links).map_err(|e| e.to_string())) {
            Ok(text) => {
                self.problems.remove("links");
                publish(&self.senders.links, text);
            }
            Err(error) => {
                self.problems
                    .insert("links", format!("cannot read links: {error}"));
            }
        }
    }

    /// The state bucket, opened the first time it exists.
    async fn state(&mut self) -> Option<LatticeState> {
        if self.state.is_none() {
            self.state = self.client.state().await.ok();
        }
        self.state.clone()
    }

    async fn refresh_apps(&mut self) {
        let Some(state) = self.state().await else {
            // No host ever joined: no bucket, no apps.
            publish(&self.senders.apps, "[]".into());
            return;
        };
        match read_apps(&state).await {
            Ok(apps) => match serde_json::to_string(&apps) {
                Ok(text) => {
                    self.problems.remove("apps");
                    publish(&self.senders.apps, text);
                }
                Err(error) => {
                    self.problems.insert("apps", error.to_string());
                }
            },
            Err(error) => {
                self.problems
                    .insert("apps", format!("cannot read apps: {error}"));
            }
        }
    }

    fn publish_hosts(&self) {
        let views: Vec<HostView> = self.hosts.values().map(Known::view).collect();
        match serde_json::to_string(&views) {
            Ok(text) => publish(&self.senders.hosts, text),
            Err(error) => tracing::warn!(%error, "cannot encode the hosts"),
        }
    }

    fn publish_meta(&self) {
        let meta = serde_json::json!({
            "refreshed_at_ms": unix_ms(),
            "problems": self.problems.values().collect::<Vec<_>>(),
        });
        // Only when the problems change: the time alone is no news.
        let problems_now = meta.get("problems").map(ToString::to_string);
        let problems_before =
            serde_json::from_str::<serde_json::Value>(&self.senders.meta.borrow())
                .ok()
                .and_then(|v| v.get("problems").map(ToString::to_string));
        if problems_now != problems_before {
            publish(&self.senders.meta, meta.to_string());
        }
    }
}

async fn read_apps(state: &LatticeState) -> anyhow::Result<Vec<AppView>> {
    let (apps, _) = state.apps().await?;
    let mut views = Vec::new();
    for (name, app) in apps.apps {
        let status = state.app_status(&name).await?;
        let shown = match (app.current, &status) {
            (0, _) => "deleting",
            (current, Some(s)) if s.version == current && s.converged => "converged",
            _ => "reconciling",
        };
        views.push(AppView {
            name,
            current: app.current,
            versions: app.versions.iter().map(|v| v.version).collect(),
            state: shown,
            status,
        });
    }
    Ok(views)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_counter_growth_per_second_over_the_window() {
        let start = Instant::now();
        let first = Sample {
            at: start,
            calls: 100,
            failed: 1,
            rate: 0.0,
            error_rate: 0.0,
        };
        // Too soon: nothing changes.
        let soon = first.next(start + Duration::from_secs(1), 150, 1);
        assert_eq!(soon.calls, 100);
        let later = first.next(start + Duration::from_secs(4), 300, 5);
        assert!((later.rate - 50.0).abs() < 1e-9, "{}", later.rate);
        assert!((later.error_rate - 1.0).abs() < 1e-9);
        // The actor started again: its counters went back.
        let restarted = later.next(start + Duration::from_secs(8), 40, 0);
        assert!((restarted.rate - 10.0).abs() < 1e-9);
    }
}

//! What an app needs done: given its manifest and what each host runs, the
//! actions that bring the hosts to the manifest, and each component's
//! status. Pure: the reconciler gathers the input and carries the actions
//! out, and the same input always gives the same plan.

use std::collections::BTreeMap;

use lattice_interfaces::placement::Placement;
use lattice_interfaces::protocol::app::ComponentStatus;
use lattice_interfaces::protocol::control::Inventory;
use lattice_interfaces::{ActorSpec, ComponentId, HostId, Manifest, ProviderSpec};

use crate::artifacts::runs;
use crate::config::ConfigSources;

/// What one host runs, as its inventory says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostView {
    /// The host id.
    pub id: HostId,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Actors: reference, instance limit, and what they read through
    /// `wasi:config/store`.
    pub actors: BTreeMap<ComponentId, (String, u32, ConfigSources)>,
    /// Providers: reference.
    pub providers: BTreeMap<ComponentId, String>,
    /// Artifacts it holds, by origin.
    pub artifacts: Vec<String>,
}

impl HostView {
    /// From a host's inventory.
    pub fn of(inventory: &Inventory) -> Self {
        Self {
            id: inventory.host.host_id.clone(),
            labels: inventory.host.labels.clone(),
            actors: inventory
                .actors
                .iter()
                .map(|a| {
                    let reads = ConfigSources {
                        config: a.config.clone(),
                        secrets: a.secrets.clone(),
                    };
                    (a.id.clone(), (a.reference.clone(), a.max_instances, reads))
                })
                .collect(),
            providers: inventory
                .providers
                .iter()
                .map(|p| (p.id.clone(), p.reference.clone()))
                .collect(),
            artifacts: inventory.artifacts.clone(),
        }
    }

    /// How it shows actor `spec` running, until its next inventory says
    /// (reference, instance limit, what it reads).
    pub fn running(spec: &ActorSpec) -> (String, u32, ConfigSources) {
        (
            spec.reference.clone(),
            spec.max_instances.unwrap_or(100),
            ConfigSources::of(spec),
        )
    }

    /// Whether it holds what `reference` names.
    fn holds(&self, reference: &str) -> bool {
        self.artifacts.iter().any(|origin| runs(origin, reference))
    }

    fn load(&self) -> usize {
        self.actors.len() + self.providers.len()
    }

    fn runs(&self, id: &ComponentId) -> bool {
        self.actors.contains_key(id) || self.providers.contains_key(id)
    }
}

/// One change on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Start the actor, or change its instance limit (`actor.scale`).
    RunActor { host: HostId, spec: ActorSpec },
    /// Swap its component (`actor.update`).
    UpdateActor {
        host: HostId,
        id: ComponentId,
        reference: String,
    },
    /// Stop it (`actor.scale` to 0).
    StopActor { host: HostId, id: ComponentId },
    /// Start the provider (`provider.start`).
    StartProvider { host: HostId, spec: ProviderSpec },
    /// Stop it (`provider.stop`).
    StopProvider { host: HostId, id: ComponentId },
}

impl Action {
    /// The host it is for.
    pub fn host(&self) -> &HostId {
        match self {
            Self::RunActor { host, .. }
            | Self::UpdateActor { host, .. }
            | Self::StopActor { host, .. }
            | Self::StartProvider { host, .. }
            | Self::StopProvider { host, .. } => host,
        }
    }
}

/// The actions and statuses for one app.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub actions: Vec<Action>,
    pub components: Vec<ComponentStatus>,
    /// The components (ids) with replicas no reachable host can take: no
    /// other host matches their constraints or spread. The reconciler
    /// announces these as `placement_failed`.
    pub short_of_hosts: std::collections::BTreeSet<String>,
}

/// A component as the planner sees it.
struct Component<'a> {
    id: &'a ComponentId,
    kind: &'static str,
    /// Its artifact.
    reference: &'a str,
    placement: Placement,
    /// Whether a host runs it as this version wants (reference; limits).
    current_on: Box<dyn Fn(&HostView) -> Fresh + 'a>,
    start: Box<dyn Fn(&HostId) -> Action + 'a>,
    stop: Box<dyn Fn(&HostId) -> Action + 'a>,
}

/// How a host runs a component, against what the app wants.
enum Fresh {
    /// As wanted.
    Yes,
    /// Other limits, or other config or secrets: the start action changes
    /// them in place.
    Limits,
    /// Another component: swap it (an actor) or restart it (a provider).
    Outdated(Box<Action>),
}

fn components(manifest: &Manifest) -> Vec<Component<'_>> {
    let mut all = Vec::new();
    for actor in &manifest.actors {
        let max = actor.max_instances.unwrap_or(100);
        let reads = ConfigSources::of(actor);
        all.push(Component {
            id: &actor.id,
            kind: "actor",
            reference: &actor.reference,
            placement: actor.placement.clone().unwrap_or_default(),
            current_on: Box::new(move |host: &HostView| match host.actors.get(&actor.id) {
                Some((reference, _, _)) if !runs(reference, &actor.reference) => {
                    Fresh::Outdated(Box::new(Action::UpdateActor {
                        host: host.id.clone(),
                        id: actor.id.clone(),
                        reference: actor.reference.clone(),
                    }))
                }
                Some((_, instances, running)) if *instances != max || *running != reads => {
                    Fresh::Limits
                }
                _ => Fresh::Yes,
            }),
            start: Box::new(move |host: &HostId| Action::RunActor {
                host: host.clone(),
                spec: ActorSpec {
                    max_instances: Some(max),
                    placement: None,
                    ..actor.clone()
                },
            }),
            stop: Box::new(move |host: &HostId| Action::StopActor {
                host: host.clone(),
                id: actor.id.clone(),
            }),
        });
    }
    for provider in &manifest.providers {
        all.push(Component {
            id: &provider.id,
            kind: "provider",
            reference: &provider.reference,
            placement: provider.placement.clone().unwrap_or_default(),
            current_on: Box::new(
                move |host: &HostView| match host.providers.get(&provider.id) {
                    Some(reference) if !runs(reference, &provider.reference) => {
                        Fresh::Outdated(Box::new(Action::StopProvider {
                            host: host.id.clone(),
                            id: provider.id.clone(),
                        }))
                    }
                    _ => Fresh::Yes,
                },
            ),
            start: Box::new(move |host: &HostId| Action::StartProvider {
                host: host.clone(),
                spec: ProviderSpec {
                    placement: None,
                    ..provider.clone()
                },
            }),
            stop: Box::new(move |host: &HostId| Action::StopProvider {
                host: host.clone(),
                id: provider.id.clone(),
            }),
        });
    }
    all
}

fn describe(placement: &Placement, bucket: Option<(&str, &str)>) -> String {
    let mut wanted: Vec<String> = placement
        .constraints
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some((label, value)) = bucket {
        wanted.push(format!("{label}={value}"));
    }
    if wanted.is_empty() {
        "any host".into()
    } else {
        wanted.join(",")
    }
}

/// The plan that brings `hosts` to `manifest`. `reachable` tells which
/// hosts may be sent actions now (a host not heard from lately still
/// counts as running what it ran, but gets no actions).
pub(crate) fn plan(
    manifest: &Manifest,
    hosts: &[HostView],
    reachable: &(dyn Fn(&HostId) -> bool + Sync),
) -> Plan {
    let mut plan = Plan::default();
    for component in components(manifest) {
        let placing = Placing {
            running: hosts.iter().filter(|h| h.runs(component.id)).collect(),
            component: &component,
            hosts,
            reachable,
        };
        let mut choice = if component.placement.daemon {
            placing.on_every_match()
        } else {
            placing.replicas()
        };
        plan.actions
            .extend(choice.starting.iter().map(|h| (component.start)(&h.id)));
        for host in &placing.running {
            if !choice.keep.iter().any(|k| k.id == host.id) && reachable(&host.id) {
                plan.actions.push((component.stop)(&host.id));
            }
        }
        if placing.roll_out(&choice.keep, &mut plan.actions) {
            choice
                .reasons
                .push("rolling out a new version, one host at a time".into());
        }
        let mut running_ids: Vec<HostId> = placing.running.iter().map(|h| h.id.clone()).collect();
        running_ids.sort();
        if running_ids.len() > choice.desired && choice.reasons.is_empty() {
            choice.reasons.push(format!(
                "{} running, {} wanted; stopping the rest",
                running_ids.len(),
                choice.desired
            ));
        } else if running_ids.len() != choice.desired && choice.reasons.is_empty() {
            choice.reasons.push(format!(
                "{} of {} placed; placing",
                running_ids.len(),
                choice.desired
            ));
        }
        if choice.short_of_hosts {
            plan.short_of_hosts.insert(component.id.to_string());
        }
        plan.components.push(ComponentStatus {
            id: component.id.to_string(),
            kind: component.kind.to_string(),
            desired: u32::try_from(choice.desired).unwrap_or(u32::MAX),
            running: running_ids,
            reason: (!choice.reasons.is_empty()).then(|| choice.reasons.join("; ")),
            scale: None,
        });
    }
    plan
}

/// One component being placed: the hosts, those that run it, and which
/// may be sent actions.
struct Placing<'a> {
    component: &'a Component<'a>,
    hosts: &'a [HostView],
    running: Vec<&'a HostView>,
    reachable: &'a (dyn Fn(&HostId) -> bool + Sync),
}

/// Where a component should run: the hosts that keep it, those that start
/// it, and why it falls short when it does.
#[derive(Default)]
struct Choice<'a> {
    /// Replicas wanted.
    desired: usize,
    /// Hosts that run it and go on running it.
    keep: Vec<&'a HostView>,
    /// Hosts to start it on.
    starting: Vec<&'a HostView>,
    /// Why it is not (yet) where it should be.
    reasons: Vec<String>,
    /// Whether replicas lack any host to run on.
    short_of_hosts: bool,
}

/// Least loaded first, then by id.
fn by_load(a: &&HostView, b: &&HostView) -> std::cmp::Ordering {
    a.load().cmp(&b.load()).then(a.id.cmp(&b.id))
}

impl<'a> Placing<'a> {
    fn placement(&self) -> &'a Placement {
        &self.component.placement
    }

    /// Hosts that hold the artifact first (no pull, no compile), then the
    /// least loaded.
    fn by_artifact_then_load(&self, a: &&HostView, b: &&HostView) -> std::cmp::Ordering {
        let reference = self.component.reference;
        b.holds(reference)
            .cmp(&a.holds(reference))
            .then_with(|| by_load(a, b))
    }

    /// Reachable hosts that do not run it yet and pass `fits`, best first.
    fn candidates(&self, fits: impl Fn(&HostView) -> bool) -> Vec<&'a HostView> {
        let mut candidates: Vec<&HostView> = self
            .hosts
            .iter()
            .filter(|h| fits(h) && !h.runs(self.component.id) && (self.reachable)(&h.id))
            .collect();
        candidates.sort_by(|a, b| self.by_artifact_then_load(a, b));
        candidates
    }

    /// A daemon: one replica on every host its constraints admit.
    fn on_every_match(&self) -> Choice<'a> {
        let placement = self.placement();
        let admitted: Vec<&HostView> = self
            .hosts
            .iter()
            .filter(|h| placement.admits(&h.labels))
            .collect();
        let mut choice = Choice {
            desired: admitted.len(),
            ..Choice::default()
        };
        for host in admitted {
            if host.runs(self.component.id) {
                choice.keep.push(host);
            } else if (self.reachable)(&host.id) {
                choice.starting.push(host);
            }
        }
        if choice.desired == 0 {
            choice
                .reasons
                .push(format!("no host matches {}", describe(placement, None)));
        }
        choice
    }

    /// Its replicas per spread value (or all of them on any admitted
    /// host), what a value cannot take spilled over to other hosts.
    fn replicas(&self) -> Choice<'a> {
        let placement = self.placement();
        let buckets: Vec<(Option<(&str, &str)>, usize)> = match &placement.spread {
            Some(spread) => placement
                .spread_counts()
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .map(|(value, count)| {
                    let value = spread
                        .weights
                        .get_key_value(&value)
                        .map_or("", |(v, _)| v.as_str());
                    (Some((spread.label.as_str(), value)), count as usize)
                })
                .collect(),
            None => vec![(None, placement.replicas() as usize)],
        };
        let mut choice = Choice {
            desired: buckets.iter().map(|(_, n)| n).sum(),
            ..Choice::default()
        };
        let mut short = 0;
        for (bucket, want) in buckets {
            short += self.fill(bucket, want, &mut choice);
        }
        if short > 0 && placement.spread.is_some() {
            self.spill_over(short, &mut choice);
        }
        choice
    }

    /// Keeps or starts `want` replicas on hosts of `bucket` (a spread
    /// label and value; `None`: any admitted host); returns how many it
    /// could not place.
    fn fill(&self, bucket: Option<(&str, &str)>, want: usize, choice: &mut Choice<'a>) -> usize {
        let placement = self.placement();
        let in_bucket = |h: &HostView| {
            placement.admits(&h.labels)
                && bucket.is_none_or(|(label, value)| {
                    h.labels.get(label).map(String::as_str) == Some(value)
                })
        };
        let mut here: Vec<&HostView> = self
            .running
            .iter()
            .copied()
            .filter(|h| in_bucket(h))
            .collect();
        // Keep the least loaded; stop the rest.
        here.sort_by(by_load);
        choice.keep.extend(here.iter().take(want).copied());
        let missing = want.saturating_sub(here.len());
        if missing == 0 {
            return 0;
        }
        let candidates = self.candidates(in_bucket);
        choice
            .starting
            .extend(candidates.iter().take(missing).copied());
        let short = missing.saturating_sub(candidates.len());
        if short > 0 {
            choice.short_of_hosts = true;
            choice.reasons.push(format!(
                "{short} more host(s) with {} needed: no other host matches{}",
                describe(placement, bucket),
                if bucket.is_some() {
                    " (placed on other hosts meanwhile)"
                } else {
                    ""
                }
            ));
        }
        short
    }

    /// A spread value with no host: its `short` replicas run on any other
    /// admitted host, those already running first.
    fn spill_over(&self, mut short: usize, choice: &mut Choice<'a>) {
        let placement = self.placement();
        let taken: Vec<&str> = choice
            .keep
            .iter()
            .chain(&choice.starting)
            .map(|h| h.id.as_str())
            .collect();
        let free = |h: &HostView| placement.admits(&h.labels) && !taken.contains(&h.id.as_str());
        let mut spare: Vec<&HostView> = self.running.iter().copied().filter(|h| free(h)).collect();
        spare.sort_by(by_load);
        let others = self.candidates(free);
        let kept = spare.len().min(short);
        choice.keep.extend(spare.into_iter().take(kept));
        short -= kept;
        let placed = others.len().min(short);
        choice.starting.extend(others.into_iter().take(placed));
        short -= placed;
        if short > 0 {
            choice.short_of_hosts = true;
            choice.reasons.push(format!(
                "{short} replica(s) cannot run anywhere: no other host matches {}",
                describe(placement, None)
            ));
        }
    }

    /// Brings the hosts in `keep` to this version: limits change everywhere
    /// at once, a new component one host per pass. Returns whether a new
    /// version is rolling out.
    fn roll_out(&self, keep: &[&HostView], actions: &mut Vec<Action>) -> bool {
        let mut rolling = false;
        for host in keep.iter().filter(|h| (self.reachable)(&h.id)) {
            match (self.component.current_on)(host) {
                Fresh::Yes => {}
                Fresh::Limits => actions.push((self.component.start)(&host.id)),
                Fresh::Outdated(action) if !rolling => {
                    rolling = true;
                    actions.push(*action);
                }
                Fresh::Outdated(_) => {}
            }
        }
        rolling
    }
}

/// The actions that stop everything `manifest` declares, on every host.
pub(crate) fn removal(
    manifest: &Manifest,
    hosts: &[HostView],
    reachable: &(dyn Fn(&HostId) -> bool + Sync),
) -> Vec<Action> {
    components(manifest)
        .iter()
        .flat_map(|component| {
            hosts
                .iter()
                .filter(|h| h.runs(component.id) && reachable(&h.id))
                .map(|h| (component.stop)(&h.id))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names the tests give hosts, sorted.
    const NAMES: [&str; 7] = ["a", "b", "c", "d", "e1", "w1", "w2"];

    /// A host id for each of [`NAMES`], in the same order, so a tie the
    /// planner breaks by host id falls as it would by name.
    static IDS: std::sync::LazyLock<Vec<HostId>> = std::sync::LazyLock::new(|| {
        let mut ids: Vec<HostId> = NAMES.iter().map(|_| HostId::generate().1).collect();
        ids.sort();
        ids
    });

    fn id(name: &str) -> HostId {
        let at = NAMES.iter().position(|n| *n == name).unwrap();
        IDS[at].clone()
    }

    fn name(id: &HostId) -> &'static str {
        NAMES[IDS.iter().position(|i| i == id).unwrap()]
    }

    fn host(name: &str, zone: &str, actors: &[(&str, &str)]) -> HostView {
        HostView {
            id: id(name),
            labels: [("zone".to_string(), zone.to_string())].into(),
            actors: actors
                .iter()
                .map(|(a, r)| {
                    let reads = ConfigSources::default();
                    (ComponentId::new(*a).unwrap(), (r.to_string(), 100, reads))
                })
                .collect(),
            providers: BTreeMap::new(),
            artifacts: Vec::new(),
        }
    }

    fn app(placement: &str) -> Manifest {
        Manifest::from_toml(&format!(
            "[app]\nname = \"shop\"\n[[actors]]\nid = \"hello\"\nreference = \"r.example/hello:1\"\nplacement = {placement}\n"
        ))
        .unwrap()
    }

    fn starts(plan: &Plan) -> Vec<&str> {
        let mut hosts: Vec<&str> = plan
            .actions
            .iter()
            .filter(|a| matches!(a, Action::RunActor { .. }))
            .map(|a| name(a.host()))
            .collect();
        hosts.sort_unstable();
        hosts
    }

    const ALL: &(dyn Fn(&HostId) -> bool + Sync) = &|_| true;

    #[test]
    fn replicas_spread_over_zones_go_to_the_least_loaded_hosts() {
        let hosts = [
            host("a", "east", &[("other", "x")]),
            host("b", "east", &[]),
            host("c", "west", &[]),
            host("d", "west", &[]),
        ];
        let plan = plan(
            &app(
                "{ replicas = 2, spread = { label = \"zone\", weights = { east = 1, west = 1 } } }",
            ),
            &hosts,
            ALL,
        );
        assert_eq!(starts(&plan), ["b", "c"]);
        assert_eq!(plan.components[0].desired, 2);
    }

    #[test]
    fn a_converged_app_needs_nothing_and_a_lost_host_is_replaced() {
        let running = [("hello", "r.example/hello:1@sha256:00")];
        let hosts = [host("a", "east", &running), host("b", "east", &[])];
        let converged = plan(&app("{ replicas = 1 }"), &hosts, ALL);
        assert!(converged.actions.is_empty(), "{:?}", converged.actions);
        assert_eq!(converged.components[0].reason, None);
        let after_loss = plan(&app("{ replicas = 1 }"), &hosts[1..], ALL);
        assert_eq!(starts(&after_loss), ["b"]);
    }

    #[test]
    fn extras_stop_and_a_new_version_rolls_one_host_at_a_time() {
        let old = [("hello", "r.example/hello:0@sha256:00")];
        let hosts = [
            host("a", "east", &old),
            host("b", "east", &old),
            host("c", "east", &old),
        ];
        let plan = plan(&app("{ replicas = 2 }"), &hosts, ALL);
        let stops = plan
            .actions
            .iter()
            .filter(|a| matches!(a, Action::StopActor { .. }))
            .count();
        let updates = plan
            .actions
            .iter()
            .filter(|a| matches!(a, Action::UpdateActor { .. }))
            .count();
        assert_eq!((stops, updates), (1, 1), "{:?}", plan.actions);
    }

    #[test]
    fn a_zone_with_no_host_left_fails_over_to_the_others_and_comes_back() {
        let spread =
            "{ replicas = 2, spread = { label = \"zone\", weights = { east = 50, west = 50 } } }";
        let running = [("hello", "r.example/hello:1@sha256:00")];
        // east is gone: its replica goes to the other west host.
        let west_only = [host("w1", "west", &running), host("w2", "west", &[])];
        let failed_over = plan(&app(spread), &west_only, ALL);
        assert_eq!(starts(&failed_over), ["w2"]);
        let reason = failed_over.components[0].reason.clone().unwrap();
        assert!(
            reason.contains("zone=east") && reason.contains("placed on other hosts meanwhile"),
            "{reason}"
        );
        // Both west hosts run it, east is back: east gets one, a west one stops.
        let back = [
            host("e1", "east", &[]),
            host("w1", "west", &running),
            host("w2", "west", &running),
        ];
        let rebalanced = plan(&app(spread), &back, ALL);
        assert_eq!(starts(&rebalanced), ["e1"]);
        let stops: Vec<&str> = rebalanced
            .actions
            .iter()
            .filter(|a| matches!(a, Action::StopActor { .. }))
            .map(|a| name(a.host()))
            .collect();
        assert_eq!(stops.len(), 1, "{:?}", rebalanced.actions);
    }

    #[test]
    fn what_cannot_be_placed_says_why_and_a_daemon_runs_on_every_match() {
        let hosts = [host("a", "east", &[]), host("b", "west", &[])];
        let stuck = plan(
            &app("{ replicas = 1, constraints = { gpu = \"yes\" } }"),
            &hosts,
            ALL,
        );
        assert!(stuck.actions.is_empty());
        let reason = stuck.components[0].reason.clone().unwrap();
        assert!(
            reason.contains("gpu=yes") && reason.contains("no other host matches"),
            "{reason}"
        );
        assert_eq!(
            stuck.short_of_hosts.iter().collect::<Vec<_>>(),
            [&stuck.components[0].id],
            "the component no host can take is marked for placement_failed"
        );
        let daemon = plan(&app("{ daemon = true }"), &hosts, ALL);
        assert_eq!(starts(&daemon), ["a", "b"]);
        assert!(daemon.short_of_hosts.is_empty());
        let unreachable = plan(&app("{ daemon = true }"), &hosts, &|h| name(h) == "a");
        assert_eq!(starts(&unreachable), ["a"]);
    }

    #[test]
    fn a_replica_goes_first_to_a_host_that_holds_its_artifact() {
        let mut holder = host("c", "east", &[("other", "x")]);
        holder.artifacts = vec!["r.example/hello:1@sha256:00".into()];
        let mut stale = host("d", "east", &[]);
        stale.artifacts = vec!["r.example/hello:0@sha256:ff".into()];
        let hosts = [
            host("a", "east", &[]),
            host("b", "east", &[]),
            holder,
            stale,
        ];
        // Busier than a and b, but the bytes are there: no pull, no compile.
        let plan_one = plan(&app("{ replicas = 1 }"), &hosts, ALL);
        assert_eq!(starts(&plan_one), ["c"]);
        // Past the holders, the least loaded hosts.
        let plan_three = plan(&app("{ replicas = 3 }"), &hosts, ALL);
        assert_eq!(starts(&plan_three), ["a", "b", "c"]);
    }
}

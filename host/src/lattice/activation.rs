//! Answering activations: while this host leads the reconciler, it
//! subscribes to `lattice.<L>.activate.*` (see
//! [`lattice_interfaces::protocol::activation`]) and gives an autoscaled
//! actor that no host runs a replica at once, beside the passes rather
//! than behind them: a pass gathers every host's inventory for up to a
//! second, and a held call should not wait for that.
//!
//! The [`Board`] is what the two share. Each pass leaves on it the apps,
//! the hosts it heard and whether it leads; an activation places one
//! replica on those hosts with the same planner, and leaves on the board
//! that it did, before it sends the start. The next pass takes both: the
//! actor's autoscaler counts the activation as a decision, and the replica
//! counts as running until a host's inventory shows it, so the pass
//! neither starts a second one nor stops the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lattice_interfaces::protocol::activation::ActorActivated;
use lattice_interfaces::protocol::app::Apps;
use lattice_interfaces::protocol::control::CtlReply;
use lattice_interfaces::{ActorSpec, ComponentId, ErrorKind, HostId, Manifest};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::placement::{self, Action, HostView};
use super::reconciler::Reconciler;

/// How long an activated replica counts as running without a host's
/// inventory showing it.
const STARTING_FOR: Duration = Duration::from_secs(10);

/// What the passes and the activations share.
pub(crate) struct Board {
    shared: Mutex<Shared>,
    leading: watch::Sender<bool>,
}

#[derive(Default)]
struct Shared {
    apps: Apps,
    hosts: Vec<HostView>,
    leading: Leading,
    /// Activated since the last pass took them: app and actor.
    activated: Vec<(String, ComponentId)>,
    /// Replicas activated and not yet in a host's inventory.
    starting: HashMap<ComponentId, (HostId, ActorSpec, Instant)>,
}

impl Default for Board {
    fn default() -> Self {
        Self {
            shared: Mutex::default(),
            leading: watch::Sender::new(false),
        }
    }
}

impl Board {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What a pass saw: the apps, the hosts that may take replicas, and
    /// the lease it holds.
    pub(crate) fn after_pass(&self, apps: &Apps, hosts: Vec<HostView>, leading: Leading) {
        let leads = leading.revision.is_some();
        {
            let mut shared = self.shared();
            shared.starting.retain(|actor, (host, _, at)| {
                let shown = hosts
                    .iter()
                    .any(|h| &h.id == host && h.actors.contains_key(actor));
                !shown && at.elapsed() < STARTING_FOR
            });
            shared.apps.clone_from(apps);
            shared.hosts = hosts;
            shared.leading = leading;
        }
        self.leading.send_if_modified(|leading| {
            let changed = *leading != leads;
            *leading = leads;
            changed
        });
    }

    /// For the next pass: the actors activated since the last one, and the
    /// replicas still starting.
    pub(crate) fn take(&self) -> Taken {
        let mut shared = self.shared();
        Taken {
            activated: std::mem::take(&mut shared.activated),
            starting: shared
                .starting
                .values()
                .map(|(host, spec, _)| (host.clone(), spec.clone()))
                .collect(),
        }
    }
}

/// The lease a pass holds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Leading {
    /// The revision of the lease entry it wrote; none: it does not lead.
    pub revision: Option<u64>,
    /// Until when no other host can have taken it: an activation before
    /// then acts without reading the lease again.
    pub sure_until: Option<Instant>,
}

/// What a pass takes from the board.
pub(crate) struct Taken {
    /// Activated since the last pass: app and actor.
    pub activated: Vec<(String, ComponentId)>,
    /// Replicas activated and not yet in a host's inventory: host and spec.
    pub starting: Vec<(HostId, ActorSpec)>,
}

/// Subscribes to activations while this host leads and answers each in a
/// task of its own, until `stop`.
pub(crate) async fn serve(reconciler: Arc<Reconciler>, stop: CancellationToken) {
    let mut leading = reconciler.board.leading.subscribe();
    let mut requests: Option<async_nats::Subscriber> = None;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            changed = leading.changed() => {
                if changed.is_err() {
                    break;
                }
                let leads = *leading.borrow_and_update();
                follow(&reconciler, &mut requests, leads).await;
            }
            Some(request) = next(&mut requests) => {
                tokio::spawn(answer(reconciler.clone(), request));
            }
        }
    }
}

/// Subscribes when this host leads; unsubscribes when it no longer does.
async fn follow(
    reconciler: &Reconciler,
    requests: &mut Option<async_nats::Subscriber>,
    leads: bool,
) {
    let client = &reconciler.client;
    if leads && requests.is_none() {
        match client.subscribe(reconciler.subjects.activations()).await {
            Ok(subscription) => {
                *requests = Some(subscription);
                if let Err(error) =
                    lattice_rpc::server_caught_up(client, Duration::from_secs(2)).await
                {
                    tracing::debug!(%error, "the activation subscription is not confirmed yet");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot subscribe to activations"),
        }
    } else if !leads {
        if let Some(mut subscription) = requests.take() {
            let _ = subscription.unsubscribe().await;
        }
    }
}

/// The next request while subscribed; never while not.
async fn next(requests: &mut Option<async_nats::Subscriber>) -> Option<async_nats::Message> {
    match requests {
        Some(subscription) => subscription.next().await,
        None => std::future::pending().await,
    }
}

/// Answers one activation request.
async fn answer(reconciler: Arc<Reconciler>, request: async_nats::Message) {
    let Some(reply) = request.reply.clone() else {
        return;
    };
    let actor = reconciler
        .subjects
        .parse_activate(&request.subject)
        .and_then(|actor| ComponentId::new(actor).ok());
    let answer = match actor {
        Some(actor) => match activate(&reconciler, &actor).await {
            Ok(activated) => CtlReply::ok(activated).encoded(),
            Err((kind, reason)) => CtlReply::<()>::refused(kind, reason).encoded(),
        },
        None => CtlReply::<()>::refused(
            ErrorKind::BadRequest,
            format!(
                "activation subject {} names no actor",
                lattice_interfaces::shown(&request.subject)
            ),
        )
        .encoded(),
    };
    if let Some(bytes) = answer {
        if let Err(error) = reconciler.client.publish(reply, bytes.into()).await {
            tracing::warn!(%error, "cannot answer an activation");
        }
    }
}

/// What an activation decided under the board's lock.
enum Choice {
    /// It runs (or is starting) on these hosts already.
    Runs(String, Vec<HostId>),
    /// Start it with this action, under this lease.
    Start(String, Box<Action>, Leading),
}

/// Gives autoscaled `actor` a replica when none runs; answers where it
/// runs.
#[tracing::instrument(level = "debug", skip(reconciler), fields(%actor))]
async fn activate(
    reconciler: &Reconciler,
    actor: &ComponentId,
) -> Result<ActorActivated, (ErrorKind, String)> {
    let started = Instant::now();
    let choice = choose(&reconciler.board, actor)?;
    let (app, action, leading) = match choice {
        Choice::Runs(app, hosts) => {
            return Ok(ActorActivated {
                actor_id: actor.clone(),
                app,
                hosts,
            })
        }
        Choice::Start(app, action, leading) => (app, action, leading),
    };
    let host = action.host().clone();
    let undo = || {
        reconciler.board.shared().starting.remove(actor);
    };
    // Fencing: within the lease's sure time nobody else can lead; past it
    // (a leader paused, say) the lease entry is read again.
    let sure = leading
        .sure_until
        .is_some_and(|until| Instant::now() < until);
    if !sure && !reconciler.leads_at(leading.revision).await {
        undo();
        return Err((
            ErrorKind::Conflict,
            "this host no longer reconciles the lattice's apps; ask again".into(),
        ));
    }
    if let Err(reason) = reconciler.carry_out(&action).await {
        undo();
        return Err((ErrorKind::Failed, reason));
    }
    tracing::info!(app, %actor, %host, elapsed_ms = started.elapsed().as_millis() as u64, "actor activated for a held call");
    Ok(ActorActivated {
        actor_id: actor.clone(),
        app,
        hosts: vec![host],
    })
}

/// Under the board's lock: whether `actor` runs already, or where to
/// start it (then marked starting, and activated for the next pass).
fn choose(board: &Board, actor: &ComponentId) -> Result<Choice, (ErrorKind, String)> {
    let mut shared = board.shared();
    if shared.leading.revision.is_none() {
        return Err((
            ErrorKind::Conflict,
            "this host does not reconcile the lattice's apps".into(),
        ));
    }
    let found = shared.apps.apps.iter().find_map(|(name, app)| {
        let version = app.desired()?;
        let spec = version.manifest.actors.iter().find(|a| {
            &a.id == actor && a.placement.as_ref().and_then(|p| p.autoscaled()).is_some()
        })?;
        Some((name.clone(), spec.clone()))
    });
    let Some((app, spec)) = found else {
        return Err((
            ErrorKind::NotFound,
            format!("no app autoscales actor {actor}"),
        ));
    };
    if let Some((host, _, _)) = shared.starting.get(actor) {
        return Ok(Choice::Runs(app, vec![host.clone()]));
    }
    let running: Vec<HostId> = shared
        .hosts
        .iter()
        .filter(|h| h.actors.contains_key(actor))
        .map(|h| h.id.clone())
        .collect();
    if !running.is_empty() {
        return Ok(Choice::Runs(app, running));
    }
    // The planner places one replica of it alone, as a pass would.
    let one = Manifest {
        actors: vec![ActorSpec {
            placement: spec.placement.as_ref().map(|p| p.with_replicas(1)),
            ..spec.clone()
        }],
        ..Manifest::default()
    };
    let plan = placement::plan(&one, &shared.hosts, &|_| true);
    let Some(action) = plan
        .actions
        .into_iter()
        .find(|a| matches!(a, Action::RunActor { .. }))
    else {
        let why = plan
            .components
            .first()
            .and_then(|c| c.reason.clone())
            .unwrap_or_else(|| "no host can take it".into());
        return Err((
            ErrorKind::Failed,
            format!("actor {actor} of app {app}: {why}"),
        ));
    };
    let Action::RunActor { host, spec: start } = &action else {
        return Err((ErrorKind::Failed, "the planner chose no start".into()));
    };
    shared
        .starting
        .insert(actor.clone(), (host.clone(), start.clone(), Instant::now()));
    shared.activated.push((app.clone(), actor.clone()));
    let leading = shared.leading;
    Ok(Choice::Start(app, Box::new(action), leading))
}

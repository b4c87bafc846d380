//! The lattice's events as the dashboard follows them: one task owns the
//! NATS subscription to `lattice.<L>.evt.>`; pages follow it through a
//! cheap [`Feed`] handle.
//!
//! 1. Each event is numbered (`seq`) and made into one JSON object, what a
//!    page receives: `{"seq", "kind", "time", "source", "data"}`.
//! 2. The last [`BACKLOG`] are kept, so a page that opens sees what just
//!    happened; [`Feed::follow`] hands a page that backlog and a receiver
//!    of what comes next, made by the owner in one step (nothing missed,
//!    nothing twice).
//! 3. Each event that changes what a host runs, the links or the apps
//!    becomes a [`Hint`] for the refresher; hints are dropped when its
//!    queue is full (its next refresh reads everything anyway).

use std::collections::VecDeque;
use std::sync::Arc;

use futures::StreamExt as _;
use lattice_interfaces::protocol::events::{Concerns, LatticeEvent};
use lattice_interfaces::protocol::subjects::Subjects;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::snapshot::Hint;

/// Events kept for pages that open later.
pub const BACKLOG: usize = 500;

/// Events a page may fall behind by before it is told it missed some.
const FANOUT: usize = 1024;

/// One event as pages receive it: its number and its JSON.
#[derive(Debug)]
pub struct FeedEvent {
    /// Counts from 1 in this run of the dashboard.
    pub seq: u64,
    /// `{"seq", "kind", "time", "source", "data"}`.
    pub json: String,
}

/// What a page gets when it starts following: the backlog, oldest first,
/// and every later event.
pub type Following = (Vec<Arc<FeedEvent>>, broadcast::Receiver<Arc<FeedEvent>>);

enum Command {
    Follow(oneshot::Sender<Following>),
}

/// A handle on the event task. Cheap to clone.
#[derive(Clone)]
pub struct Feed {
    commands: mpsc::Sender<Command>,
}

/// Why the event task ended.
#[derive(Debug)]
enum Exit {
    Stopped,
    SubscriptionEnded,
    HandlesDropped,
}

impl Feed {
    /// Subscribes to the lattice's events and starts the task that owns
    /// the subscription, until `stop`; the handle, and the hints for the
    /// refresher.
    ///
    /// # Errors
    ///
    /// When NATS refuses the subscription.
    pub async fn start(
        nats: &async_nats::Client,
        subjects: &Subjects,
        stop: CancellationToken,
    ) -> anyhow::Result<(Self, mpsc::Receiver<Hint>)> {
        let events = nats.subscribe(subjects.all_events()).await?;
        // The subscription is live once the server has it: events from now
        // on reach the dashboard.
        nats.flush().await?;
        let (commands, receiver) = mpsc::channel(64);
        let (hint_sender, hints) = mpsc::channel(256);
        tokio::spawn(async move {
            let exit = run(events, receiver, hint_sender, stop).await;
            tracing::debug!(?exit, "dashboard event feed ended");
        });
        Ok((Self { commands }, hints))
    }

    /// The backlog and a receiver of every later event; `None` once the
    /// task has ended.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the request; the task is unaffected.
    pub async fn follow(&self) -> Option<Following> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(Command::Follow(reply)).await.ok()?;
        answer.await.ok()
    }
}

async fn run(
    mut events: async_nats::Subscriber,
    mut commands: mpsc::Receiver<Command>,
    hints: mpsc::Sender<Hint>,
    stop: CancellationToken,
) -> Exit {
    let (fanout, _) = broadcast::channel(FANOUT);
    let mut backlog: VecDeque<Arc<FeedEvent>> = VecDeque::with_capacity(BACKLOG);
    let mut seq = 0u64;
    loop {
        tokio::select! {
            () = stop.cancelled() => return Exit::Stopped,
            command = commands.recv() => match command {
                Some(Command::Follow(reply)) => {
                    let _ = reply.send((backlog.iter().cloned().collect(), fanout.subscribe()));
                }
                None => return Exit::HandlesDropped,
            },
            message = events.next() => {
                let Some(message) = message else { return Exit::SubscriptionEnded };
                seq += 1;
                let (event, hint) = describe(seq, message.subject.as_str(), &message.payload);
                if let Some(hint) = hint {
                    // Full: the refresher is behind and will read everything.
                    let _ = hints.try_send(hint);
                }
                let event = Arc::new(event);
                if backlog.len() == BACKLOG {
                    backlog.pop_front();
                }
                backlog.push_back(event.clone());
                // No page open: nobody to tell.
                let _ = fanout.send(event);
            }
        }
    }
}

/// The longest text of an unreadable event a page is shown.
const UNREADABLE_SHOWN: usize = 200;

/// Event number `seq` on `subject` as pages see it, and what it hints.
fn describe(seq: u64, subject: &str, payload: &[u8]) -> (FeedEvent, Option<Hint>) {
    let kind = subject.rsplit('.').next().unwrap_or_default();
    let event: Value = serde_json::from_slice(payload).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(payload);
        let shown: String = text.chars().take(UNREADABLE_SHOWN).collect();
        json!({ "data": { "unreadable": shown } })
    });
    let data = event.get("data").cloned().unwrap_or(Value::Null);
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let hint = LatticeEvent::parse(kind, data.clone())
        .ok()
        .and_then(|event| hint(&event));
    let json = json!({
        "seq": seq,
        "kind": kind,
        "time": text(event.get("time")),
        "source": text(event.get("source")),
        "data": data,
    });
    (
        FeedEvent {
            seq,
            json: json.to_string(),
        },
        hint,
    )
}

/// What `event` changed, as its row of the events table says.
fn hint(event: &LatticeEvent) -> Option<Hint> {
    let host = || event.host_id().cloned();
    match event.concerns() {
        Concerns::Host => host().map(Hint::Host),
        Concerns::HostLeft => host().map(Hint::HostGone),
        Concerns::Links => Some(Hint::Links),
        Concerns::Apps => Some(Hint::Apps),
        Concerns::Nothing => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lattice_interfaces::HostId;

    #[test]
    fn an_event_becomes_one_json_object_and_a_hint() {
        let (_, host) = HostId::generate();
        let payload = format!(
            r#"{{"specversion":"1.0","id":"N-1","type":"dev.lattice.actor_scaled","source":"lattice:N","time":"2026-11-28T01:02:03Z","data":{{"host_id":"{host}","actor_id":"hello","actor_ref":"/h.wasm","max_instances":1}}}}"#
        );
        let (event, hint) = describe(7, "lattice.default.evt.actor_scaled", payload.as_bytes());
        let value: Value = serde_json::from_str(&event.json).unwrap();
        assert_eq!(value["seq"], 7);
        assert_eq!(value["kind"], "actor_scaled");
        assert_eq!(value["data"]["actor_id"], "hello");
        assert_eq!(hint, Some(Hint::Host(host)));
    }

    #[test]
    fn an_unreadable_event_is_shown_cut_and_hints_nothing() {
        let payload = vec![b'x'; 10_000];
        let (event, hint) = describe(1, "lattice.default.evt.weird", &payload);
        let value: Value = serde_json::from_str(&event.json).unwrap();
        assert_eq!(
            value["data"]["unreadable"].as_str().unwrap().len(),
            UNREADABLE_SHOWN
        );
        assert_eq!(hint, None);
        let (_, hint) = describe(2, "lattice.default.evt.link_set", br#"{"data": {}}"#);
        assert_eq!(hint, None, "a link_set without a link hints nothing");
        let link = br#"{"data": {"source": "http", "target": "hello", "namespace": "wasi", "package": "http", "interfaces": ["incoming-handler"]}}"#;
        let (_, hint) = describe(3, "lattice.default.evt.link_set", link);
        assert_eq!(hint, Some(Hint::Links));
    }

    /// Each part of the lattice an event tells of refreshes its part of
    /// the view; events that tell of nothing it keeps refresh nothing.
    #[test]
    fn hints_follow_what_each_event_concerns() {
        let hint_of = |kind: &str, data: &str| {
            describe(
                1,
                &format!("lattice.default.evt.{kind}"),
                format!(r#"{{"data": {data}}}"#).as_bytes(),
            )
            .1
        };
        let (_, id) = HostId::generate();
        let host = format!(
            r#"{{"host_id": "{id}", "lattice": "default", "labels": {{}}, "version": "0", "started_at": "", "uptime_seconds": 1, "actors": 0, "providers": 0}}"#
        );
        assert_eq!(
            hint_of("host_stopped", &host),
            Some(Hint::HostGone(id.clone()))
        );
        assert_eq!(
            hint_of("host_heartbeat", &host),
            Some(Hint::Host(id.clone()))
        );
        let error = |host: &str| {
            format!(
                r#"{{"provider_id": "kv", {host} "source": "a", "target": "kv", "link_name": "default", "error": "down"}}"#
            )
        };
        assert_eq!(
            hint_of("provider_error", &error(&format!(r#""host_id": "{id}","#))),
            Some(Hint::Host(id.clone()))
        );
        assert_eq!(
            hint_of("host_heartbeat", &host.replace(id.as_str(), "lattice.>")),
            None,
            "an event naming no host id hints nothing"
        );
        assert_eq!(hint_of("provider_error", &error("")), None, "no host named");
        assert_eq!(
            hint_of("app_deleted", r#"{"app": "shop"}"#),
            Some(Hint::Apps)
        );
        assert_eq!(hint_of("config_set", r#"{"name": "db"}"#), None);
    }
}

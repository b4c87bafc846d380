//! Events: CloudEvents 1.0 in JSON on `lattice.<L>.evt.<type>`, one for
//! every change of state, so operators and reconcilers can follow a lattice
//! without polling.
//!
//! `type` is `dev.lattice.<type>`, `source` the host id, `data` a JSON
//! object whose fields each event type documents in `docs/protocol.md`.
//! Every event is a variant of [`LatticeEvent`], declared once with its
//! kind and the type of its data.

use std::collections::BTreeMap;

use cloudevents::{EventBuilder, EventBuilderV10};
use serde::{Deserialize, Serialize};

use super::control::{ConfigNamed, HostInfo};
use crate::{ComponentId, HostId, Link};

/// Declares every lattice event once: its variant of [`LatticeEvent`], its
/// kind (the subject's last token) as a constant of [`kinds`] and as text,
/// and the type of its data.
/// What part of the lattice an event tells of: what a view of the lattice
/// (the dashboard) refreshes when it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concerns {
    /// The inventory of the host its data names.
    Host,
    /// A host that left.
    HostLeft,
    /// The lattice's links.
    Links,
    /// Apps and where their components run.
    Apps,
    /// Nothing a view keeps: refusals, config, health.
    Nothing,
}

/// The data of an event.
pub trait EventData {
    /// The host it names, if any.
    fn host_id(&self) -> Option<&HostId> {
        None
    }
}

/// Data naming its host.
macro_rules! names_its_host {
    ($($data:ty),*) => {
        $(impl EventData for $data {
            fn host_id(&self) -> Option<&HostId> {
                Some(&self.host_id)
            }
        })*
    };
}

/// Data that may name its host.
macro_rules! may_name_its_host {
    ($($data:ty),*) => {
        $(impl EventData for $data {
            fn host_id(&self) -> Option<&HostId> {
                self.host_id.as_ref()
            }
        })*
    };
}

names_its_host!(
    HostInfo,
    HostLabels,
    ActorScaling,
    ActorUpdating,
    ProviderChange,
    Placed
);
may_name_its_host!(ProviderLinkError, InvocationRefusal, NotPlaced);
impl EventData for Link {}
impl EventData for EntryRefused {}
impl EventData for ConfigNamed {}
impl EventData for AppVersioned {}
impl EventData for AppNamed {}
impl EventData for Scaled {}

macro_rules! events {
    ($($(#[$doc:meta])* $variant:ident, $constant:ident = $kind:literal ($data:ty) => $concerns:ident;)*) => {
        /// Event kinds (the last token of the subject).
        pub mod kinds {
            $($(#[$doc])* pub const $constant: &str = $kind;)*

            /// Every kind, in the order of the table.
            pub const ALL: &[&str] = &[$($kind),*];
        }

        /// One lattice event: its kind and its data. Hosts and provider
        /// processes publish these; `lattice-ctl watch`, the dashboard and
        /// the tests read them back with [`LatticeEvent::parse`].
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "data")]
        pub enum LatticeEvent {
            $($(#[$doc])* #[serde(rename = $kind)] $variant($data),)*
        }

        impl LatticeEvent {
            /// Its kind: `actor_scaled`, `link_set`, …
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $kind,)*
                }
            }

            /// Its data, as the CloudEvent's `data` carries it.
            pub fn data(&self) -> serde_json::Value {
                match self {
                    $(Self::$variant(data) => serde_json::to_value(data).unwrap_or_default(),)*
                }
            }

            /// The host it concerns, when its data names one.
            pub fn host_id(&self) -> Option<&HostId> {
                match self {
                    $(Self::$variant(data) => EventData::host_id(data),)*
                }
            }

            /// What part of the lattice it tells of.
            pub fn concerns(&self) -> Concerns {
                match self {
                    $(Self::$variant(_) => Concerns::$concerns,)*
                }
            }
        }
    };
}

events! {
    /// A host joined the lattice.
    HostStarted, HOST_STARTED = "host_started" (HostInfo) => Host;
    /// A host is alive: a summary, not the inventory.
    HostHeartbeat, HOST_HEARTBEAT = "host_heartbeat" (HostInfo) => Host;
    /// A host left the lattice gracefully.
    HostStopped, HOST_STOPPED = "host_stopped" (HostInfo) => HostLeft;
    /// A host's labels changed.
    LabelsChanged, LABELS_CHANGED = "labels_changed" (HostLabels) => Host;
    /// An actor started, changed scale or stopped (scale 0).
    ActorScaled, ACTOR_SCALED = "actor_scaled" (ActorScaling) => Host;
    /// An actor could not be scaled.
    ActorScaleFailed, ACTOR_SCALE_FAILED = "actor_scale_failed" (ActorScaling) => Host;
    /// An actor's component was replaced.
    ActorUpdated, ACTOR_UPDATED = "actor_updated" (ActorUpdating) => Host;
    /// An actor's component could not be replaced.
    ActorUpdateFailed, ACTOR_UPDATE_FAILED = "actor_update_failed" (ActorUpdating) => Host;
    /// A provider started.
    ProviderStarted, PROVIDER_STARTED = "provider_started" (ProviderChange) => Host;
    /// A provider could not start.
    ProviderStartFailed, PROVIDER_START_FAILED = "provider_start_failed" (ProviderChange) => Host;
    /// A provider could not serve a link: its backend is unreachable or
    /// misconfigured.
    ProviderError, PROVIDER_ERROR = "provider_error" (ProviderLinkError) => Host;
    /// A provider stopped.
    ProviderStopped, PROVIDER_STOPPED = "provider_stopped" (ProviderChange) => Host;
    /// A link was stored.
    LinkSet, LINK_SET = "link_set" (Link) => Links;
    /// A link was deleted.
    LinkDeleted, LINK_DELETED = "link_deleted" (Link) => Links;
    /// A link entry in the bucket that a host cannot verify (unsigned,
    /// signed by an untrusted key, changed, or under the wrong key): not
    /// applied.
    LinkRefused, LINK_REFUSED = "link_refused" (EntryRefused) => Nothing;
    /// A named config entry in the bucket a host cannot verify: not applied.
    ConfigRefused, CONFIG_REFUSED = "config_refused" (EntryRefused) => Nothing;
    /// Named config was stored.
    ConfigSet, CONFIG_SET = "config_set" (ConfigNamed) => Nothing;
    /// Named config was deleted.
    ConfigDeleted, CONFIG_DELETED = "config_deleted" (ConfigNamed) => Nothing;
    /// A host refused an invocation from another host (forged, untrusted,
    /// late or replayed).
    InvocationRefused, INVOCATION_REFUSED = "invocation_refused" (InvocationRefusal) => Nothing;
    /// A provider passed its health check.
    HealthCheckPassed, HEALTH_CHECK_PASSED = "health_check_passed" (ProviderChange) => Nothing;
    /// A provider failed its health check.
    HealthCheckFailed, HEALTH_CHECK_FAILED = "health_check_failed" (ProviderChange) => Nothing;
    /// The reconciler saw a new version of an app (or a rollback).
    AppDeployed, APP_DEPLOYED = "app_deployed" (AppVersioned) => Apps;
    /// An app runs everywhere it should.
    AppReconciled, APP_RECONCILED = "app_reconciled" (AppVersioned) => Apps;
    /// A deleted app's components are stopped and its links gone.
    AppDeleted, APP_DELETED = "app_deleted" (AppNamed) => Apps;
    /// The reconciler started, stopped or updated a component on a host.
    ReplicaPlaced, REPLICA_PLACED = "replica_placed" (Placed) => Apps;
    /// A component could not be placed, or a host refused it.
    PlacementFailed, PLACEMENT_FAILED = "placement_failed" (NotPlaced) => Apps;
    /// The autoscaler changed how many hosts run a component, and why.
    ComponentScaled, COMPONENT_SCALED = "component_scaled" (Scaled) => Apps;
}

impl LatticeEvent {
    /// The event of `kind` carrying `data`, as a CloudEvent brought them.
    ///
    /// # Errors
    ///
    /// An unknown kind, or data that is not of the kind's type.
    pub fn parse(kind: &str, data: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(serde_json::json!({ "kind": kind, "data": data }))
    }
}

/// `labels_changed`: a host's labels now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLabels {
    /// The host.
    pub host_id: HostId,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// `actor_scaled`, `actor_scale_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorScaling {
    /// The host.
    pub host_id: HostId,
    /// The actor.
    pub actor_id: ComponentId,
    /// What it runs (of a stopped actor: what it ran).
    pub actor_ref: String,
    /// Its instance limit; 0: stopped.
    pub max_instances: u32,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `actor_updated`, `actor_update_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorUpdating {
    /// The host.
    pub host_id: HostId,
    /// The actor.
    pub actor_id: ComponentId,
    /// Its component now (or the one that failed).
    pub actor_ref: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `provider_started`, `provider_start_failed`, `provider_stopped`,
/// `health_check_passed`, `health_check_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChange {
    /// The host.
    pub host_id: HostId,
    /// The provider.
    pub provider_id: String,
    /// What it runs: a built-in provider's name, a binary's path or a registry reference (`provider_ref` before, still accepted).
    #[serde(alias = "provider_ref")]
    pub reference: String,
    /// Why it could not start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A provider process: its process id once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// A provider process: how many times it has been started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts: Option<u32>,
    /// A provider process: the public key its run signs with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_key: Option<String>,
    /// Why it stopped, or why its health check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A provider process that exited: when it is started again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarting_in_ms: Option<u64>,
}

impl ProviderChange {
    /// Of provider `provider_id` running `reference` on `host_id`, with
    /// nothing more said.
    pub fn of(host_id: HostId, provider_id: String, reference: String) -> Self {
        Self {
            host_id,
            provider_id,
            reference,
            error: None,
            pid: None,
            starts: None,
            invocation_key: None,
            reason: None,
            restarting_in_ms: None,
        }
    }
}

/// `provider_error`: a provider cannot serve a link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderLinkError {
    /// The provider.
    pub provider_id: String,
    /// Its host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HostId>,
    /// The link's source.
    pub source: ComponentId,
    /// The link's target.
    pub target: ComponentId,
    /// The link's name.
    pub link_name: String,
    /// What is wrong.
    pub error: String,
}

/// `link_refused`, `config_refused`: an entry of the bucket not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryRefused {
    /// Its key.
    pub key: String,
    /// Why.
    pub reason: String,
}

/// `invocation_refused`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationRefusal {
    /// The host that refused it (from a host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HostId>,
    /// The provider process that refused it (from a provider process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// Whom it was for.
    pub target: String,
    /// Its id; `null` when the message did not decode.
    pub invocation_id: Option<String>,
    /// The host it says it came from; `null` when it did not decode.
    pub origin_host: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// `app_deployed`, `app_reconciled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppVersioned {
    /// The app.
    pub app: String,
    /// The version.
    pub version: u32,
}

/// `app_deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppNamed {
    /// The app.
    pub app: String,
}

/// `replica_placed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// The component.
    pub component: String,
    /// The host.
    pub host_id: HostId,
    /// What was done: `run actor`, `update actor`, `stop actor`, `start
    /// provider`, `stop provider`.
    pub action: String,
}

/// `placement_failed`: nothing matches (`app`), or a host refused
/// (`host_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotPlaced {
    /// The component.
    pub component: String,
    /// Why.
    pub reason: String,
    /// The app, when no host matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The host that refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HostId>,
}

/// `component_scaled`: an autoscaled component's replicas changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaled {
    /// The app.
    pub app: String,
    /// The component.
    pub component: String,
    /// Replicas wanted before.
    pub from: u32,
    /// Replicas wanted now.
    pub to: u32,
    /// Calls in flight on all its replicas, averaged over the last pass.
    pub load: f64,
    /// Calls in flight one replica should carry.
    pub per_replica: f64,
    /// Why, in words: `scale out`, `scale in after 60s below`,
    /// `activation`, …
    pub reason: String,
}

/// The CloudEvents `type` of event `kind`.
pub fn event_type(kind: &str) -> String {
    format!("dev.lattice.{kind}")
}

/// A CloudEvent of `kind` from host `source` carrying `data`, with a fresh id
/// and the current time.
pub fn event(
    kind: &str,
    source: &str,
    id: &str,
    data: serde_json::Value,
) -> Result<cloudevents::Event, String> {
    EventBuilderV10::new()
        .id(id)
        .ty(event_type(kind))
        .source(format!("lattice:{source}"))
        .time(chrono::Utc::now())
        .data("application/json", data)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn events_are_cloudevents_1_0_json() {
        let e = event(
            kinds::ACTOR_SCALED,
            "NHOST",
            "1",
            serde_json::json!({"actor_id": "hello"}),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::to_value(&e).unwrap();
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["type"], "dev.lattice.actor_scaled");
        assert_eq!(json["source"], "lattice:NHOST");
        assert_eq!(json["data"]["actor_id"], "hello");
        assert!(json["time"].as_str().is_some());
    }

    #[test]
    fn a_typed_event_reads_back_from_its_kind_and_data() {
        let host = HostId::new(nkeys::KeyPair::new_server().public_key()).unwrap();
        let scaled = LatticeEvent::ActorScaled(ActorScaling {
            host_id: host.clone(),
            actor_id: ComponentId::new("hello").unwrap(),
            actor_ref: "/h.wasm".into(),
            max_instances: 2,
            error: None,
        });
        assert_eq!(scaled.kind(), kinds::ACTOR_SCALED);
        assert_eq!(
            scaled.data(),
            serde_json::json!({"host_id": host.as_str(), "actor_id": "hello", "actor_ref": "/h.wasm", "max_instances": 2})
        );
        assert_eq!(
            LatticeEvent::parse(scaled.kind(), scaled.data()).unwrap(),
            scaled
        );
        assert_eq!(scaled.host_id(), Some(&host));
        let from_a_stranger = serde_json::json!({"host_id": "lattice.>", "actor_id": "hello", "actor_ref": "/h.wasm", "max_instances": 2});
        let refused = LatticeEvent::parse(kinds::ACTOR_SCALED, from_a_stranger).unwrap_err();
        assert!(
            refused.to_string().contains("is not a host id"),
            "{refused}"
        );
        assert!(LatticeEvent::parse("no_such_kind", serde_json::json!({})).is_err());
        assert!(
            LatticeEvent::parse(kinds::ACTOR_SCALED, serde_json::json!({"actor_id": 1})).is_err()
        );
        let distinct: std::collections::BTreeSet<_> = kinds::ALL.iter().collect();
        assert_eq!(distinct.len(), kinds::ALL.len(), "two events share a kind");
    }
}

//! Events: CloudEvents 1.0 in JSON on `lattice.<L>.evt.<type>`, one for
//! every change of state, so operators and reconcilers can follow a lattice
//! without polling.
//!
//! `type` is `dev.lattice.<type>`, `source` the host id, `data` a JSON
//! object whose fields each event type documents in `docs/protocol.md`.

use cloudevents::{EventBuilder, EventBuilderV10};

/// Event types (the last token of the subject).
pub mod kinds {
    /// A host joined the lattice.
    pub const HOST_STARTED: &str = "host_started";
    /// A host is alive: a summary, not the inventory.
    pub const HOST_HEARTBEAT: &str = "host_heartbeat";
    /// A host left the lattice gracefully.
    pub const HOST_STOPPED: &str = "host_stopped";
    /// A host's labels changed.
    pub const LABELS_CHANGED: &str = "labels_changed";
    /// An actor started, changed scale or stopped (scale 0).
    pub const ACTOR_SCALED: &str = "actor_scaled";
    /// An actor could not be scaled.
    pub const ACTOR_SCALE_FAILED: &str = "actor_scale_failed";
    /// An actor's component was replaced.
    pub const ACTOR_UPDATED: &str = "actor_updated";
    /// An actor's component could not be replaced.
    pub const ACTOR_UPDATE_FAILED: &str = "actor_update_failed";
    /// A provider started.
    pub const PROVIDER_STARTED: &str = "provider_started";
    /// A provider could not start.
    pub const PROVIDER_START_FAILED: &str = "provider_start_failed";
    /// A provider could not serve a link: its backend is unreachable or
    /// misconfigured.
    pub const PROVIDER_ERROR: &str = "provider_error";
    /// A provider stopped.
    pub const PROVIDER_STOPPED: &str = "provider_stopped";
    /// A link was stored.
    pub const LINK_SET: &str = "link_set";
    /// A link was deleted.
    pub const LINK_DELETED: &str = "link_deleted";
    /// A link entry in the bucket that a host cannot verify (unsigned,
    /// signed by an untrusted key, changed, or under the wrong key): not
    /// applied. Data: `key`, `reason`.
    pub const LINK_REFUSED: &str = "link_refused";
    /// A named config entry in the bucket a host cannot verify: not applied.
    pub const CONFIG_REFUSED: &str = "config_refused";
    /// Named config was stored.
    pub const CONFIG_SET: &str = "config_set";
    /// Named config was deleted.
    pub const CONFIG_DELETED: &str = "config_deleted";
    /// A host refused an invocation from another host (forged, untrusted,
    /// late or replayed).
    pub const INVOCATION_REFUSED: &str = "invocation_refused";
    /// A provider passed its health check.
    pub const HEALTH_CHECK_PASSED: &str = "health_check_passed";
    /// A provider failed its health check.
    pub const HEALTH_CHECK_FAILED: &str = "health_check_failed";
    /// The reconciler saw a new version of an app (or a rollback).
    pub const APP_DEPLOYED: &str = "app_deployed";
    /// An app runs everywhere it should.
    pub const APP_RECONCILED: &str = "app_reconciled";
    /// A deleted app's components are stopped and its links gone.
    pub const APP_DELETED: &str = "app_deleted";
    /// The reconciler started, stopped or updated a component on a host.
    pub const REPLICA_PLACED: &str = "replica_placed";
    /// A component could not be placed, or a host refused it.
    pub const PLACEMENT_FAILED: &str = "placement_failed";
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
}

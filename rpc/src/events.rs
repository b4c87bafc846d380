//! Publishing the lattice's CloudEvents, from a host or a provider
//! process: `lattice.<L>.evt.<kind>`, ids `<source>-<n>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use lattice_interfaces::protocol::events::{event, LatticeEvent};
use lattice_interfaces::protocol::subjects::Subjects;

/// Publishes events from one host or provider. Cheap to clone.
#[derive(Clone)]
pub struct EventPublisher {
    client: async_nats::Client,
    subjects: Subjects,
    host_id: String,
    sequence: Arc<AtomicU64>,
}

impl EventPublisher {
    /// A publisher for `host_id` (the event source: a host's id, or a
    /// provider's) in the lattice of `subjects`.
    pub fn new(client: async_nats::Client, subjects: Subjects, host_id: String) -> Self {
        Self {
            client,
            subjects,
            host_id,
            sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Publishes `event`. Events are best effort: a failure is logged,
    /// never returned, so reporting a change never undoes it.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may drop the event.
    pub async fn publish(&self, lattice_event: LatticeEvent) {
        let kind = lattice_event.kind();
        let data = lattice_event.data();
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let id = format!("{}-{n}", self.host_id);
        let payload = match event(kind, &self.host_id, &id, data)
            .and_then(|e| serde_json::to_vec(&e).map_err(|e| e.to_string()))
        {
            Ok(payload) => payload,
            Err(error) => {
                tracing::warn!(kind, %error, "cannot encode event");
                return;
            }
        };
        if let Err(error) = self
            .client
            .publish(self.subjects.event(kind), payload.into())
            .await
        {
            tracing::warn!(kind, %error, "cannot publish event");
        }
    }
}

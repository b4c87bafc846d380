//! Holding calls for a target no host runs while the reconciler's leader
//! activates a replica (see
//! [`lattice_interfaces::protocol::activation`]): each process holds at
//! most [`MAX_HELD_CALLS`] calls per target, and asks once for all the
//! calls it holds for one target.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _, Shared};
use lattice_interfaces::protocol::activation::ActorActivated;
use lattice_interfaces::protocol::control::CtlReply;
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ErrorKind, InvocationError};

/// Calls held per target at most while it is activated; more are
/// refused `busy` (an HTTP client gets 503 with `Retry-After`).
pub const MAX_HELD_CALLS: usize = 1_000;

/// What an activation came to: `Ok` when a replica runs; `Err(None)` when
/// nothing activates the target (no leader, or no app autoscales it), so
/// the call's own error stands; `Err(Some(_))` when activating it failed.
pub type Activated = Result<(), Option<InvocationError>>;

type Asking = Shared<BoxFuture<'static, Activated>>;

/// The calls a process holds, and the activations it waits for.
pub(crate) struct Activations {
    max_held: usize,
    held: Arc<Mutex<HashMap<String, usize>>>,
    asking: Mutex<HashMap<String, Asking>>,
}

impl Default for Activations {
    fn default() -> Self {
        Self::new(MAX_HELD_CALLS)
    }
}

/// One held call; dropped, it leaves the queue.
pub(crate) struct Held {
    target: String,
    held: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = held.get_mut(&self.target) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.target);
            }
        }
    }
}

impl Activations {
    pub(crate) fn new(max_held: usize) -> Self {
        Self {
            max_held,
            held: Arc::default(),
            asking: Mutex::default(),
        }
    }

    /// Takes a place in `target`'s queue, or refuses `busy` when it is full.
    pub(crate) fn hold(&self, target: &str) -> Result<Held, InvocationError> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let count = held.entry(target.to_string()).or_default();
        if *count >= self.max_held {
            return Err(InvocationError::new(
                ErrorKind::Busy,
                format!(
                    "\"{target}\" is being activated and {} calls already wait for it; try again shortly",
                    self.max_held
                ),
            ));
        }
        *count += 1;
        Ok(Held {
            target: target.to_string(),
            held: self.held.clone(),
        })
    }

    /// Asks the reconciler's leader for a replica of `target`, waiting
    /// until `until` at most; one request for every call held for it at
    /// once.
    pub(crate) async fn activate(
        &self,
        client: &async_nats::Client,
        subjects: &Subjects,
        target: &str,
        until: tokio::time::Instant,
    ) -> Activated {
        let asking = {
            let mut asking = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
            asking
                .entry(target.to_string())
                .or_insert_with(|| {
                    ask(
                        client.clone(),
                        subjects.activate(target),
                        target.to_string(),
                        until,
                    )
                    .boxed()
                    .shared()
                })
                .clone()
        };
        let activated = asking.clone().await;
        let mut pending = self.asking.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.get(target).is_some_and(|a| a.ptr_eq(&asking)) {
            pending.remove(target);
        }
        activated
    }
}

/// One activation request on `subject`.
async fn ask(
    client: async_nats::Client,
    subject: String,
    target: String,
    until: tokio::time::Instant,
) -> Activated {
    let wait = until
        .saturating_duration_since(tokio::time::Instant::now())
        .max(Duration::from_millis(1));
    let request = async_nats::Request::new()
        .payload(bytes::Bytes::new())
        .timeout(Some(wait));
    let answer = match client.send_request(subject, request).await {
        Ok(answer) => answer,
        Err(error) => {
            return match error.kind() {
                // No leader listens: nothing activates anything.
                async_nats::RequestErrorKind::NoResponders => Err(None),
                async_nats::RequestErrorKind::TimedOut => Err(Some(InvocationError::new(
                    ErrorKind::Timeout,
                    format!("\"{target}\" was not activated within {wait:?}"),
                ))),
                _ => Err(Some(InvocationError::new(
                    ErrorKind::Failed,
                    format!("cannot ask for a replica of \"{target}\": {error}"),
                ))),
            };
        }
    };
    match serde_json::from_slice::<CtlReply<ActorActivated>>(&answer.payload) {
        Ok(reply) if reply.success => Ok(()),
        Ok(reply) if reply.kind == Some(ErrorKind::NotFound) => Err(None),
        Ok(reply) => Err(Some(InvocationError::new(
            reply.kind.unwrap_or(ErrorKind::Failed),
            format!("\"{target}\" could not be activated: {}", reply.message),
        ))),
        Err(error) => Err(Some(InvocationError::new(
            ErrorKind::Failed,
            format!("the answer to the activation of \"{target}\" is malformed: {error}"),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_refuses_busy_and_frees_a_place_when_a_call_leaves() {
        let activations = Activations::new(2);
        let first = activations.hold("echo").unwrap();
        let _second = activations.hold("echo").unwrap();
        let refused = activations.hold("echo").err().unwrap();
        assert_eq!(refused.kind, ErrorKind::Busy);
        assert!(
            refused.message.contains("2 calls already wait"),
            "{refused}"
        );
        // Another target has its own queue.
        assert!(activations.hold("other").is_ok());
        drop(first);
        assert!(activations.hold("echo").is_ok());
    }
}

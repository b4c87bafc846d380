//! Serving invocations: the callee's side every lattice process shares.
//!
//! For each message on a target's `rpc` subject, [`Callee`] does the
//! security-critical work once, for hosts and provider processes alike:
//!
//! 1. decode the [`SignedInvocation`] (garbage gets `bad_request`);
//! 2. verify it ([`Verifier`]): addressed here, signed by a trusted key (or
//!    sealed with the MAC of one whose seed is held here) over the bytes
//!    received, before its deadline, not seen before; a refusal is answered
//!    and handed to [`InvocationHandler::refused`], except a MAC this
//!    process cannot check, which is answered `wants_signature`;
//! 3. pull a large payload from the caller's offer;
//! 4. run [`InvocationHandler::serve`] until the invocation's deadline;
//! 5. answer, offering a large result for the caller to pull.
//!
//! At most `max_concurrent` invocations are served at once; past that the
//! subscription waits (and NATS buffers).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::rpc::{
    unix_ms, Invocation, InvocationResponse, SignedInvocation,
};
use lattice_interfaces::protocol::subjects::is_reply_inbox;
use lattice_interfaces::{ErrorKind, InvocationError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument as _;

use crate::verify::{Refused, Verifier};

/// The future of [`InvocationHandler::serve`].
pub type ServeFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<u8>, InvocationError>> + Send + 'a>>;

/// What a target does with an invocation that passed every check.
pub trait InvocationHandler: Send + Sync + 'static {
    /// Serves `invocation`, verified, with its whole `payload`. It still
    /// checks the link the call claims to travel over.
    ///
    /// # Cancel safety
    ///
    /// Dropped at the invocation's deadline.
    fn serve(&self, invocation: Invocation, payload: Vec<u8>) -> ServeFuture<'_>;

    /// `invocation` (when it decoded) was refused with `refusal`: tell the
    /// operators. Nothing by default.
    fn refused(&self, invocation: Option<&Invocation>, refusal: &InvocationError) {
        let _ = (invocation, refusal);
    }

    /// Whether the target still runs here. An invocation that arrives
    /// after it stopped (drained from its subscription) is answered
    /// `not_here`, untouched, so the caller sends it to a host that runs
    /// it. Always by default.
    fn here(&self) -> bool {
        true
    }
}

/// Serves the `rpc` subjects of one host or provider process. Cheap to
/// clone; clones share the verifier, the concurrency limit and the task
/// tracker (which a graceful stop waits on).
#[derive(Clone)]
pub struct Callee {
    client: async_nats::Client,
    verifier: Arc<Verifier>,
    limit: Arc<Semaphore>,
    tasks: TaskTracker,
    /// Room for large arguments, reserved before they are pulled.
    budget: Option<crate::budget::PayloadBudget>,
}

impl Callee {
    /// A callee on `client` that checks with `verifier` and serves at most
    /// `max_concurrent` invocations at once.
    pub fn new(client: async_nats::Client, verifier: Arc<Verifier>, max_concurrent: usize) -> Self {
        Self {
            client,
            verifier,
            limit: Arc::new(Semaphore::new(max_concurrent)),
            tasks: TaskTracker::new(),
            budget: None,
        }
    }

    /// Pulls a large argument only once `budget` has room for it, held
    /// until the invocation is served: without one, verified callers could
    /// make this process hold up to 64 MiB for each invocation it serves at
    /// once (issue 29, finding 4).
    #[must_use]
    pub fn within(mut self, budget: crate::budget::PayloadBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The invocations being served, for draining.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    /// Serves the invocations of `target` arriving on `subscription` with
    /// `handler` until the subscription ends; when `stop` fires, it drains
    /// the subscription (NATS sends nothing more, what it sent is served).
    /// Invocations already taken finish; [`Self::tasks`] counts this loop
    /// too, so waiting on it waits for the drain.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops taking invocations; those taken finish.
    pub async fn serve(
        &self,
        target: String,
        mut subscription: async_nats::Subscriber,
        handler: Arc<dyn InvocationHandler>,
        stop: CancellationToken,
    ) {
        // Waiting for the tasks waits for this loop too, so that what a
        // drain still delivers is taken before the wait can end.
        let _serving = self.tasks.token();
        let mut draining = false;
        loop {
            let message = tokio::select! {
                // Stopping drains: NATS stops sending, and what it sent
                // before (already on its way, or waiting here) is served
                // rather than dropped, so no caller waits out its deadline.
                () = stop.cancelled(), if !draining => {
                    draining = true;
                    if subscription.drain().await.is_err() {
                        break;
                    }
                    continue;
                }
                message = subscription.next() => match message {
                    Some(message) => message,
                    None => break,
                },
            };
            // Answers go to the caller's inbox only (see `is_reply_inbox`).
            let Some(reply) = message.reply.clone().filter(|r| is_reply_inbox(r)) else {
                tracing::debug!(subject = %message.subject, "invocation without a reply inbox; ignored");
                continue;
            };
            let Ok(permit) = self.limit.clone().acquire_owned().await else {
                break;
            };
            let (callee, target, handler) = (self.clone(), target.clone(), handler.clone());
            self.tasks.spawn(async move {
                let _permit = permit;
                let response = callee.answer(&target, &message.payload, &*handler).await;
                match response.encode() {
                    Ok(bytes) => {
                        if let Err(error) = callee.client.publish(reply, bytes.into()).await {
                            tracing::warn!(%error, "cannot send an invocation response");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot encode an invocation response"),
                }
            });
        }
        if !draining {
            let _ = subscription.unsubscribe().await;
        }
    }

    /// The answer to the message `bytes` on the subject of `target`.
    #[tracing::instrument(level = "debug", skip_all, fields(%target))]
    pub async fn answer(
        &self,
        target: &str,
        bytes: &[u8],
        handler: &dyn InvocationHandler,
    ) -> InvocationResponse {
        let verified = SignedInvocation::decode(bytes)
            .map_err(|e| Refused {
                invocation: None,
                error: InvocationError::new(ErrorKind::BadRequest, e.to_string()),
                wants_signature: false,
            })
            .and_then(|message| self.verifier.verify(target, &message));
        let invocation = match verified {
            Ok(invocation) => invocation,
            Err(Refused {
                invocation,
                error,
                wants_signature,
            }) => {
                if wants_signature {
                    // Not an attack: a caller that holds its key's seed tried
                    // the MAC first, and sends the invocation signed when told.
                    tracing::debug!(reason = %error.message, "invocation asked to be signed");
                } else {
                    tracing::warn!(reason = %error.message, "invocation refused");
                    handler.refused(invocation.as_deref(), &error);
                }
                let id = invocation.map(|i| i.id).unwrap_or_default();
                return InvocationResponse {
                    wants_signature,
                    ..InvocationResponse::failed(id, error)
                };
            }
        };
        tracing::debug!(
            invocation = %invocation.id, source = %invocation.source,
            interface = %invocation.interface, function = %invocation.function, "invocation"
        );
        let span = crate::trace_span!(
            "rpc.serve",
            otel.kind = "server",
            target,
            source = %invocation.source,
            interface = %invocation.interface,
            function = %invocation.function,
            trace_id = tracing::field::Empty
        );
        crate::telemetry::continue_trace(&span, invocation.traceparent.as_deref());
        let response = self
            .respond(target, invocation, handler)
            .instrument(span.clone())
            .await;
        if let Some(error) = &response.error {
            crate::telemetry::record_error(&span, &error.message);
        }
        response
    }

    async fn respond(
        &self,
        target: &str,
        invocation: Invocation,
        handler: &dyn InvocationHandler,
    ) -> InvocationResponse {
        let id = invocation.id.clone();
        let deadline_ms = invocation.deadline_ms;
        if !handler.here() {
            return InvocationResponse {
                not_here: true,
                ..InvocationResponse::failed(
                    id,
                    InvocationError::new(
                        ErrorKind::NoResponders,
                        format!("{target} no longer runs here"),
                    ),
                )
            };
        }
        match self.run(target, invocation, handler).await {
            Ok(payload) => match crate::payloads::place(&self.client, payload, deadline_ms).await {
                Ok((payload, payload_ref)) => InvocationResponse::ok(id, payload, payload_ref),
                Err(error) => InvocationResponse::failed(id, error),
            },
            Err(error) => InvocationResponse::failed(id, error),
        }
    }

    async fn run(
        &self,
        target: &str,
        invocation: Invocation,
        handler: &dyn InvocationHandler,
    ) -> Result<Vec<u8>, InvocationError> {
        let deadline_ms = invocation.deadline_ms;
        let function = invocation.function.clone();
        // The caller gives up at the deadline: so does the callee.
        let left = Duration::from_millis(deadline_ms.saturating_sub(unix_ms()));
        let served = async {
            let mut invocation = invocation;
            let (payload, _held) = match invocation.payload_ref.take() {
                Some(body) => {
                    let held = match &self.budget {
                        Some(budget) => Some(budget.reserve(
                            usize::try_from(body.len).unwrap_or(usize::MAX),
                            &format!("a {function} argument from {}", invocation.source),
                        )?),
                        None => None,
                    };
                    (
                        crate::payloads::pull(&self.client, &body, deadline_ms).await?,
                        held,
                    )
                }
                None => (std::mem::take(&mut invocation.payload), None),
            };
            handler.serve(invocation, payload).await
        };
        tokio::time::timeout(left, served)
            .await
            .unwrap_or_else(|_| {
                Err(InvocationError::new(
                    ErrorKind::Timeout,
                    format!("{target} did not finish {function} before the call's deadline"),
                ))
            })
    }
}

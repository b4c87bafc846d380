//! The memory a process lets calls that cross the lattice hold at once:
//! HTTP request bodies read whole before they go to an actor on another
//! host (hosts and HTTP server provider processes), and arguments from
//! other hosts as they become component values (a `list<u8>` takes one
//! wasmtime `Val` per byte, about 40 times its size). Each call reserves
//! what it holds until it ends; a call that would go over is refused at
//! once as `busy` (HTTP 503) with the reason, and everything else keeps
//! being served.

use std::sync::Arc;

use lattice_interfaces::{ErrorKind, InvocationError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What a host reserves by default: 256 MiB.
pub const DEFAULT_PAYLOAD_BUDGET: usize = 256 << 20;

/// How long a client may take to send a request body that is read whole
/// before it crosses the lattice: a trickled upload holds its room in the
/// budget no longer.
pub const READ_BODY: std::time::Duration = std::time::Duration::from_secs(30);

/// The budget is counted in KiB: a semaphore takes at most `u32::MAX`
/// permits at a time.
const UNIT: usize = 1024;

/// The host's budget for payloads in flight. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PayloadBudget {
    units: Arc<Semaphore>,
    total: usize,
}

/// Room held in a [`PayloadBudget`] until dropped.
#[derive(Debug)]
pub struct Reserved {
    budget: PayloadBudget,
    permit: Option<OwnedSemaphorePermit>,
    bytes: usize,
}

impl PayloadBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: usize) -> Self {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            units: Arc::new(Semaphore::new(units)),
            total: units * UNIT,
        }
    }

    /// Its size in bytes.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes free now.
    pub fn available(&self) -> usize {
        self.units.available_permits() * UNIT
    }

    /// Bytes calls hold now.
    pub fn held(&self) -> usize {
        self.total - self.available()
    }

    /// `request` for `target` as an `incoming-handler` payload for another
    /// host, its body read whole while room is held for it and its encoding
    /// (twice its size) from its first byte on, within [`READ_BODY`]: a
    /// trickled upload holds the budget no longer. Keep the reservation
    /// until the answer is back; a refusal names the body by its target.
    ///
    /// # Errors
    ///
    /// The body fails, exceeds the largest payload or is not whole within
    /// [`READ_BODY`] (`timeout`), or the budget has no room for it.
    pub async fn encode_request(
        &self,
        request: http::Request<lattice_interfaces::http::HttpBody>,
        target: &str,
    ) -> Result<(Vec<u8>, Reserved), InvocationError> {
        use lattice_interfaces::http::wire::{collect_reserving, encode_request_parts};
        let what = format!("the request body for {}", lattice_interfaces::shown(target));
        let (parts, body) = request.into_parts();
        let mut held = self.empty();
        let collected = collect_reserving(
            body,
            "request",
            lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES,
            |bytes| held.grow(bytes.saturating_mul(2), &what),
        );
        let body = tokio::time::timeout(READ_BODY, collected)
            .await
            .map_err(|_| {
                InvocationError::new(
                    ErrorKind::Timeout,
                    format!("{what} did not arrive within {READ_BODY:?}"),
                )
            })??;
        Ok((encode_request_parts(&parts, body)?, held))
    }

    /// Nothing reserved yet; [`Reserved::grow`] takes room as it is needed.
    pub fn empty(&self) -> Reserved {
        Reserved {
            budget: self.clone(),
            permit: None,
            bytes: 0,
        }
    }

    /// Room for `bytes` of `what`, now or never.
    ///
    /// # Errors
    ///
    /// `bad_request` when `bytes` exceed the whole budget, `busy` when other
    /// calls hold the room.
    pub fn reserve(&self, bytes: usize, what: &str) -> Result<Reserved, InvocationError> {
        let mut reserved = self.empty();
        reserved.grow(bytes, what)?;
        Ok(reserved)
    }
}

impl Reserved {
    /// Takes room for `extra` bytes more of `what`.
    ///
    /// # Errors
    ///
    /// As [`PayloadBudget::reserve`], for what it would hold in all.
    pub fn grow(&mut self, extra: usize, what: &str) -> Result<(), InvocationError> {
        let bytes = self.bytes.saturating_add(extra);
        let held = self.permit.as_ref().map_or(0, |p| p.num_permits());
        let needed = bytes.div_ceil(UNIT);
        if needed <= held {
            self.bytes = bytes;
            return Ok(());
        }
        let total = self.budget.total;
        if bytes > total {
            return Err(InvocationError::new(
                ErrorKind::BadRequest,
                format!(
                    "{what} would hold {} in memory, more than this host's payload budget of {}",
                    mib(bytes),
                    mib(total)
                ),
            ));
        }
        let more = u32::try_from(needed - held).unwrap_or(u32::MAX);
        let permit = Arc::clone(&self.budget.units)
            .try_acquire_many_owned(more)
            .map_err(|_| {
                InvocationError::new(
                    ErrorKind::Busy,
                    format!(
                        "{what}: this host's payload budget of {} is held by other calls ({} free): try again",
                        mib(total),
                        mib(self.budget.available())
                    ),
                )
            })?;
        match &mut self.permit {
            Some(held) => held.merge(permit),
            None => self.permit = Some(permit),
        }
        self.bytes = bytes;
        Ok(())
    }

    /// Bytes it holds room for.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

/// `bytes` in MiB, one decimal.
fn mib(bytes: usize) -> String {
    #[allow(clippy::cast_precision_loss)]
    let mib = bytes as f64 / f64::from(1 << 20);
    format!("{mib:.1} MiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_is_taken_as_it_grows_and_given_back_when_dropped() {
        let budget = PayloadBudget::new(4 << 20);
        let mut first = budget.empty();
        first.grow(1 << 20, "a body").unwrap();
        first.grow(2 << 20, "a body").unwrap();
        assert_eq!(budget.available(), 1 << 20);
        let refused = budget.reserve(2 << 20, "another body").unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Busy, "{refused}");
        assert!(refused.message.contains("another body"), "{refused}");
        drop(first);
        assert_eq!(budget.available(), 4 << 20);
        let second = budget.reserve(2 << 20, "another body").unwrap();
        assert_eq!(second.bytes(), 2 << 20);
    }

    #[test]
    fn more_than_the_whole_budget_is_a_bad_request_not_a_wait() {
        let budget = PayloadBudget::new(1 << 20);
        let refused = budget.reserve(3 << 20, "arguments").unwrap_err();
        assert_eq!(refused.kind, ErrorKind::BadRequest);
        assert_eq!(
            refused.message,
            "arguments would hold 3.0 MiB in memory, more than this host's payload budget of 1.0 MiB"
        );
        assert_eq!(budget.available(), 1 << 20, "nothing stays reserved");
    }

    #[test]
    fn small_growth_within_a_unit_takes_nothing_more() {
        let budget = PayloadBudget::new(8 * UNIT);
        let mut reserved = budget.empty();
        for _ in 0..10 {
            reserved.grow(100, "chunks").unwrap();
        }
        assert_eq!(budget.available(), 7 * UNIT);
    }

    /// A body that sends its first bytes and then nothing, for ever: a
    /// trickled upload holds its room only until `READ_BODY` has passed
    /// (issue 29, finding 6).
    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_finishes_gives_its_room_back_after_read_body() {
        use futures::StreamExt as _;
        use http_body_util::BodyExt as _;
        let budget = PayloadBudget::new(8 * UNIT);
        let first = futures::stream::once(async {
            Ok::<_, lattice_interfaces::http::BoxError>(http_body::Frame::data(
                bytes::Bytes::from_static(b"the start"),
            ))
        });
        let body =
            http_body_util::StreamBody::new(first.chain(futures::stream::pending())).boxed_unsync();
        let request = http::Request::builder().uri("/").body(body).unwrap();
        let started = tokio::time::Instant::now();
        let refused = tokio::time::timeout(2 * READ_BODY, budget.encode_request(request, "hello"))
            .await
            .expect("the read gives up by itself")
            .unwrap_err();
        assert_eq!(refused.kind, ErrorKind::Timeout, "{refused}");
        assert!(
            refused.message.contains("the request body for hello"),
            "{refused}"
        );
        assert_eq!(started.elapsed(), READ_BODY);
        assert_eq!(budget.available(), 8 * UNIT, "its room is given back");
    }
}

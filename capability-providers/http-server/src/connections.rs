//! What connections may hold: slots across the provider and per peer, and
//! how long a connection may sit idle.
//!
//! One client must not lock everyone else out (issue 29, finding 5): it
//! may hold at most `max_connections_per_peer` of the provider's
//! `max_connections` slots, and a connection with no request in flight
//! for `idle_timeout_ms` is closed gracefully, HTTP/2 included, whose
//! peers otherwise keep a connection forever by answering pings.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Open connections one provider holds at most, unless its config says
/// otherwise (`max_connections`): an edge host's sockets and memory stay
/// bounded whatever clients do.
pub const MAX_CONNECTIONS: usize = 10_000;

/// Open connections one peer address may hold at most, unless the config
/// says otherwise (`max_connections_per_peer`; raise it behind a proxy,
/// whose address every connection shares).
pub const MAX_CONNECTIONS_PER_PEER: usize = 1_000;

/// How long a connection may stay open with no request in flight, unless
/// the config says otherwise (`idle_timeout_ms`).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The provider's connection slots.
#[derive(Debug)]
pub(crate) struct Slots {
    total: Arc<Semaphore>,
    per_peer: usize,
    peers: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// Every slot of the provider is taken.
    Provider,
    /// The peer holds as many as one peer may.
    Peer,
}

/// One connection's slot, given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    _total: OwnedSemaphorePermit,
    peer: IpAddr,
    slots: Arc<Slots>,
}

impl Slots {
    /// `total` slots, at most `per_peer` of them for one peer address.
    pub(crate) fn new(total: usize, per_peer: usize) -> Self {
        Self {
            total: Arc::new(Semaphore::new(total.min(Semaphore::MAX_PERMITS))),
            per_peer,
            peers: Mutex::default(),
        }
    }

    /// A slot for a connection from `peer`, if one is free to it.
    pub(crate) fn take(self: &Arc<Self>, peer: IpAddr) -> Result<Slot, NoSlot> {
        let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        let held = peers.get(&peer).copied().unwrap_or(0);
        if held >= self.per_peer {
            return Err(NoSlot::Peer);
        }
        let total = Arc::clone(&self.total)
            .try_acquire_owned()
            .map_err(|_| NoSlot::Provider)?;
        peers.insert(peer, held + 1);
        Ok(Slot {
            _total: total,
            peer,
            slots: Arc::clone(self),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut peers = self
            .slots
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = peers.get_mut(&self.peer) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                peers.remove(&self.peer);
            }
        }
    }
}

/// Whether one connection is serving, and since when it has not been.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    quiet_since: Mutex<Instant>,
}

/// A request in flight on a connection; it ends when dropped.
pub(crate) struct Busy(Arc<Activity>);

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            in_flight: AtomicUsize::new(0),
            quiet_since: Mutex::new(Instant::now()),
        })
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub(crate) fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(Arc::clone(self))
    }

    /// When the connection will have been idle for `idle`; `None` while a
    /// request is in flight.
    pub(crate) fn idle_at(&self, idle: Duration) -> Option<Instant> {
        let quiet_since = *self
            .quiet_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        (self.in_flight.load(Ordering::SeqCst) == 0).then_some(quiet_since + idle)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        *self
            .0
            .quiet_since
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_peer_cannot_take_every_slot() {
        let slots = Arc::new(Slots::new(4, 2));
        let (greedy, other): (IpAddr, IpAddr) =
            ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let held = [slots.take(greedy).unwrap(), slots.take(greedy).unwrap()];
        assert_eq!(slots.take(greedy).unwrap_err(), NoSlot::Peer);
        let theirs = [slots.take(other).unwrap(), slots.take(other).unwrap()];
        assert_eq!(
            slots.take("10.0.0.3".parse().unwrap()).unwrap_err(),
            NoSlot::Provider
        );
        drop(held);
        assert!(slots.take(greedy).is_ok(), "a slot given back serves again");
        drop(theirs);
        assert!(
            slots.peers.lock().unwrap().len() <= 1,
            "peers with no slot are forgotten"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_is_idle_only_with_nothing_in_flight() {
        let activity = Activity::new();
        let idle = Duration::from_secs(60);
        let busy = activity.begin();
        assert_eq!(activity.idle_at(idle), None);
        tokio::time::advance(Duration::from_secs(5)).await;
        drop(busy);
        assert_eq!(activity.idle_at(idle), Some(Instant::now() + idle));
    }
}

//! The actors' log lines for the lattice: once a host joins one, every
//! line its actors log (stdout, stderr, `wasi:logging`, within their
//! budget) is also handed to the lattice, which publishes it for
//! `lattice-ctl logs`. Handing a line over never waits: when the
//! publisher falls behind, lines are counted as dropped instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

pub use lattice_interfaces::protocol::logs::LogLine;
use tokio::sync::mpsc;

/// Lines waiting for the publisher, per host.
pub const QUEUED_LINES: usize = 1024;

/// Where a host's actors' lines go: nowhere until a lattice connects it,
/// and nowhere again once it left.
#[derive(Debug, Default)]
pub struct LogTap {
    sender: Mutex<Option<mpsc::Sender<LogLine>>>,
    dropped: AtomicU64,
    /// The last line's number.
    seq: AtomicU64,
}

impl LogTap {
    /// Connects the tap: lines go to the receiver returned from now on
    /// (and no longer to one connected before).
    pub fn connect(&self) -> mpsc::Receiver<LogLine> {
        let (sender, receiver) = mpsc::channel(QUEUED_LINES);
        *self.sender.lock().unwrap_or_else(PoisonError::into_inner) = Some(sender);
        receiver
    }

    /// Disconnects the tap: lines go nowhere but the host's log.
    pub fn disconnect(&self) {
        *self.sender.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Numbers `line` (the host's next) and hands it over, when the tap
    /// is connected; never waits.
    pub fn send(&self, line: &mut LogLine) {
        line.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return;
        };
        if sender.try_send(line.clone()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped since the last call because the publisher fell
    /// behind.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

//! The actors' log lines for the lattice: once a host joins one, every
//! line its actors log (stdout, stderr, `wasi:logging`, within their
//! budget) is also handed to the lattice, which publishes it for
//! `lattice-ctl logs`. Handing a line over never waits: when the
//! publisher falls behind, lines are counted as dropped instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use lattice_interfaces::ComponentId;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Lines waiting for the publisher, per host.
pub const QUEUED_LINES: usize = 1024;

/// One line an actor logged, as the lattice carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The actor.
    pub actor: ComponentId,
    /// The host that ran it (set by the publisher).
    #[serde(default)]
    pub host: String,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// `stdout`, `stderr`, or the `wasi:logging` context.
    pub source: String,
    /// The line, at most 4 KiB.
    pub text: String,
    /// When it was logged, Unix milliseconds.
    pub at_ms: u64,
}

/// Where a host's actors' lines go: nowhere until a lattice connects it,
/// and nowhere again once it left.
#[derive(Debug, Default)]
pub struct LogTap {
    sender: Mutex<Option<mpsc::Sender<LogLine>>>,
    dropped: AtomicU64,
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

    /// Hands a line over, made only when the tap is connected; never
    /// waits.
    pub fn send(&self, actor: &ComponentId, level: &str, source: &str, text: &str) {
        let sender = self.sender.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(sender) = sender.as_ref() else {
            return;
        };
        let line = LogLine {
            actor: actor.clone(),
            host: String::new(),
            level: level.to_string(),
            source: source.to_string(),
            text: text.to_string(),
            at_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        };
        if sender.try_send(line).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Lines dropped since the last call because the publisher fell
    /// behind.
    pub fn take_dropped(&self) -> u64 {
        self.dropped.swap(0, Ordering::Relaxed)
    }
}

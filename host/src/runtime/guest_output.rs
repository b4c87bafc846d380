//! What a guest prints on stdout and stderr. Each line becomes a tracing
//! event of the host, tagged with the actor and the stream, instead of
//! going straight to the host's own stderr (or nowhere): operators find it
//! in the host's logs, and it never interleaves with them mid-line.
//!
//! Bounded: a line is cut at [`MAX_LINE`] bytes, and an actor may log at
//! most [`LINES_PER_SECOND`] lines a second across all its instances; the
//! lines beyond are counted and reported once the second is over.
//!
//! The last [`RECENT_LINES`] lines of each actor (at most
//! [`RECENT_BYTES`]) are kept for `lattice-ctl logs`, across updates of
//! its component; they go when the actor stops.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use lattice_interfaces::protocol::logs::LogLine;
use lattice_interfaces::ComponentId;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Longest line kept whole, in bytes; the rest of a longer one follows as
/// further lines.
pub const MAX_LINE: usize = 4096;

/// Lines one actor may log per second.
pub const LINES_PER_SECOND: u32 = 200;

/// Lines of one actor kept for `lattice-ctl logs`.
pub const RECENT_LINES: usize = 100;

/// What the kept lines of one actor may weigh, in bytes.
pub const RECENT_BYTES: usize = 32 * 1024;

/// One actor's log budget, shared by its instances, and where its lines
/// go besides the host's log.
#[derive(Debug)]
pub struct OutputBudget {
    window: Mutex<Window>,
    tap: Arc<super::log_tap::LogTap>,
    recent: Mutex<Recent>,
    /// The last instance's number.
    instances: AtomicU64,
}

/// The last lines of an actor, oldest first, and what they weigh.
#[derive(Debug, Default)]
struct Recent {
    lines: VecDeque<LogLine>,
    bytes: usize,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    lines: u32,
    dropped: u64,
}

impl OutputBudget {
    /// A fresh budget whose lines also go to `tap`.
    pub fn new(tap: Arc<super::log_tap::LogTap>) -> Self {
        Self {
            window: Mutex::new(Window {
                started: Instant::now(),
                lines: 0,
                dropped: 0,
            }),
            tap,
            recent: Mutex::default(),
            instances: AtomicU64::new(0),
        }
    }

    /// A number for a new instance (store) of the actor, counting from 1.
    pub fn next_instance(&self) -> u64 {
        self.instances.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Keeps a line `instance` of `actor` logged, and hands it to the
    /// lattice.
    pub fn record(
        &self,
        actor: &ComponentId,
        instance: u64,
        level: &str,
        source: &str,
        text: &str,
    ) {
        let mut line = LogLine {
            actor: actor.clone(),
            host: String::new(),
            instance,
            seq: 0,
            level: level.to_string(),
            source: source.to_string(),
            text: text.to_string(),
            at_ms: lattice_interfaces::protocol::rpc::unix_ms(),
        };
        self.tap.send(&mut line);
        let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.bytes += line.weight();
        recent.lines.push_back(line);
        while recent.lines.len() > RECENT_LINES || recent.bytes > RECENT_BYTES {
            let Some(oldest) = recent.lines.pop_front() else {
                break;
            };
            recent.bytes -= oldest.weight();
        }
    }

    /// The kept lines logged at or after `since_ms`, oldest first.
    pub fn recent(&self, since_ms: u64) -> Vec<LogLine> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent
            .lines
            .iter()
            .filter(|line| line.at_ms >= since_ms)
            .cloned()
            .collect()
    }

    /// Whether one more line may be logged now; when a new second starts,
    /// how many lines the last ones dropped.
    fn take(&self, now: Instant) -> (bool, u64) {
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let mut dropped = 0;
        if now.duration_since(window.started).as_secs() >= 1 {
            dropped = std::mem::take(&mut window.dropped);
            window.started = now;
            window.lines = 0;
        }
        if window.lines < LINES_PER_SECOND {
            window.lines += 1;
            (true, dropped)
        } else {
            window.dropped += 1;
            (false, dropped)
        }
    }
}

impl OutputBudget {
    /// Whether `actor` may log one more line now (saying so when lines
    /// were dropped in the last second).
    pub fn allow(&self, actor: &ComponentId) -> bool {
        let (allowed, dropped) = self.take(Instant::now());
        if dropped > 0 {
            tracing::warn!(%actor, dropped, "guest output over {LINES_PER_SECOND} lines a second; lines dropped");
        }
        allowed
    }
}

/// `text` cut to at most `max` bytes, on a character boundary.
pub fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}

/// Which stream a guest wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// A guest's stdout or stderr, as WASI sees it.
#[derive(Clone)]
pub struct GuestOutput {
    actor: ComponentId,
    instance: u64,
    stream: Stream,
    budget: Arc<OutputBudget>,
}

impl GuestOutput {
    /// `stream` of instance `instance` of `actor`, logging within `budget`.
    pub fn new(
        actor: ComponentId,
        instance: u64,
        stream: Stream,
        budget: Arc<OutputBudget>,
    ) -> Self {
        Self {
            actor,
            instance,
            stream,
            budget,
        }
    }

    fn emit(&self, line: &[u8]) {
        if self.budget.allow(&self.actor) {
            let text = String::from_utf8_lossy(line);
            let text = text.trim_end_matches(['\n', '\r']);
            let level = match self.stream {
                Stream::Stdout => {
                    tracing::info!(actor = %self.actor, stream = self.stream.name(), "{text}");
                    "info"
                }
                Stream::Stderr => {
                    tracing::warn!(actor = %self.actor, stream = self.stream.name(), "{text}");
                    "warn"
                }
            };
            self.budget
                .record(&self.actor, self.instance, level, self.stream.name(), text);
        }
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            output: self.clone(),
            pending: Vec::new(),
        })
    }
}

/// Splits what is written into lines and emits each; the last partial line
/// goes out when the stream is shut down or dropped.
struct LineWriter {
    output: GuestOutput,
    pending: Vec<u8>,
}

impl LineWriter {
    fn write_bytes(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let take = bytes
                .iter()
                .take(room)
                .position(|b| *b == b'\n')
                .map_or(bytes.len().min(room), |i| i + 1);
            let (line, rest) = bytes.split_at(take);
            self.pending.extend_from_slice(line);
            bytes = rest;
            if self.pending.ends_with(b"\n") || self.pending.len() >= MAX_LINE {
                self.output.emit(&self.pending);
                self.pending.clear();
            }
        }
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            self.output.emit(&self.pending);
            self.pending.clear();
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.finish();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> LineWriter {
        LineWriter {
            output: GuestOutput::new(
                ComponentId::new("a").expect("a valid id"),
                1,
                Stream::Stderr,
                Arc::new(OutputBudget::new(Arc::default())),
            ),
            pending: Vec::new(),
        }
    }

    #[test]
    fn lines_are_cut_at_the_limit_and_kept_across_writes() {
        let mut w = writer();
        w.write_bytes(b"par");
        assert_eq!(w.pending, b"par");
        w.write_bytes(b"tial\nnext");
        assert_eq!(w.pending, b"next");
        w.write_bytes(&vec![b'x'; MAX_LINE * 2 + 10]);
        assert!(w.pending.len() < MAX_LINE, "{}", w.pending.len());
        w.finish();
        assert!(w.pending.is_empty());
    }

    #[test]
    fn an_actor_logs_at_most_its_budget_a_second() {
        let budget = OutputBudget::new(Arc::default());
        let start = Instant::now();
        let allowed = (0..LINES_PER_SECOND + 50)
            .filter(|_| budget.take(start).0)
            .count();
        assert_eq!(allowed, LINES_PER_SECOND as usize);
        let (next, dropped) = budget.take(start + std::time::Duration::from_secs(1));
        assert!(next);
        assert_eq!(dropped, 50);
    }
}

//! Actors' log lines as the lattice carries them: published live on
//! `lattice.<L>.log.<actor>`, and the last few of each actor kept by the
//! hosts that run it, answered to `actor.logs`.

use serde::{Deserialize, Serialize};

use crate::{ComponentId, HostId};

/// One line an actor logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// The actor.
    pub actor: ComponentId,
    /// The host that ran it (empty until the host publishes it).
    #[serde(default)]
    pub host: String,
    /// The instance that logged it: a number, counted per actor on its
    /// host, of the store that made the call (lines of one call share it).
    #[serde(default)]
    pub instance: u64,
    /// The line's number on its host, counting from 1: tells a line read
    /// from the host's recent lines from the same line published live.
    #[serde(default)]
    pub seq: u64,
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub level: String,
    /// `stdout`, `stderr`, or the `wasi:logging` context.
    pub source: String,
    /// The line, at most 4 KiB.
    pub text: String,
    /// When it was logged, Unix milliseconds.
    pub at_ms: u64,
}

impl LogLine {
    /// Roughly what the line weighs in a host's memory and on the wire.
    pub fn weight(&self) -> usize {
        self.text.len() + self.source.len() + self.host.len() + 128
    }
}

/// `actor.logs`: the lines of one actor its hosts still keep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentLogsRequest {
    /// The actor.
    pub actor: ComponentId,
    /// Only lines logged at or after this time, Unix milliseconds.
    #[serde(default)]
    pub since_ms: Option<u64>,
}

/// A host's answer to `actor.logs`, oldest line first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentLogs {
    /// The host.
    pub host_id: HostId,
    /// The lines, oldest first (at most 100, about 32 KiB of text).
    pub lines: Vec<LogLine>,
}

//! Errors of an invocation, with a stable kind a caller can match and a
//! message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure an invocation met. Stable: these names travel in
/// replies and events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The target, link or route does not exist.
    NotFound,
    /// The request itself is malformed.
    BadRequest,
    /// The caller is not allowed to make this call (no link, bad signature).
    Unauthorized,
    /// The call did not finish before its deadline.
    Timeout,
    /// No host runs the target.
    NoResponders,
    /// The target is at its concurrency limit and the call waited too long.
    Busy,
    /// The target failed: a trap, a panic, a limit breach.
    Failed,
    /// A control request clashes with what the lattice holds (a link
    /// whose address another link serves). Control replies only.
    Conflict,
}

impl ErrorKind {
    /// The stable snake_case name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Timeout => "timeout",
            Self::NoResponders => "no_responders",
            Self::Busy => "busy",
            Self::Failed => "failed",
            Self::Conflict => "conflict",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct InvocationError {
    /// The stable kind.
    pub kind: ErrorKind,
    /// One line for people: what failed, on what, and why.
    pub message: String,
}

impl InvocationError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Longest piece of input an error message repeats.
pub const SHOWN_CHARS: usize = 64;

/// `text` as an error message may repeat it: whole when short, else its
/// first [`SHOWN_CHARS`] characters and how long it was, so a hostile
/// request cannot make a reply or a log line as large as itself.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}…({} bytes)",
            text.get(..cut).unwrap_or_default(),
            text.len()
        )),
    }
}

/// How `Debug` output shows a secret: `<hidden>` when there is one, else
/// `none`. Never the secret.
pub fn hidden<T>(secret: Option<T>) -> &'static str {
    if secret.is_some() {
        "<hidden>"
    } else {
        "none"
    }
}

/// `url` (comma-separated servers) with any credentials in it hidden, for
/// messages: `nats://alice:secret@host:4222` becomes `nats://***@host:4222`.
pub fn redacted(url: &str) -> String {
    url.split(',')
        .map(|server| {
            let server = server.trim();
            let (scheme, rest) = server.split_once("://").unwrap_or(("", server));
            // The last `@`: a password may hold one.
            let shown = match rest.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => rest.to_string(),
            };
            if scheme.is_empty() {
                shown
            } else {
                format!("{scheme}://{shown}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `text` (an error message of a client that connected to `url`) with the
/// credentials of `url`'s servers taken out wherever it repeats them.
pub fn redacted_in(text: &str, url: &str) -> String {
    let mut shown = text.to_string();
    for server in url.split(',') {
        let rest = server
            .trim()
            .split_once("://")
            .map_or(server, |(_, rest)| rest);
        if let Some((credentials, _)) = rest.rsplit_once('@') {
            if !credentials.is_empty() {
                shown = shown.replace(credentials, "***");
            }
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_messages_that_repeat_them() {
        let url = "redis://alice:s3cr@t@10.0.0.1:6379/0";
        assert_eq!(
            redacted_in(&format!("cannot connect to {url}: refused"), url),
            "cannot connect to redis://***@10.0.0.1:6379/0: refused"
        );
        assert_eq!(
            redacted_in("no url here", "nats://host:4222"),
            "no url here"
        );
    }

    #[test]
    fn long_input_is_cut_and_measured() {
        assert_eq!(shown("hello"), "hello");
        let long = "é".repeat(400_000);
        let cut = shown(&long);
        assert!(cut.chars().count() < 100, "{cut}");
        assert!(cut.ends_with("…(800000 bytes)"), "{cut}");
    }

    #[test]
    fn urls_lose_their_credentials() {
        assert_eq!(
            redacted("nats://alice:s3cret@east:4222, tls://token@west:4222"),
            "nats://***@east:4222,tls://***@west:4222"
        );
        assert_eq!(
            redacted("nats://bob:p@ss@host:4222"),
            "nats://***@host:4222"
        );
        assert_eq!(redacted("127.0.0.1:4222"), "127.0.0.1:4222");
    }
}

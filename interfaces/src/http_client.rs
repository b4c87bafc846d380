//! `wasi:http/outgoing-handler` as it crosses the lattice: a request an
//! actor sends through an `http-client` provider that is not in its host's
//! process, and what comes back. Bodies are whole (bounded by the RPC
//! payload limit), not streamed.

use serde::{Deserialize, Serialize};

use crate::http::wire::{HttpMessage, HttpRequestHead, HttpResponseHead};

/// The interface outgoing requests travel as.
pub const INTERFACE: &str = "wasi:http/outgoing-handler";
/// The function they call.
pub const FUNCTION: &str = "handle";

/// The request: the actor's request, and the scheme it was made with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutgoingRequest {
    /// `http` or `https`.
    pub scheme: String,
    /// Method, path, authority, headers and body.
    pub message: HttpMessage<HttpRequestHead>,
}

/// Why a request failed, in the categories `wasi:http` tells actors apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The name did not resolve.
    Dns,
    /// The connection was refused.
    ConnectionRefused,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// No response (or no next bytes) within the timeouts.
    ReadTimeout,
    /// The request itself was malformed.
    InvalidRequest,
    /// The link may not reach where it asked (`allowed_hosts`).
    Denied,
    /// The server's certificate was not trusted.
    TlsCertificate,
    /// Anything else.
    Other,
}

/// The outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutgoingReply {
    /// The response, whole.
    Response(HttpMessage<HttpResponseHead>),
    /// The request failed.
    Failed {
        /// The category.
        kind: FailureKind,
        /// What happened, in one line.
        message: String,
    },
}

/// The timeouts a link's config sets, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To connect.
    pub connect_ms: u64,
    /// To the first byte of the response.
    pub first_byte_ms: u64,
    /// Between bytes of the response.
    pub between_bytes_ms: u64,
}

impl Timeouts {
    /// The timeouts of `link`: `connect_timeout_ms` (default 5 s),
    /// `first_byte_timeout_ms` and `between_bytes_timeout_ms` (30 s each).
    pub fn of(link: &crate::Link) -> Self {
        let millis = |key: &str, default: u64| {
            link.config(key)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(default)
        };
        Self {
            connect_ms: millis("connect_timeout_ms", 5_000),
            first_byte_ms: millis("first_byte_timeout_ms", 30_000),
            between_bytes_ms: millis("between_bytes_timeout_ms", 30_000),
        }
    }
}

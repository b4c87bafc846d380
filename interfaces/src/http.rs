//! The in-process API of `wasi:http/incoming-handler`: how the HTTP server
//! provider hands a request to whatever serves the link's target.
//!
//! The provider owns sockets and routing; the host owns actors. The provider
//! calls [`IncomingHttp::handle`] with the link the request matched, and the
//! request and response bodies stream through untouched: no copy, no
//! serialization.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;

use crate::{InvocationError, Link};

/// An error inside a body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streaming HTTP body, as both sides of the in-process API see it.
pub type HttpBody = UnsyncBoxBody<Bytes, BoxError>;

/// The future [`IncomingHttp::handle`] returns.
pub type HandleFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<HttpBody>, InvocationError>> + Send>>;

/// Serves `wasi:http/incoming-handler` calls that arrive over a link.
pub trait IncomingHttp: Send + Sync + 'static {
    /// Hands `request`, which arrived over `link`, to the link's target and
    /// resolves to its response. The response body may still be streaming
    /// when the future resolves.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the target's instance is
    /// dropped with it.
    fn handle(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture;
}

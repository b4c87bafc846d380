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

/// Where a link is served.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The link.
    pub link: std::sync::Arc<Link>,
    /// The bound address (the real port when the link asked for port 0).
    pub address: std::net::SocketAddr,
    /// The path prefix.
    pub prefix: String,
}

impl Endpoint {
    /// The URL a client reaches the link's target at.
    pub fn url(&self) -> String {
        let prefix = if self.prefix == "/" {
            "/"
        } else {
            self.prefix.as_str()
        };
        format!("http://{}{}", self.address, prefix)
    }
}

/// HTTP as it crosses the lattice: a request or response whole, head and
/// body, in one MessagePack [`wire::HttpMessage`]. Bodies are read whole, up
/// to [`MAX_PAYLOAD_BYTES`](crate::protocol::rpc::MAX_PAYLOAD_BYTES), and
/// larger payloads travel in chunks.
pub mod wire {
    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};

    use super::HttpBody;
    use serde::{Deserialize, Serialize};

    use crate::protocol::rpc::MAX_PAYLOAD_BYTES;
    use crate::{ErrorKind, InvocationError};

    /// The head of an HTTP request carried by a `wasi:http/incoming-handler`
    /// invocation; the body is the rest of the payload (or its [`BodyRef`](crate::protocol::rpc::BodyRef)).
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HttpRequestHead {
        /// Method, e.g. `GET`.
        pub method: String,
        /// Path and query.
        pub path_and_query: String,
        /// The authority the client asked for (Host header).
        pub authority: String,
        /// Headers, in order, values as bytes.
        pub headers: Vec<(String, serde_bytes::ByteBuf)>,
    }

    /// The head of an HTTP response.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HttpResponseHead {
        /// Status code.
        pub status: u16,
        /// Headers, in order, values as bytes.
        pub headers: Vec<(String, serde_bytes::ByteBuf)>,
    }

    /// An HTTP request or response: head and body, as one MessagePack value.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub struct HttpMessage<H> {
        /// The head.
        pub head: H,
        /// The body.
        #[serde(with = "serde_bytes")]
        pub body: Vec<u8>,
    }

    /// The interface HTTP calls to actors travel as.
    pub const INCOMING_HANDLER: &str = "wasi:http/incoming-handler";

    fn err(kind: ErrorKind, message: impl Into<String>) -> InvocationError {
        InvocationError::new(kind, message)
    }

    /// Headers as they cross the lattice: in order, values as bytes.
    pub fn header_pairs(headers: &http::HeaderMap) -> Vec<(String, serde_bytes::ByteBuf)> {
        headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_string(),
                    serde_bytes::ByteBuf::from(value.as_bytes().to_vec()),
                )
            })
            .collect()
    }

    /// Most headers one message may carry across the lattice.
    pub const MAX_HEADERS: usize = 1_000;

    /// Headers from the lattice, each name and value checked; more than
    /// [`MAX_HEADERS`] are refused.
    pub fn header_map(
        pairs: Vec<(String, serde_bytes::ByteBuf)>,
    ) -> Result<http::HeaderMap, InvocationError> {
        if pairs.len() > MAX_HEADERS {
            return Err(err(
                ErrorKind::BadRequest,
                format!(
                    "{} headers: at most {MAX_HEADERS} cross the lattice",
                    pairs.len()
                ),
            ));
        }
        let mut map = http::HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|e| {
                err(
                    ErrorKind::BadRequest,
                    format!("bad header name {name:?}: {e}"),
                )
            })?;
            let value = http::HeaderValue::from_bytes(&value).map_err(|e| {
                err(
                    ErrorKind::BadRequest,
                    format!("bad value for header {name}: {e}"),
                )
            })?;
            map.try_append(name, value)
                .map_err(|e| err(ErrorKind::BadRequest, format!("too many headers: {e}")))?;
        }
        Ok(map)
    }

    /// Reads `body` whole, at most [`MAX_PAYLOAD_BYTES`]; `what` names it in errors.
    pub async fn collect(body: HttpBody, what: &str) -> Result<Vec<u8>, InvocationError> {
        collect_at_most(body, what, MAX_PAYLOAD_BYTES).await
    }

    /// Reads `body` whole, at most `limit` bytes; `what` names it in errors.
    pub async fn collect_at_most(
        body: HttpBody,
        what: &str,
        limit: usize,
    ) -> Result<Vec<u8>, InvocationError> {
        collect_reserving(body, what, limit, |_| Ok(())).await
    }

    /// Reads `body` whole, at most `limit` bytes, telling `reserve` the
    /// size of each chunk before it is kept: its error ends the read.
    pub async fn collect_reserving(
        mut body: HttpBody,
        what: &str,
        limit: usize,
        mut reserve: impl FnMut(usize) -> Result<(), InvocationError>,
    ) -> Result<Vec<u8>, InvocationError> {
        let mut data = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| err(ErrorKind::BadRequest, format!("{what} body: {e}")))?;
            if let Ok(chunk) = frame.into_data() {
                if data.len().saturating_add(chunk.len()) > limit {
                    return Err(err(
                        ErrorKind::BadRequest,
                        format!("{what} body exceeds {limit} bytes"),
                    ));
                }
                reserve(chunk.len())?;
                data.extend_from_slice(&chunk);
            }
        }
        Ok(data)
    }

    /// A body of `bytes`.
    pub fn full(bytes: impl Into<Bytes>) -> HttpBody {
        Full::new(bytes.into())
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    fn pack<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, InvocationError> {
        rmp_serde::to_vec_named(value).map_err(|e| err(ErrorKind::Failed, e.to_string()))
    }

    /// A request as an `incoming-handler` `handle` payload, its body read whole.
    pub async fn encode_request(
        request: http::Request<HttpBody>,
    ) -> Result<Vec<u8>, InvocationError> {
        let (parts, body) = request.into_parts();
        encode_request_parts(&parts, collect(body, "request").await?)
    }

    /// A request's head `parts` and its whole `body` as an
    /// `incoming-handler` `handle` payload.
    pub fn encode_request_parts(
        parts: &http::request::Parts,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let authority = parts
            .uri
            .authority()
            .map(|a| a.to_string())
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let head = HttpRequestHead {
            method: parts.method.to_string(),
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_string(), |p| p.to_string()),
            authority,
            headers: header_pairs(&parts.headers),
        };
        pack(&HttpMessage { head, body })
    }

    /// A request from an untrusted `handle` payload.
    pub fn decode_request(bytes: &[u8]) -> Result<http::Request<HttpBody>, InvocationError> {
        let message: HttpMessage<HttpRequestHead> = rmp_serde::from_slice(bytes).map_err(|e| {
            err(
                ErrorKind::BadRequest,
                format!("malformed HTTP request: {e}"),
            )
        })?;
        let uri = http::Uri::builder()
            .scheme("http")
            .authority(if message.head.authority.is_empty() {
                "localhost"
            } else {
                message.head.authority.as_str()
            })
            .path_and_query(message.head.path_and_query.as_str())
            .build()
            .map_err(|e| {
                err(
                    ErrorKind::BadRequest,
                    format!("malformed HTTP request target: {e}"),
                )
            })?;
        let method = http::Method::from_bytes(message.head.method.as_bytes())
            .map_err(|e| err(ErrorKind::BadRequest, format!("malformed HTTP method: {e}")))?;
        let mut request = http::Request::new(full(message.body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = header_map(message.head.headers)?;
        Ok(request)
    }

    /// A response as a `handle` answer, its body read whole.
    pub async fn encode_response(
        response: http::Response<HttpBody>,
    ) -> Result<Vec<u8>, InvocationError> {
        let (parts, body) = response.into_parts();
        let head = HttpResponseHead {
            status: parts.status.as_u16(),
            headers: header_pairs(&parts.headers),
        };
        pack(&HttpMessage {
            head,
            body: collect(body, "response").await?,
        })
    }

    /// A response from a `handle` answer.
    pub fn decode_response(bytes: &[u8]) -> Result<http::Response<HttpBody>, InvocationError> {
        let message: HttpMessage<HttpResponseHead> = rmp_serde::from_slice(bytes)
            .map_err(|e| err(ErrorKind::Failed, format!("malformed HTTP response: {e}")))?;
        let mut response = http::Response::new(full(message.body));
        *response.status_mut() = http::StatusCode::from_u16(message.head.status)
            .map_err(|e| err(ErrorKind::Failed, format!("malformed HTTP status: {e}")))?;
        // Bad headers here are the answering side's fault, not the caller's.
        *response.headers_mut() = header_map(message.head.headers).map_err(|e| {
            err(
                ErrorKind::Failed,
                format!("malformed HTTP response: {}", e.message),
            )
        })?;
        Ok(response)
    }
}

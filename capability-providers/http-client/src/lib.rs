//! The outgoing HTTP capability provider: `wasi:http/outgoing-handler` for
//! actors, reached only through a link, whose config sets the timeouts
//! (`connect_timeout_ms`, `first_byte_timeout_ms`,
//! `between_bytes_timeout_ms`) and where requests may go
//! (`allowed_hosts`, see [`egress`]; without it the provider's `egress`
//! setting decides, `deny` unless it says `allow`). A request refused is
//! `HTTP-request-denied` to the actor and a `provider_error` event naming
//! the actor, the host it asked for and the link.
//!
//! In a host's process the actor's request streams straight out through
//! wasmtime-wasi-http's sender with the link's [`request_options`]. When
//! the provider runs elsewhere (its own process, another host) the request
//! crosses the lattice whole as an [`OutgoingRequest`] and [`send`] makes it
//! with the same sender, so both ways connect, time out and fail alike.

pub mod egress;
pub mod sender;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use lattice_interfaces::capability::{
    Capability, CapabilityFuture, ContractClient, ContractClientFuture, ProviderCalls,
    ProviderContext,
};
use lattice_interfaces::http::wire::{HttpMessage, HttpResponseHead};
use lattice_interfaces::http_client::{FailureKind, OutgoingReply, OutgoingRequest, Timeouts};
use lattice_interfaces::{standard, Interface, InvocationError, Link, LinkKey};
use wasmtime_wasi_http::{Error, RequestOptions};

/// The provider kind manifests name to run this provider.
pub const KIND: &str = "http-client";

pub use egress::{Denied, Egress};
pub use sender::{ca_bundle, send as send_streaming, SendError, Tls};

/// The outgoing HTTP provider: each link's config holds its timeouts and
/// its `allowed_hosts`; the provider's own `egress` setting is what a link
/// without them may reach.
pub struct HttpClientProvider {
    calls: Arc<dyn ProviderCalls>,
    default_allow: bool,
    /// CA roots every link trusts besides the system's: the provider's
    /// `ca_file` (a host's `--http-ca-file`).
    ca_file: Option<String>,
    /// Each link's policy, made when the link is put (its `ca_file` read
    /// then) and kept while its config stays the same.
    policies: std::sync::Mutex<std::collections::HashMap<LinkKey, (Link, OutgoingPolicy)>>,
}

/// What the provider hands an actor's host for one link: its timeouts,
/// where its requests may go, and how to tell the lattice of a refusal.
#[derive(Clone)]
pub struct OutgoingPolicy {
    /// The link's timeouts.
    pub timeouts: Timeouts,
    /// Where its requests may go.
    pub egress: Arc<Egress>,
    /// How its `https` requests speak TLS.
    pub tls: Tls,
    /// Tells the lattice a request was refused (a `provider_error` event
    /// on the link).
    pub report: Arc<dyn Fn(&Denied) + Send + Sync>,
}

impl HttpClientProvider {
    /// The provider; `egress = "allow"` in `context`'s config lets links
    /// without `allowed_hosts` reach any public address, anything else
    /// denies them; its `ca_file` names CA roots every link trusts.
    pub fn new(context: ProviderContext) -> Self {
        Self {
            calls: context.calls,
            policies: std::sync::Mutex::default(),
            ca_file: context.config.get("ca_file").cloned(),
            default_allow: context
                .config
                .get("egress")
                .is_some_and(|v| v.trim() == "allow"),
        }
    }

    /// The policy of `link`: the one kept for it, or made now and kept.
    fn policy(&self, link: &Link) -> Result<OutgoingPolicy, String> {
        let key = link.key();
        {
            let policies = self
                .policies
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some((made_for, policy)) = policies.get(&key) {
                if made_for == link {
                    return Ok(policy.clone());
                }
            }
        }
        let policy = self.make_policy(link)?;
        self.policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, (link.clone(), policy.clone()));
        Ok(policy)
    }

    fn make_policy(&self, link: &Link) -> Result<OutgoingPolicy, String> {
        let egress =
            Egress::of(link, self.default_allow).map_err(|e| format!("link {link}: {e}"))?;
        let tls =
            Tls::of(link, self.ca_file.as_deref()).map_err(|e| format!("link {link}: {e}"))?;
        let (calls, reported) = (self.calls.clone(), link.clone());
        Ok(OutgoingPolicy {
            timeouts: Timeouts::of(link),
            egress: Arc::new(egress),
            tls,
            report: Arc::new(move |denied: &Denied| {
                tracing::warn!(actor = %reported.source, link = %reported, %denied, "outgoing HTTP denied");
                calls.report_error(
                    &reported,
                    &format!("egress denied for actor {}: {denied}", reported.source),
                );
            }),
        })
    }
}

impl Capability for HttpClientProvider {
    fn put_link(&self, link: &Link) -> Result<(), String> {
        self.policy(link).map(drop)
    }

    fn delete_link(&self, link: &Link) {
        self.policies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&link.key());
    }

    fn serves(&self, interface: Interface<'_>) -> bool {
        interface == standard::HTTP_OUTGOING_HANDLER
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> CapabilityFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let request: OutgoingRequest =
                lattice_interfaces::wire::decode(&payload, "outgoing HTTP")?;
            let policy = self
                .policy(&link)
                .map_err(|e| InvocationError::new(lattice_interfaces::ErrorKind::Failed, e))?;
            lattice_interfaces::wire::encode(&send(request, &policy).await)
        })
    }

    fn client(&self, interface: Interface<'_>, link: &Link) -> Option<ContractClientFuture<'_>> {
        if interface != standard::HTTP_OUTGOING_HANDLER {
            return None;
        }
        let policy = self.policy(link);
        Some(Box::pin(async move {
            policy.map(ContractClient::new).map_err(Into::into)
        }))
    }
}

/// Largest response body [`send`] returns.
pub const MAX_RESPONSE_BYTES: usize = lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES;

/// The sender's options for `timeouts`.
pub fn request_options(timeouts: Timeouts) -> RequestOptions {
    RequestOptions {
        connect_timeout: Some(Duration::from_millis(timeouts.connect_ms)),
        first_byte_timeout: Some(Duration::from_millis(timeouts.first_byte_ms)),
        between_bytes_timeout: Some(Duration::from_millis(timeouts.between_bytes_ms)),
    }
}

/// The category of a sender's error, as it crosses the lattice.
pub fn failure_kind(error: &Error) -> FailureKind {
    match error {
        Error::Connect(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            FailureKind::ConnectionRefused
        }
        // Name resolution fails inside connect with no kind of its own.
        Error::Connect(io) if io.to_string().contains("lookup") => FailureKind::Dns,
        Error::DnsError { .. } | Error::DnsTimeout | Error::DestinationNotFound => FailureKind::Dns,
        Error::ConnectionRefused => FailureKind::ConnectionRefused,
        Error::ConnectionTimeout => FailureKind::ConnectTimeout,
        Error::ConnectionReadTimeout | Error::HttpResponseTimeout => FailureKind::ReadTimeout,
        Error::HttpRequestUriInvalid
        | Error::HttpRequestMethodInvalid
        | Error::InvalidDnsNameError(_) => FailureKind::InvalidRequest,
        Error::HttpRequestDenied => FailureKind::Denied,
        Error::TlsCertificateError => FailureKind::TlsCertificate,
        _ => FailureKind::Other,
    }
}

/// The sender's error for a failure that crossed the lattice, so the actor
/// sees the same `error-code` either way.
pub fn wasi_error(kind: FailureKind, message: String) -> Error {
    match kind {
        FailureKind::Dns => Error::DnsError {
            rcode: Some(message),
            info_code: None,
        },
        FailureKind::ConnectionRefused => Error::ConnectionRefused,
        FailureKind::ConnectTimeout => Error::ConnectionTimeout,
        FailureKind::ReadTimeout => Error::ConnectionReadTimeout,
        FailureKind::InvalidRequest => Error::HttpRequestUriInvalid,
        FailureKind::Denied => Error::HttpRequestDenied,
        FailureKind::TlsCertificate => Error::TlsCertificateError,
        FailureKind::Other => Error::InternalError(Some(message)),
    }
}

fn failed(kind: FailureKind, message: impl Into<String>) -> OutgoingReply {
    OutgoingReply::Failed {
        kind,
        message: message.into(),
    }
}

/// Makes `request` under `policy` and returns the whole response (at most
/// [`MAX_RESPONSE_BYTES`] of body).
///
/// # Cancel safety
///
/// Dropping the future drops the connection.
pub async fn send(request: OutgoingRequest, policy: &OutgoingPolicy) -> OutgoingReply {
    let head = request.message.head;
    if request.scheme != "http" && request.scheme != "https" {
        return failed(
            FailureKind::InvalidRequest,
            format!("scheme \"{}\" is not http or https", request.scheme),
        );
    }
    let uri = format!(
        "{}://{}{}",
        request.scheme, head.authority, head.path_and_query
    );
    let mut builder = http::Request::builder()
        .method(head.method.as_str())
        .uri(&uri);
    for (name, value) in &head.headers {
        builder = builder.header(name.as_str(), value.as_slice());
    }
    let body = Full::new(Bytes::from(request.message.body))
        .map_err(|never: std::convert::Infallible| -> Error { match never {} });
    let outgoing = match builder.body(body) {
        Ok(outgoing) => outgoing,
        Err(e) => return failed(FailureKind::InvalidRequest, format!("{uri}: {e}")),
    };
    let options = request_options(policy.timeouts);
    let (response, io) = match sender::send(outgoing, options, &policy.tls, &policy.egress).await {
        Ok(sent) => sent,
        Err(SendError::Denied(denied)) => {
            (policy.report)(&denied);
            return failed(FailureKind::Denied, denied.0);
        }
        Err(SendError::Failed(e)) => return failed(failure_kind(&e), format!("{uri}: {e}")),
    };
    let io = Box::into_pin(io);
    tokio::spawn(async move {
        if let Err(error) = io.await {
            tracing::debug!(%error, "outgoing connection ended with an error");
        }
    });
    let (parts, mut body) = response.into_parts();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    if bytes.len().saturating_add(data.len()) > MAX_RESPONSE_BYTES {
                        return failed(
                            FailureKind::Other,
                            format!("{uri}: response body exceeds {MAX_RESPONSE_BYTES} bytes"),
                        );
                    }
                    bytes.extend_from_slice(&data);
                }
            }
            Err(e) => return failed(failure_kind(&e), format!("{uri}: {e}")),
        }
    }
    OutgoingReply::Response(HttpMessage {
        head: HttpResponseHead {
            status: parts.status.as_u16(),
            headers: lattice_interfaces::http::wire::header_pairs(&parts.headers),
        },
        body: bytes,
    })
}

//! Listeners, connections and the request path of the HTTP server provider.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use lattice_interfaces::capability::{
    Capability, CapabilityFuture, ProviderCalls, ProviderContext,
};
use lattice_interfaces::http::{BoxError, Endpoint, HttpBody};
use lattice_interfaces::{standard, ComponentId, ErrorKind, InvocationError, Link};
use lattice_provider_sdk::telemetry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::connections::{
    Activity, NoSlot, Slots, IDLE_TIMEOUT, MAX_CONNECTIONS, MAX_CONNECTIONS_PER_PEER,
};
use crate::routes::{prefix_of, Route, RouteError, RouteTable};
use crate::tls::{Certificates, TlsFiles, CLIENT_SUBJECT};

/// Why the provider could not serve a link.
#[derive(Debug, thiserror::Error)]
pub enum HttpServerError {
    /// The link names no `address`.
    #[error("link {link}: no `address` in its source_config (e.g. address = \"127.0.0.1:8080\")")]
    MissingAddress {
        /// The link, displayed.
        link: String,
    },
    /// The `address` is not `IP:PORT`.
    #[error("link {link}: address {address:?} is not IP:PORT ({reason})")]
    BadAddress {
        /// The link, displayed.
        link: String,
        /// The rejected address.
        address: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The address could not be bound.
    #[error("link {link}: cannot listen on {address}: {source}")]
    Bind {
        /// The link, displayed.
        link: String,
        /// The address.
        address: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The link's route clashes or is malformed.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// The link's TLS files are wrong, or do not fit its address.
    #[error("link {link}: {reason}")]
    Tls {
        /// The link, displayed.
        link: String,
        /// What is wrong, naming the file.
        reason: String,
    },
}

struct Listener {
    local: SocketAddr,
    routes: Arc<RwLock<RouteTable>>,
    stop: CancellationToken,
    /// Its certificates and client CA, when it speaks TLS.
    tls: Option<(Arc<Certificates>, Option<std::path::PathBuf>)>,
}

/// The HTTP server provider. Cheap to share behind an `Arc`.
pub struct HttpServerProvider {
    id: ComponentId,
    calls: Arc<dyn ProviderCalls>,
    /// Listeners by the `address` config value that opened them.
    listeners: Mutex<HashMap<SocketAddr, Listener>>,
    /// Every accept loop and connection, for draining at shutdown.
    tracker: TaskTracker,
    /// Cancelled when the provider drains: every connection finishes what
    /// it is serving and closes.
    draining: CancellationToken,
    /// How long a client may take to send a request's headers.
    header_timeout: Duration,
    /// How long a client may pause while it sends a request's body.
    body_idle: Duration,
    /// How long a connection may stay open with no request in flight.
    idle: Duration,
    /// Open connections allowed across its addresses and per peer; one
    /// more is closed as soon as it is accepted.
    slots: Arc<Slots>,
    /// How many it has closed for want of a slot.
    refused: Arc<std::sync::atomic::AtomicU64>,
}

/// How long a client may take to send a request's headers, unless the
/// provider's config says otherwise (`header_read_timeout_ms`).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a client may pause while it sends a request's body, unless the
/// provider's config says otherwise (`body_idle_timeout_ms`).
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl HttpServerProvider {
    /// A provider that hands requests to actors through `context`'s
    /// calls. Its config: `header_read_timeout_ms` bounds how long a client
    /// may take to send a request's headers (default 30 s) and
    /// `body_idle_timeout_ms` how long it may pause while it sends a body
    /// (default 30 s), so slow clients cannot hold connections;
    /// `max_connections` bounds how many are open at once (default 10,000),
    /// `max_connections_per_peer` how many of them one peer address may
    /// hold (default 1,000), and `idle_timeout_ms` how long one may stay
    /// open with no request in flight (default 60 s).
    pub fn new(context: ProviderContext) -> Self {
        // A positive number of milliseconds, else the default.
        let millis = |key: &str, default: Duration| {
            context
                .config
                .get(key)
                .and_then(|v| v.parse::<u64>().ok())
                .filter(|ms| *ms > 0)
                .map_or(default, Duration::from_millis)
        };
        let header_timeout = millis("header_read_timeout_ms", HEADER_READ_TIMEOUT);
        let body_idle = millis("body_idle_timeout_ms", BODY_IDLE_TIMEOUT);
        let idle = millis("idle_timeout_ms", IDLE_TIMEOUT);
        // A positive count, else the default.
        let count = |key: &str, default: usize| {
            context
                .config
                .get(key)
                .and_then(|v| v.parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(default)
        };
        let slots = Slots::new(
            count("max_connections", MAX_CONNECTIONS),
            count("max_connections_per_peer", MAX_CONNECTIONS_PER_PEER),
        );
        Self {
            id: context.id,
            calls: context.calls,
            listeners: Mutex::new(HashMap::new()),
            tracker: TaskTracker::new(),
            draining: CancellationToken::new(),
            header_timeout,
            body_idle,
            idle,
            slots: Arc::new(slots),
            refused: Arc::default(),
        }
    }

    /// How many connections it closed at once for want of a slot.
    pub fn refused_connections(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serves `link`: binds its address unless already bound, then routes its
    /// path prefix to its target. Putting a link again with the same key
    /// replaces its route.
    pub fn serve_link(&self, link: Link) -> Result<Endpoint, HttpServerError> {
        let address = parse_address(&link)?;
        let prefix = prefix_of(&link)?;
        let shown = link.to_string();
        let tls_error = |reason: String| HttpServerError::Tls {
            link: shown.clone(),
            reason,
        };
        let tls_files = TlsFiles::of(&link).map_err(tls_error)?;
        let link = Arc::new(link);
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let owner = owner_of(&link);
        if address.port() != 0 {
            if let Some(listener) = listeners.get(&address) {
                let mut pending_certificate = None;
                match (&listener.tls, &tls_files) {
                    (None, None) => {}
                    (Some((certificates, client_ca)), Some(files)) => {
                        if *client_ca != files.client_ca() {
                            return Err(tls_error(format!(
                                "{address} asks for client certificates from another CA than the links it serves already"
                            )));
                        }
                        // Loaded now, served once the route is in.
                        let loaded = crate::tls::load(files).map_err(tls_error)?;
                        pending_certificate = Some((certificates.clone(), loaded));
                    }
                    (None, Some(_)) => {
                        return Err(tls_error(format!(
                            "{address} serves plain HTTP already: TLS needs an address of its own"
                        )))
                    }
                    (Some(_), None) => {
                        return Err(tls_error(format!(
                            "{address} serves TLS already: give this link tls_cert_file and tls_key_file too"
                        )))
                    }
                }
                listener
                    .routes
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        &address.to_string(),
                        Route {
                            prefix: prefix.clone(),
                            link: link.clone(),
                        },
                    )?;
                if let Some((certificates, loaded)) = pending_certificate {
                    certificates.insert(owner, loaded);
                }
                return Ok(Endpoint {
                    link,
                    address: listener.local,
                    prefix,
                });
            }
        }
        // TLS is checked before the address is bound: a wrong file binds
        // nothing.
        let tls = match &tls_files {
            Some(files) => {
                let certificates = Arc::new(Certificates::default());
                certificates.insert(owner.clone(), crate::tls::load(files).map_err(tls_error)?);
                let config = crate::tls::server_config(
                    certificates.clone(),
                    files.client_ca().as_deref(),
                    &[b"h2", b"http/1.1"],
                )
                .map_err(tls_error)?;
                Some((
                    certificates,
                    files.client_ca(),
                    tokio_rustls::TlsAcceptor::from(config),
                ))
            }
            None => None,
        };
        let std_listener = std::net::TcpListener::bind(address)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| HttpServerError::Bind {
                link: link.to_string(),
                address,
                source,
            })?;
        let tcp = TcpListener::from_std(std_listener).map_err(|source| HttpServerError::Bind {
            link: link.to_string(),
            address,
            source,
        })?;
        let local = tcp.local_addr().unwrap_or(address);
        let mut table = RouteTable::default();
        table.insert(
            &local.to_string(),
            Route {
                prefix: prefix.clone(),
                link: link.clone(),
            },
        )?;
        let routes = Arc::new(RwLock::new(table));
        let stop = CancellationToken::new();
        let accepting = AcceptLoop {
            routes: routes.clone(),
            calls: self.calls.clone(),
            stop: stop.clone(),
            tracker: self.tracker.clone(),
            draining: self.draining.clone(),
            header_timeout: self.header_timeout,
            body_idle: self.body_idle,
            idle: self.idle,
            slots: Arc::clone(&self.slots),
            refused: Arc::clone(&self.refused),
            tls: tls.as_ref().map(|(_, _, acceptor)| acceptor.clone()),
        };
        self.tracker.spawn(
            accepting
                .run(tcp)
                .instrument(tracing::info_span!("http_listener", address = %local)),
        );
        if let Some((certificates, _, _)) = &tls {
            // Certificate files are read again when they change.
            let (certificates, stop) = (certificates.clone(), stop.clone());
            self.tracker.spawn(async move {
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(crate::tls::RELOAD_EVERY) => certificates.reload_changed(),
                    }
                }
            });
        }
        tracing::info!(address = %local, link = %link, "http server listening");
        // A port-0 listener is keyed by its real address so later links can share it.
        listeners.insert(
            local,
            Listener {
                local,
                routes,
                stop,
                tls: tls.map(|(certificates, client_ca, _)| (certificates, client_ca)),
            },
        );
        Ok(Endpoint {
            link,
            address: local,
            prefix,
        })
    }

    /// Stops serving `link`; closes its address when no other link uses it.
    /// Returns whether the link was served.
    pub fn stop_serving(&self, link: &Link) -> bool {
        let mut listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut emptied = None;
        let mut removed = false;
        for (address, listener) in listeners.iter() {
            let mut routes = listener
                .routes
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if routes.remove(link) {
                removed = true;
                // Its certificate goes with it.
                if let Some((certificates, _)) = &listener.tls {
                    certificates.remove(&owner_of(link));
                }
                if routes.is_empty() {
                    listener.stop.cancel();
                    emptied = Some(*address);
                }
                break;
            }
        }
        if let Some(address) = emptied {
            listeners.remove(&address);
            tracing::info!(%address, "http server closed address: no links left");
        }
        removed
    }

    /// A link served again under its key but at another address (or at a
    /// new free port) stops being served where it was, so the old address
    /// closes when nothing else uses it; at the same address the route is
    /// replaced in place.
    fn leave_old_address(&self, link: &Link) {
        let Ok(address) = parse_address(link) else {
            return;
        };
        // One look per listening address, not a scan of every route.
        let key = link.key();
        let old = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .find_map(|l| {
                let routes = l.routes.read().unwrap_or_else(PoisonError::into_inner);
                routes.route_of(&key).map(|r| (r.link.clone(), l.local))
            });
        if let Some((old_link, old_address)) = old {
            if address.port() == 0 || old_address != address {
                tracing::info!(link = %link, from = %old_address, "http link moves to another address");
                self.stop_serving(&old_link);
            }
        }
    }

    /// Every link served, with its bound address.
    pub fn listening(&self) -> Vec<Endpoint> {
        let listeners = self
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut endpoints: Vec<Endpoint> = listeners
            .values()
            .flat_map(|l| {
                let routes = l.routes.read().unwrap_or_else(PoisonError::into_inner);
                routes
                    .routes()
                    .map(|r| Endpoint {
                        link: r.link.clone(),
                        address: l.local,
                        prefix: r.prefix.clone(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        endpoints.sort_by_key(|e| e.url());
        endpoints
    }

    /// Stops accepting connections, lets in-flight requests finish for up to
    /// `grace`, then drops what is left.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the listeners closed and the remaining
    /// connections running until they end by themselves.
    pub async fn drain(&self, grace: Duration) {
        {
            let listeners = self
                .listeners
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for listener in listeners.values() {
                listener.stop.cancel();
            }
        }
        self.tracker.close();
        self.draining.cancel();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?grace,
                "http server: connections still open after the grace period; closing them"
            );
        }
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl Capability for HttpServerProvider {
    fn put_link(&self, link: &Link) -> Result<(), String> {
        // Only links from this provider over the incoming handler are served.
        if link.source != self.id || !link.carries(standard::HTTP_INCOMING_HANDLER) {
            return Ok(());
        }
        self.leave_old_address(link);
        let endpoint = self.serve_link(link.clone()).map_err(|e| e.to_string())?;
        tracing::info!(url = %endpoint.url(), target = %link.target, "serving");
        Ok(())
    }

    fn delete_link(&self, link: &Link) {
        self.stop_serving(link);
    }

    fn shutdown(&self, grace: Duration) -> CapabilityFuture<'_, ()> {
        Box::pin(self.drain(grace))
    }

    fn endpoints(&self) -> Vec<Endpoint> {
        self.listening()
    }
}

fn parse_address(link: &Link) -> Result<SocketAddr, HttpServerError> {
    let address = link
        .config("address")
        .ok_or_else(|| HttpServerError::MissingAddress {
            link: link.to_string(),
        })?;
    address
        .parse()
        .map_err(|e: std::net::AddrParseError| HttpServerError::BadAddress {
            link: link.to_string(),
            address: address.to_string(),
            reason: e.to_string(),
        })
}

/// Whose certificate one is: the link's key, as text.
fn owner_of(link: &Link) -> String {
    format!(
        "{}/{}:{}/{}",
        link.source, link.namespace, link.package, link.name
    )
}

/// What one listener's accept loop works with.
struct AcceptLoop {
    routes: Arc<RwLock<RouteTable>>,
    calls: Arc<dyn ProviderCalls>,
    stop: CancellationToken,
    tracker: TaskTracker,
    draining: CancellationToken,
    header_timeout: Duration,
    /// How long a client may pause while it sends a request's body.
    body_idle: Duration,
    /// How long a connection may stay open with no request in flight.
    idle: Duration,
    /// Open connections allowed across the provider's addresses.
    slots: Arc<Slots>,
    /// Connections closed for want of a slot.
    refused: Arc<std::sync::atomic::AtomicU64>,
    /// The TLS handshake, when the address speaks TLS.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

/// A connection's byte stream: TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Io for T {}

impl AcceptLoop {
    /// Accepts on `tcp` until stopped; a connection past the provider's
    /// limit is closed at once.
    async fn run(self, tcp: TcpListener) {
        let Self {
            routes,
            calls,
            stop,
            tracker,
            draining,
            header_timeout,
            body_idle,
            idle,
            slots,
            refused,
            tls,
        } = self;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(header_timeout);
        // An HTTP/2 peer is pinged as often as an HTTP/1 client may take
        // to send its headers, and dropped when a ping goes unanswered as
        // long: a peer that went silent holds no connection.
        builder
            .http2()
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive_interval(Some(header_timeout))
            .keep_alive_timeout(header_timeout);
        loop {
            let (stream, peer) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = tcp.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(%error, "http server: accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
            };
            if draining.is_cancelled() {
                break;
            }
            let slot = match slots.take(peer.ip()) {
                Ok(slot) => slot,
                Err(full) => {
                    // Full: closed at once rather than queued, so a flood
                    // costs one accept each and nothing held.
                    if refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000 == 0 {
                        let whose = match full {
                            NoSlot::Provider => "the provider's",
                            NoSlot::Peer => "this peer's",
                        };
                        tracing::warn!(%peer, "http server: {whose} connection limit reached; closing new connections");
                    }
                    drop(stream);
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let routes = routes.clone();
            let calls = calls.clone();
            let builder = builder.clone();
            let tls = tls.clone();
            let draining = draining.clone();
            tracker.spawn(async move {
                // The handshake runs here, not in the accept loop, within
                // the time a client has for its headers.
                let (io, subject): (Box<dyn Io>, Option<String>) = match &tls {
                    None => (Box::new(stream), None),
                    Some(acceptor) => {
                        match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => {
                                let subject = stream
                                    .get_ref()
                                    .1
                                    .peer_certificates()
                                    .and_then(|chain| chain.first())
                                    .and_then(crate::tls::subject_of);
                                (Box::new(stream), subject)
                            }
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "TLS handshake failed");
                                drop(slot);
                                return;
                            }
                            Err(_) => {
                                drop(slot);
                                return;
                            }
                        }
                    }
                };
                // Escaped to ASCII, a subject is always a header value.
                let subject = subject.and_then(|s| match http::HeaderValue::from_str(&s) {
                    Ok(value) => Some(value),
                    Err(_) => {
                        tracing::warn!(%peer, "a client certificate's subject is not a header value; its requests go without it");
                        None
                    }
                });
                let activity = Activity::new();
                let serving = Arc::clone(&activity);
                let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
                    // Only the server says who the client is.
                    request.headers_mut().remove(CLIENT_SUBJECT);
                    if let Some(subject) = &subject {
                        request.headers_mut().insert(CLIENT_SUBJECT, subject.clone());
                    }
                    let busy = serving.begin();
                    let answer = serve(routes.clone(), calls.clone(), request, body_idle);
                    async move {
                        let answer = answer.await;
                        drop(busy);
                        answer
                    }
                });
                let connection = builder.serve_connection(TokioIo::new(io), service);
                let mut connection = std::pin::pin!(connection);
                // Served until it ends by itself, the provider drains, or
                // it sits idle too long; then it finishes what is in flight
                // and closes.
                let closing = loop {
                    let idle_at = activity.idle_at(idle);
                    tokio::select! {
                        ended = connection.as_mut() => break Some(ended),
                        () = draining.cancelled() => break None,
                        () = tokio::time::sleep_until(idle_at.unwrap_or_else(|| tokio::time::Instant::now() + idle)) => {
                            if activity.idle_at(idle).is_some_and(|at| at <= tokio::time::Instant::now()) {
                                tracing::debug!(%peer, ?idle, "http connection idle; closing it");
                                break None;
                            }
                        }
                    }
                };
                let ended = match closing {
                    Some(ended) => ended,
                    None => {
                        connection.as_mut().graceful_shutdown();
                        connection.await
                    }
                };
                if let Err(error) = ended {
                    tracing::debug!(%peer, %error, "http connection ended with an error");
                }
                drop(slot);
            });
        }
        tracing::debug!("http server: stopped accepting");
    }
}

async fn serve(
    routes: Arc<RwLock<RouteTable>>,
    calls: Arc<dyn ProviderCalls>,
    request: Request<Incoming>,
    body_idle: Duration,
) -> Result<Response<HttpBody>, Infallible> {
    let link = routes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .find(request.uri().path())
        .cloned();
    let Some(link) = link else {
        let message = format!("no link serves path {}", request.uri().path());
        return Ok(error_response(&InvocationError::new(
            ErrorKind::NotFound,
            message,
        )));
    };
    // What the request line of `lattice-ctl dev` needs, only when asked.
    let logged = tracing::enabled!(target: "lattice::request", tracing::Level::DEBUG).then(|| {
        (
            request.method().clone(),
            request.uri().path().to_string(),
            std::time::Instant::now(),
        )
    });
    let span = lattice_provider_sdk::trace_span!(
        "http.request",
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = %request.uri().path(),
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty
    );
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok());
    telemetry::continue_trace(&span, traceparent);
    let request = request.map(|body| IdleBody::new(body, body_idle).boxed_unsync());
    // The call is made inside the span: the host routes it on the spot.
    let response = match async { calls.handle_http(&link, request).await }
        .instrument(span.clone())
        .await
    {
        Ok(response) => response,
        Err(error) => {
            let _entered = span.enter();
            tracing::warn!(link = %link, kind = %error.kind, %error, "http request failed");
            telemetry::record_error(&span, &error.message);
            error_response(&error)
        }
    };
    span.record("http.response.status_code", response.status().as_u16());
    // One line per request for `lattice-ctl dev` (off unless its target is
    // asked for: `RUST_LOG=lattice::request=debug`).
    if let Some((method, path, started)) = logged {
        tracing::debug!(
            target: "lattice::request",
            "{method} {path} -> {} in {:.1} ms",
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(response)
}

/// A request body that fails when the client sends nothing for `idle`: a
/// client that stalls mid-upload does not hold its connection, nor an
/// actor's instance, until the call's deadline.
struct IdleBody {
    inner: Incoming,
    idle: Duration,
    quiet: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl IdleBody {
    fn new(inner: Incoming, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            quiet: Box::pin(tokio::time::sleep(idle)),
        }
    }
}

impl hyper::body::Body for IdleBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        use std::future::Future as _;
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let deadline = tokio::time::Instant::now() + self.idle;
                self.quiet.as_mut().reset(deadline);
                Poll::Ready(frame.map(|f| f.map_err(|e| Box::new(e) as BoxError)))
            }
            Poll::Pending => match self.quiet.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(format!(
                    "the client sent nothing of the request body for {:?}",
                    self.idle
                )
                .into()))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The response a client gets when an invocation fails: the status says the
/// kind, the body the one-line reason.
pub(crate) fn error_response(error: &InvocationError) -> Response<HttpBody> {
    let status = match error.kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthorized => StatusCode::FORBIDDEN,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        ErrorKind::NoResponders => StatusCode::BAD_GATEWAY,
        ErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Failed => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Conflict => StatusCode::CONFLICT,
    };
    let body = Full::new(Bytes::from(format!("{}\n", error.message)))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if error.kind == ErrorKind::Busy {
        // Every instance busy, or too many calls held for an activation.
        response.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("1"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_refusal_is_503_with_retry_after_and_others_say_their_kind() {
        let busy = error_response(&InvocationError::new(
            ErrorKind::Busy,
            "\"hello\" is being activated and 1000 calls already wait for it; try again shortly",
        ));
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers()
                .get(http::header::RETRY_AFTER)
                .map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let missing = error_response(&InvocationError::new(ErrorKind::NoResponders, "no host"));
        assert_eq!(missing.status(), StatusCode::BAD_GATEWAY);
        assert!(missing.headers().get(http::header::RETRY_AFTER).is_none());
    }
}

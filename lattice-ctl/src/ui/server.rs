//! The dashboard's HTTP server: an [`axum`] router on HTTP/1.1.
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page, with this run's token and whether actions are allowed |
//! | `GET /app.js`, `GET /style.css` | its script and style, embedded in the binary |
//! | `GET /api/snapshot` | `{"hosts", "links", "apps", "meta"}` as [`Parts`] holds them |
//! | `GET /api/events` | server-sent events: `hosts`, `links`, `apps`, `meta` (each part when it changes, all of them first), `lattice` (each event, the backlog first), `lagged` (events this page missed) |
//! | `GET /api/logs/<actor>` | server-sent events: `log`, each line of the actor its hosts keep (oldest first), then each new one ([`crate::lattice::ActorLines`]); a malformed id gets 400 |
//! | `POST /api/actions/<action>` | with `--allow-actions` only: the action ([`super::actions`]); else 403 |
//!
//! Every request must name the dashboard's own address in `Host` when it
//! listens on loopback (a page of another site that rebinds its name to
//! 127.0.0.1 gets 403). A `POST` must carry the page's token in
//! `X-Lattice-Token` (another site cannot read it, and cannot send a custom
//! header across origins without asking first) and, when the browser sends
//! one, the dashboard's own `Origin`. Bodies above [`MAX_BODY`] are refused.
//! API errors, the router's own included (no such path, method not
//! allowed), are `{"error": "one line"}`. Every answer carries the page's
//! content security policy.
//!
//! The router is served by our own accept loop rather than `axum::serve`,
//! for what that lacks: at most [`MAX_CONNECTIONS`] connections at once, a
//! deadline on reading a request's head (and on the TLS handshake), and
//! HTTPS when given a certificate (read again when its files change).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use futures::StreamExt as _;
use http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::BodyExt as _;
use subtle::ConstantTimeEq as _;
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use super::actions::Actions;
use super::feed::{Feed, FeedEvent};
use super::snapshot::Parts;

/// The largest action body accepted (an app's manifest).
pub const MAX_BODY: usize = 1024 * 1024;
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// How long a connection may take to send a request's head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How often an idle event stream says it is alive.
const KEEPALIVE: Duration = Duration::from_secs(15);
/// How soon a page reconnects its event stream once it drops.
const RECONNECT: Duration = Duration::from_secs(2);

const INDEX_HTML: &str = include_str!("assets/index.html");
const APP_JS: &str = include_str!("assets/app.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the page is told about this run.
#[derive(Debug, Clone)]
pub struct Page {
    /// The lattice id.
    pub lattice: String,
    /// The NATS server, credentials hidden.
    pub nats: String,
    /// This run's token, required on every action.
    pub token: String,
    /// Whether actions are allowed.
    pub allow_actions: bool,
}

/// Everything the server serves.
pub struct Dashboard {
    /// The page's settings.
    pub page: Page,
    /// The lattice's view.
    pub parts: Parts,
    /// The lattice's events.
    pub feed: Feed,
    /// The actions, when allowed.
    pub actions: Option<Actions>,
    /// The lattice, for the actors' log lines.
    pub client: crate::client::LatticeClient,
}

struct Shared {
    dashboard: Dashboard,
    index: String,
    /// `http` or `https`: what the page's own origin starts with.
    scheme: &'static str,
    /// `Host` values accepted; `None`: any (listening beyond loopback).
    hosts: Option<Vec<String>>,
}

/// A fresh random token, 32 bytes in hex.
///
/// # Errors
///
/// When the system has no randomness to give.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot make the dashboard's token: {e}"))?;
    Ok(data_encoding::HEXLOWER.encode(&bytes))
}

/// `text` safe inside HTML text and attribute values.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn index(page: &Page) -> String {
    INDEX_HTML
        .replace("{{lattice}}", &escape_html(&page.lattice))
        .replace("{{nats}}", &escape_html(&page.nats))
        .replace("{{token}}", &escape_html(&page.token))
        .replace("{{actions}}", if page.allow_actions { "on" } else { "off" })
}

/// Serves `dashboard` on `listen` until `stop`, over HTTPS when given
/// `tls`; the address bound.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(
    listen: SocketAddr,
    dashboard: Dashboard,
    stop: CancellationToken,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let hosts = bound.ip().is_loopback().then(|| {
        let port = bound.port();
        vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            bound.to_string(),
        ]
    });
    let router = router(Arc::new(Shared {
        index: index(&dashboard.page),
        dashboard,
        hosts,
        scheme: if tls.is_some() { "https" } else { "http" },
    }));
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let (stream, _) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, say: let some close first.
                        tracing::warn!(%error, "dashboard: cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            let (stop, tls) = (stop.clone(), tls.clone());
            tokio::spawn(async move {
                let stream: Box<dyn Connection> = match tls {
                    None => Box::new(stream),
                    Some(acceptor) => {
                        let handshake = acceptor.accept(stream);
                        match tokio::time::timeout(HEADER_READ_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => Box::new(stream),
                            _ => return,
                        }
                    }
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(io, service);
                tokio::pin!(connection);
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(error) = result {
                            tracing::debug!(%error, "dashboard connection ended with an error");
                        }
                    }
                    () = stop.cancelled() => {}
                }
                drop(permit);
            });
        }
    });
    Ok(bound)
}

/// A client's connection, plain or TLS.
trait Connection: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Connection for T {}

/// The routes, behind the `Host` check and the security headers.
fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(page))
        .route(
            "/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }),
        )
        .route("/api/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .route("/api/logs/{actor}", get(logs))
        .route("/api/actions/{action}", post(act))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            only_own_address,
        ))
        .layer(middleware::map_response(security_headers))
        .with_state(shared)
}

/// An API error: `{"error": message}` with its status.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response()
    }
}

/// At most 64 characters of what a client sent, for an error message.
fn shown(text: &str) -> String {
    text.chars().take(64).collect()
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Refuses a request that names another address than the dashboard's
/// (a DNS-rebinding page), when it listens on loopback.
async fn only_own_address(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(accepted) = &shared.hosts {
        let host = header_text(request.headers(), header::HOST).unwrap_or_default();
        if !accepted.iter().any(|a| a.eq_ignore_ascii_case(host)) {
            let home = accepted.first().map(String::as_str).unwrap_or_default();
            return ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "request for host {:?} refused: open the dashboard at {}://{home}/",
                    shown(host),
                    shared.scheme
                ),
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn asset(content_type: &'static str, text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], text).into_response()
}

async fn page(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        shared.index.clone(),
    )
        .into_response()
}

async fn snapshot(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        shared.dashboard.parts.snapshot(),
    )
        .into_response()
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no {} here: the dashboard is at /", shown(uri.path())),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {}", shown(uri.path())),
    )
}

async fn act(
    State(shared): State<Arc<Shared>>,
    action: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(actions) = &shared.dashboard.actions else {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "actions are disabled: this dashboard is read-only (start it with lattice-ctl ui --allow-actions)".into(),
        ));
    };
    let token = header_text(&headers, header::HeaderName::from_static("x-lattice-token"));
    let expected = shared.dashboard.page.token.as_bytes();
    if !token.is_some_and(|t| bool::from(t.as_bytes().ct_eq(expected))) {
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "missing or wrong X-Lattice-Token: reload the dashboard's page and try again".into(),
        ));
    }
    if let Some(origin) = header_text(&headers, header::ORIGIN) {
        let host = header_text(&headers, header::HOST).unwrap_or_default();
        if origin != format!("{}://{host}", shared.scheme) {
            return Err(ApiError(
                StatusCode::FORBIDDEN,
                format!(
                    "request from origin {:?} refused: only the dashboard's own page may act",
                    shown(origin)
                ),
            ));
        }
    }
    let Path(action) = action.map_err(|e| ApiError(StatusCode::BAD_REQUEST, e.body_text()))?;
    let body = read_body(body).await?;
    match actions.perform(&action, &body).await {
        Ok(message) => Ok(Json(serde_json::json!({ "message": message }))),
        Err(refusal) => Err(ApiError(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_GATEWAY),
            refusal.message,
        )),
    }
}

/// How much of a body beyond [`MAX_BODY`] is read (and dropped) so its
/// sender gets the 413 rather than a connection reset while it writes: a
/// server that closes with unread bytes makes the kernel reset the
/// connection, and the client may lose the answer (why this is not axum's
/// `DefaultBodyLimit`, which stops reading at the limit).
const DRAINED: usize = 8 * MAX_BODY;

/// The whole body, at most [`MAX_BODY`] bytes.
async fn read_body(mut body: Body) -> Result<Bytes, ApiError> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            ApiError(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
        })?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total <= MAX_BODY {
            kept.extend_from_slice(&data);
        } else if total > DRAINED {
            break;
        }
    }
    if total > MAX_BODY {
        return Err(ApiError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY} bytes"),
        ));
    }
    Ok(Bytes::from(kept))
}

async fn events(State(shared): State<Arc<Shared>>) -> Response {
    match shared.dashboard.feed.follow().await {
        Some((backlog, events)) => Sse::new(event_stream(
            shared.dashboard.parts.clone(),
            backlog,
            events,
        ))
        .keep_alive(KeepAlive::new().interval(KEEPALIVE))
        .into_response(),
        None => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            "the dashboard is stopping".into(),
        )
        .into_response(),
    }
}

/// The log lines of an actor: those its hosts keep, then each new one.
async fn logs(
    State(shared): State<Arc<Shared>>,
    actor: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(actor)) = actor else {
        return ApiError(StatusCode::BAD_REQUEST, "no actor id".into()).into_response();
    };
    let actor = match lattice_interfaces::ComponentId::new(&actor) {
        Ok(actor) => actor,
        Err(e) => {
            return ApiError(
                StatusCode::BAD_REQUEST,
                format!("actor {}: {e}", shown(&actor)),
            )
            .into_response()
        }
    };
    let lines = match crate::lattice::ActorLines::open(&shared.dashboard.client, &actor, None, true)
        .await
    {
        Ok(lines) => lines,
        Err(e) => {
            return ApiError(
                StatusCode::BAD_GATEWAY,
                format!("cannot follow the lines of actor {actor}: {e}"),
            )
            .into_response()
        }
    };
    let stream = futures::stream::unfold(lines, |mut lines| async move {
        let line = lines.next().await?;
        let event = serde_json::to_string(&line)
            .map(|json| sse("log", &json))
            .unwrap_or_else(|_| Event::default().comment("a line that is not JSON"));
        Some((Ok::<_, Infallible>(event), lines))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEPALIVE))
        .into_response()
}

/// What an event stream has yet to send.
struct Stream {
    parts: Parts,
    /// Whether the parts have been sent once (the first batch sends all).
    started: bool,
    backlog: Vec<Arc<FeedEvent>>,
    events: broadcast::Receiver<Arc<FeedEvent>>,
    /// The last event sent: the backlog and the receiver may overlap.
    last_seq: u64,
}

fn sse(kind: &str, data: &str) -> Event {
    Event::default().event(kind).data(data)
}

impl Stream {
    fn event(&mut self, event: &FeedEvent, into: &mut Vec<Event>) {
        if event.seq > self.last_seq {
            self.last_seq = event.seq;
            into.push(sse("lattice", &event.json));
        }
    }

    /// The next events to send; `None` once the dashboard stops.
    async fn next_batch(&mut self) -> Option<Vec<Event>> {
        let mut batch = Vec::new();
        if !self.started {
            self.started = true;
            batch.push(Event::default().retry(RECONNECT));
            let parts = [
                ("hosts", &mut self.parts.hosts),
                ("links", &mut self.parts.links),
                ("apps", &mut self.parts.apps),
                ("meta", &mut self.parts.meta),
            ];
            for (kind, part) in parts {
                let text = part.borrow_and_update().clone();
                batch.push(sse(kind, &text));
            }
            for event in std::mem::take(&mut self.backlog) {
                self.event(&event, &mut batch);
            }
            return Some(batch);
        }
        loop {
            tokio::select! {
                received = self.events.recv() => match received {
                    Ok(event) => {
                        self.event(&event, &mut batch);
                        // What else is there already goes in the same batch.
                        while let Ok(event) = self.events.try_recv() {
                            self.event(&event, &mut batch);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        batch.push(sse("lagged", &format!(r#"{{"missed":{missed}}}"#)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.parts.hosts.changed() => {
                    changed.ok()?;
                    let text = self.parts.hosts.borrow_and_update().clone();
                    batch.push(sse("hosts", &text));
                }
                changed = self.parts.links.changed() => {
                    changed.ok()?;
                    let text = self.parts.links.borrow_and_update().clone();
                    batch.push(sse("links", &text));
                }
                changed = self.parts.apps.changed() => {
                    changed.ok()?;
                    let text = self.parts.apps.borrow_and_update().clone();
                    batch.push(sse("apps", &text));
                }
                changed = self.parts.meta.changed() => {
                    changed.ok()?;
                    let text = self.parts.meta.borrow_and_update().clone();
                    batch.push(sse("meta", &text));
                }
            }
            if !batch.is_empty() {
                return Some(batch);
            }
        }
    }
}

fn event_stream(
    parts: Parts,
    backlog: Vec<Arc<FeedEvent>>,
    events: broadcast::Receiver<Arc<FeedEvent>>,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    let stream = Stream {
        parts,
        started: false,
        backlog,
        events,
        last_seq: 0,
    };
    futures::stream::unfold(stream, |mut stream| async move {
        let batch = stream.next_batch().await?;
        Some((batch, stream))
    })
    .flat_map(|batch| futures::stream::iter(batch.into_iter().map(Ok)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_carries_its_settings_escaped() {
        let page = Page {
            lattice: "default".into(),
            nats: "nats://<script>@h:4222".into(),
            token: "abc".into(),
            allow_actions: false,
        };
        let html = index(&page);
        assert!(html.contains(r#"content="abc""#), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("{{"));
    }

    #[test]
    fn the_script_writes_html_only_through_its_escaping_helpers() {
        // `render` and `prepend` take only what the `html` tag built, which
        // escapes every value; no other line may write HTML.
        for sink in [
            "innerHTML",
            "insertAdjacentHTML",
            "outerHTML",
            "document.write",
        ] {
            let uses = APP_JS.matches(sink).count();
            let allowed = usize::from(sink == "innerHTML" || sink == "insertAdjacentHTML");
            assert_eq!(
                uses, allowed,
                "app.js writes HTML through {sink} {uses} times"
            );
        }
        assert!(!APP_JS.contains("esc("), "app.js escapes by hand again");
    }

    #[test]
    fn tokens_are_fresh_and_hex() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

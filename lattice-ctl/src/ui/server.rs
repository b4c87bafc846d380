//! The dashboard's HTTP server (hyper, HTTP/1.1).
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page, with this run's token and whether actions are allowed |
//! | `GET /app.js`, `GET /style.css` | its script and style, embedded in the binary |
//! | `GET /api/snapshot` | `{"hosts", "links", "apps", "meta"}` as [`Parts`] holds them |
//! | `GET /api/events` | server-sent events: `hosts`, `links`, `apps`, `meta` (each part when it changes, all of them first), `lattice` (each event, the backlog first), `lagged` (events this page missed) |
//! | `POST /api/actions/<action>` | with `--allow-actions` only: the action ([`super::actions`]); else 403 |
//!
//! Every request must name the dashboard's own address in `Host` when it
//! listens on loopback (a page of another site that rebinds its name to
//! 127.0.0.1 gets 403). A `POST` must carry the page's token in
//! `X-Lattice-Token` (another site cannot read it, and cannot send a custom
//! header across origins without asking first) and, when the browser sends
//! one, the dashboard's own `Origin`. Bodies above [`MAX_BODY`] are refused.
//! API errors are `{"error": "one line"}`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::sync::{broadcast, Semaphore};
use tokio_util::sync::CancellationToken;

use super::actions::Actions;
use super::feed::{Feed, FeedEvent};
use super::snapshot::Parts;

/// The largest action body accepted (an app's manifest).
pub const MAX_BODY: usize = 1024 * 1024;
/// Connections served at once; more wait to be accepted.
const MAX_CONNECTIONS: usize = 256;
/// How often an idle event stream says it is alive.
const KEEPALIVE: Duration = Duration::from_secs(15);

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
}

struct Shared {
    dashboard: Dashboard,
    index: String,
    /// `Host` values accepted; `None`: any (listening beyond loopback).
    hosts: Option<Vec<String>>,
}

type Body = BoxBody<Bytes, Infallible>;

/// A fresh random token, 32 bytes in hex.
///
/// # Errors
///
/// When the system has no randomness to give.
pub fn new_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| anyhow::anyhow!("cannot make the dashboard's token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
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

/// Serves `dashboard` on `listen` until `stop`; the address bound.
///
/// # Errors
///
/// When the address cannot be bound.
pub async fn serve(
    listen: SocketAddr,
    dashboard: Dashboard,
    stop: CancellationToken,
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
    let shared = Arc::new(Shared {
        index: index(&dashboard.page),
        dashboard,
        hosts,
    });
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
            let shared = shared.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let shared = shared.clone();
                    async move { Ok::<_, Infallible>(answer(&shared, request).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
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

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into()).boxed()
}

fn respond(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

const JSON: &str = "application/json";

fn json(status: StatusCode, text: String) -> Response<Body> {
    respond(status, JSON, full(text))
}

/// `{"error": message}` with `status`.
fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, serde_json::json!({ "error": message }).to_string())
}

fn header_text(request: &Request<Incoming>, name: header::HeaderName) -> Option<&str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Compares without stopping at the first difference.
fn same_secret(given: &str, expected: &str) -> bool {
    given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn answer(shared: &Shared, request: Request<Incoming>) -> Response<Body> {
    let host = header_text(&request, header::HOST).unwrap_or_default();
    if let Some(accepted) = &shared.hosts {
        if !accepted.iter().any(|a| a.eq_ignore_ascii_case(host)) {
            let shown: String = host.chars().take(64).collect();
            let home = accepted.first().map(String::as_str).unwrap_or_default();
            return error(
                StatusCode::FORBIDDEN,
                &format!(
                    "request for host {shown:?} refused: open the dashboard at http://{home}/"
                ),
            );
        }
    }
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    match (&method, path.as_str()) {
        (&Method::GET | &Method::HEAD, "/") => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            full(shared.index.clone()),
        ),
        (&Method::GET | &Method::HEAD, "/app.js") => respond(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            full(APP_JS),
        ),
        (&Method::GET | &Method::HEAD, "/style.css") => {
            respond(StatusCode::OK, "text/css; charset=utf-8", full(STYLE_CSS))
        }
        (&Method::GET, "/api/snapshot") => json(StatusCode::OK, shared.dashboard.parts.snapshot()),
        (&Method::GET, "/api/events") => match shared.dashboard.feed.follow().await {
            Some((backlog, events)) => respond(
                StatusCode::OK,
                "text/event-stream",
                event_stream(shared.dashboard.parts.clone(), backlog, events),
            ),
            None => error(StatusCode::SERVICE_UNAVAILABLE, "the dashboard is stopping"),
        },
        (&Method::POST, _) if path.starts_with("/api/actions/") => {
            let action = path.trim_start_matches("/api/actions/").to_string();
            act(shared, &action, request).await
        }
        (_, "/" | "/app.js" | "/style.css" | "/api/snapshot" | "/api/events") => error(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{method} is not allowed on {path}"),
        ),
        _ => {
            let shown: String = path.chars().take(64).collect();
            error(
                StatusCode::NOT_FOUND,
                &format!("no {shown} here: the dashboard is at /"),
            )
        }
    }
}

async fn act(shared: &Shared, action: &str, request: Request<Incoming>) -> Response<Body> {
    let Some(actions) = &shared.dashboard.actions else {
        return error(
            StatusCode::FORBIDDEN,
            "actions are disabled: this dashboard is read-only (start it with lattice-ctl ui --allow-actions)",
        );
    };
    let token = header_text(&request, header::HeaderName::from_static("x-lattice-token"));
    if !token.is_some_and(|t| same_secret(t, &shared.dashboard.page.token)) {
        return error(
            StatusCode::FORBIDDEN,
            "missing or wrong X-Lattice-Token: reload the dashboard's page and try again",
        );
    }
    if let Some(origin) = header_text(&request, header::ORIGIN) {
        let host = header_text(&request, header::HOST).unwrap_or_default();
        if origin != format!("http://{host}") {
            let shown: String = origin.chars().take(64).collect();
            return error(
                StatusCode::FORBIDDEN,
                &format!(
                    "request from origin {shown:?} refused: only the dashboard's own page may act"
                ),
            );
        }
    }
    let body = match read_body(request.into_body()).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match actions.perform(action, &body).await {
        Ok(message) => json(
            StatusCode::OK,
            serde_json::json!({ "message": message }).to_string(),
        ),
        Err(refusal) => error(
            StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::BAD_GATEWAY),
            &refusal.message,
        ),
    }
}

/// How much of a body beyond [`MAX_BODY`] is read (and dropped) so its
/// sender gets the 413 rather than a connection cut while it writes.
const DRAINED: usize = 8 * MAX_BODY;

/// The whole body, at most [`MAX_BODY`] bytes; else the answer to send.
async fn read_body(mut body: Incoming) -> Result<Bytes, Response<Body>> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read the request body: {e}"),
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
        return Err(error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than {MAX_BODY} bytes"),
        ));
    }
    Ok(Bytes::from(kept))
}

/// What an event stream has yet to send.
struct Stream {
    parts: Parts,
    /// Whether the parts have been sent once (the first chunk sends all).
    started: bool,
    backlog: Vec<Arc<FeedEvent>>,
    events: broadcast::Receiver<Arc<FeedEvent>>,
    /// The last event sent: the backlog and the receiver may overlap.
    last_seq: u64,
    keepalive: tokio::time::Interval,
}

fn sse(kind: &str, data: &str) -> String {
    format!("event: {kind}\ndata: {data}\n\n")
}

impl Stream {
    fn event(&mut self, event: &FeedEvent, into: &mut String) {
        if event.seq > self.last_seq {
            self.last_seq = event.seq;
            into.push_str(&sse("lattice", &event.json));
        }
    }

    /// The next chunk to send; `None` once the dashboard stops.
    async fn next_chunk(&mut self) -> Option<String> {
        let mut chunk = String::new();
        if !self.started {
            self.started = true;
            chunk.push_str("retry: 2000\n\n");
            let parts = [
                ("hosts", &mut self.parts.hosts),
                ("links", &mut self.parts.links),
                ("apps", &mut self.parts.apps),
                ("meta", &mut self.parts.meta),
            ];
            for (kind, part) in parts {
                let text = part.borrow_and_update().clone();
                chunk.push_str(&sse(kind, &text));
            }
            for event in std::mem::take(&mut self.backlog) {
                self.event(&event, &mut chunk);
            }
            return Some(chunk);
        }
        loop {
            tokio::select! {
                received = self.events.recv() => match received {
                    Ok(event) => {
                        self.event(&event, &mut chunk);
                        // What else is there already goes in the same chunk.
                        while let Ok(event) = self.events.try_recv() {
                            self.event(&event, &mut chunk);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        chunk.push_str(&sse("lagged", &format!(r#"{{"missed":{missed}}}"#)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                changed = self.parts.hosts.changed() => {
                    changed.ok()?;
                    let text = self.parts.hosts.borrow_and_update().clone();
                    chunk.push_str(&sse("hosts", &text));
                }
                changed = self.parts.links.changed() => {
                    changed.ok()?;
                    let text = self.parts.links.borrow_and_update().clone();
                    chunk.push_str(&sse("links", &text));
                }
                changed = self.parts.apps.changed() => {
                    changed.ok()?;
                    let text = self.parts.apps.borrow_and_update().clone();
                    chunk.push_str(&sse("apps", &text));
                }
                changed = self.parts.meta.changed() => {
                    changed.ok()?;
                    let text = self.parts.meta.borrow_and_update().clone();
                    chunk.push_str(&sse("meta", &text));
                }
                _ = self.keepalive.tick() => chunk.push_str(": keepalive\n\n"),
            }
            if !chunk.is_empty() {
                return Some(chunk);
            }
        }
    }
}

fn event_stream(
    parts: Parts,
    backlog: Vec<Arc<FeedEvent>>,
    events: broadcast::Receiver<Arc<FeedEvent>>,
) -> Body {
    let mut keepalive = tokio::time::interval(KEEPALIVE);
    keepalive.reset();
    let stream = Stream {
        parts,
        started: false,
        backlog,
        events,
        last_seq: 0,
        keepalive,
    };
    let chunks = futures::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<_, Infallible>(Frame::data(Bytes::from(chunk))), stream))
    });
    BodyExt::boxed(StreamBody::new(chunks))
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
    fn tokens_are_fresh_and_compared_whole() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert!(same_secret(&a, &a.clone()));
        assert!(!same_secret(&a, &b));
        assert!(!same_secret(&a, a.get(..63).unwrap()));
    }
}

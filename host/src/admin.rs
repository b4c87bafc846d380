//! The host's endpoints for its operators, on their own address
//! (`--admin-address`), apart from the actors' traffic:
//!
//! - `GET /livez`: 200 while the process answers at all;
//! - `GET /readyz`: 200 when the host can take work (started, connected to
//!   its lattice, following its links, not draining), else 503 with the
//!   reason in one line;
//! - `GET /metrics`: Prometheus text, read from the host at scrape time
//!   (actors: their calls, failures and call latency histograms; routing
//!   per target; providers).
//!
//! A Kubernetes DaemonSet points its liveness and readiness probes at the
//! first two and its scrape config at the third.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric as _};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use prometheus_client::registry::Unit;
use tokio_util::sync::CancellationToken;

use crate::Host;

/// Whether the host can take work now: `Err` says why not.
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// Why the admin endpoints could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve the admin endpoints on {address}: {reason}")]
pub struct AdminError {
    /// The address asked for.
    pub address: SocketAddr,
    /// Why.
    pub reason: String,
}

/// The host's metrics, read when scraped.
#[derive(Debug)]
struct HostMetrics(HostView);

/// A `Debug` handle on the host for the collector.
struct HostView(Host);

impl std::fmt::Debug for HostView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Host").field(&self.0.id()).finish()
    }
}

impl Collector for HostMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let host = &self.0 .0;
        let actors = host.actors();
        let family = |encoder: &mut DescriptorEncoder,
                      name: &str,
                      help: &str,
                      kind: MetricType,
                      rows: Vec<(Vec<(&str, String)>, u64)>|
         -> Result<(), std::fmt::Error> {
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for (labels, value) in rows {
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let row = metric.encode_family(&labels)?;
                match kind {
                    MetricType::Counter => ConstCounter::new(value).encode(row)?,
                    _ => ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX)).encode(row)?,
                }
            }
            Ok(())
        };
        let per_actor = |value: &dyn Fn(&crate::runtime::Actor) -> u64| {
            actors
                .iter()
                .map(|a| (vec![("actor", a.id().to_string())], value(a)))
                .collect::<Vec<_>>()
        };
        family(
            &mut encoder,
            "lattice_actor_calls",
            "Calls an actor served (each got an instance).",
            MetricType::Counter,
            per_actor(&|a| a.stats().calls),
        )?;
        family(
            &mut encoder,
            "lattice_actor_call_failures",
            "Calls that failed in the actor: trap, timeout or limit breach.",
            MetricType::Counter,
            per_actor(&|a| a.stats().failed),
        )?;
        let mut latency = encoder.encode_descriptor(
            "lattice_actor_call_duration",
            "How long an actor's calls took to answer (to the response's head for HTTP).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for actor in &actors {
            let id = actor.id().to_string();
            actor
                .latency()
                .encode(latency.encode_family(&[("actor", id.as_str())])?)?;
        }
        family(
            &mut encoder,
            "lattice_actor_busy",
            "Calls refused because every instance stayed busy.",
            MetricType::Counter,
            per_actor(&|a| a.stats().busy),
        )?;
        family(
            &mut encoder,
            "lattice_actor_instances_in_use",
            "Instances of an actor running a call now.",
            MetricType::Gauge,
            per_actor(&|a| a.instances_in_use() as u64),
        )?;
        family(
            &mut encoder,
            "lattice_actor_warm_instances",
            "Instances of an actor kept for their next call (instance_reuse).",
            MetricType::Gauge,
            per_actor(&|a| a.warm_instances() as u64),
        )?;
        family(
            &mut encoder,
            "lattice_actor_max_instances",
            "Most instances of an actor at once.",
            MetricType::Gauge,
            per_actor(&|a| u64::from(a.limits().max_instances)),
        )?;
        let mut routed = Vec::new();
        for (target, counts) in host.routing().all() {
            routed.push((
                vec![("target", target.to_string()), ("route", "local".into())],
                counts.local,
            ));
            routed.push((
                vec![("target", target.to_string()), ("route", "remote".into())],
                counts.remote,
            ));
        }
        family(
            &mut encoder,
            "lattice_routed_calls",
            "Calls this host routed, by target: in-process (local) or over NATS (remote).",
            MetricType::Counter,
            routed,
        )?;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            family(
                &mut encoder,
                "lattice_runtime_alive_tasks",
                "Tasks alive in the host's async runtime (flat under a steady load).",
                MetricType::Gauge,
                vec![(Vec::new(), runtime.metrics().num_alive_tasks() as u64)],
            )?;
        }
        let budget = host.payload_budget();
        family(
            &mut encoder,
            "lattice_payload_budget_bytes",
            "Memory calls crossing the lattice may hold at once (--payload-budget-mib).",
            MetricType::Gauge,
            vec![(Vec::new(), budget.total() as u64)],
        )?;
        family(
            &mut encoder,
            "lattice_payload_budget_held_bytes",
            "Of it, what calls hold now (bodies read for another host, arguments as values).",
            MetricType::Gauge,
            vec![(Vec::new(), budget.held() as u64)],
        )?;
        family(
            &mut encoder,
            "lattice_provider_running",
            "Providers on this host, by id and what each runs (a built-in name, or a provider process's binary).",
            MetricType::Gauge,
            host.providers()
                .into_iter()
                .map(|(id, reference)| {
                    (vec![("provider", id.to_string()), ("reference", reference)], 1)
                })
                .collect(),
        )?;
        Ok(())
    }
}

/// The Prometheus text of `registry`.
fn render(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(text)
}

fn reply(status: u16, content_type: &str, body: String) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}

fn answer(
    request: &http::Request<hyper::body::Incoming>,
    registry: &Registry,
    ready: &Readiness,
) -> http::Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if request.method() != http::Method::GET && request.method() != http::Method::HEAD {
        return reply(
            405,
            TEXT,
            format!("{} is not allowed here\n", request.method()),
        );
    }
    match request.uri().path() {
        "/livez" => reply(200, TEXT, "ok\n".into()),
        "/readyz" => match ready() {
            Ok(()) => reply(200, TEXT, "ready\n".into()),
            Err(reason) => reply(503, TEXT, format!("not ready: {reason}\n")),
        },
        "/metrics" => match render(registry) {
            Ok(text) => reply(
                200,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                text,
            ),
            Err(error) => reply(500, TEXT, format!("cannot encode metrics: {error}\n")),
        },
        other => reply(
            404,
            TEXT,
            format!("no {other} here: try /livez, /readyz or /metrics\n"),
        ),
    }
}

/// Most admin connections open at once; past it a new one is closed at
/// once (probes and scrapes open one each and need no more).
pub const MAX_ADMIN_CONNECTIONS: usize = 256;

/// How long a client may take to send a request's head: a half-sent
/// request holds its connection no longer.
pub const ADMIN_HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A connection's byte stream: TCP, or TLS over it.
trait AdminIo: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> AdminIo for T {}

/// Serves the admin endpoints of `host` on `address` until `stop`; returns
/// the address bound (the port is chosen when `address` asks for 0). Each
/// connection serves one request, its head within
/// [`ADMIN_HEADER_TIMEOUT`], at most [`MAX_ADMIN_CONNECTIONS`] at once;
/// over TLS when `tls` names a certificate and key.
///
/// # Errors
///
/// When the address cannot be bound, or the TLS files are wrong.
pub async fn serve(
    address: SocketAddr,
    host: Host,
    ready: Readiness,
    stop: CancellationToken,
    tls: Option<&lattice_provider_http_server::tls::TlsFiles>,
) -> Result<SocketAddr, AdminError> {
    let fail = |reason: String| AdminError { address, reason };
    // HTTPS when given a certificate, read again when its files change.
    let tls = tls
        .map(|files| lattice_provider_http_server::tls::single(files, stop.clone()))
        .transpose()
        .map_err(fail)?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let bound = listener.local_addr().map_err(|e| fail(e.to_string()))?;
    let mut registry = Registry::default();
    registry.register_collector(Box::new(HostMetrics(HostView(host))));
    let registry = Arc::new(registry);
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, say: let some close first.
                        tracing::warn!(%error, "admin endpoint: cannot accept");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = connections.clone().try_acquire_owned() else {
                tracing::debug!(
                    "admin endpoint: {MAX_ADMIN_CONNECTIONS} connections open; one more closed"
                );
                continue;
            };
            let (registry, ready) = (registry.clone(), ready.clone());
            let service = hyper::service::service_fn(move |request| {
                let response = answer(&request, &registry, &ready);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let tls = tls.clone();
            tokio::spawn(async move {
                let _permit = permit;
                let stream: Box<dyn AdminIo> = match tls {
                    None => Box::new(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout(ADMIN_HEADER_TIMEOUT, acceptor.accept(stream))
                            .await
                        {
                            Ok(Ok(stream)) => Box::new(stream),
                            _ => return,
                        }
                    }
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(ADMIN_HEADER_TIMEOUT)
                    .keep_alive(false)
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(%error, "admin connection ended with an error");
                }
            });
        }
    });
    Ok(bound)
}

//! How every Lattice process logs: to stderr, filtered by `RUST_LOG`, as
//! text (in colour only when stderr is a terminal: no escape codes in
//! files, journals or `kubectl logs`) or as one JSON object per line; and,
//! when an OTLP endpoint is set, how it exports its traces
//! ([`crate::telemetry`]).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::Layer as _;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Text,
    /// One JSON object per event, with the fields of the spans it is in
    /// (`trace_id` among them when traces are exported).
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("log format {other:?}: write text or json")),
        }
    }
}

/// What a process logs and where its traces go.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The name traces carry as `service.name` (`lattice-host`, a
    /// provider's binary name).
    pub service: String,
    /// Text or JSON.
    pub format: LogFormat,
    /// The OTLP/HTTP base URL (`http://collector:4318`), as in
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`: traces go to `<URL>/v1/traces`.
    pub otlp_endpoint: Option<String>,
    /// What is logged when `RUST_LOG` is not set; `None`: `info`, NATS
    /// client chatter at `warn`.
    pub default_filter: Option<String>,
}

/// Keeps the trace exporter of [`init`]; dropping it sends the spans still
/// waiting (for at most five seconds).
#[must_use = "dropping the guard stops exporting traces"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take() {
            let _ = provider.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default: `info`, NATS client
/// chatter at `warn`), as `settings` say, and exports traces when they name
/// an endpoint. An endpoint that is not an http(s) URL is logged as a
/// warning and nothing is exported. A second call does nothing.
pub fn init(settings: &Settings) -> Telemetry {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(
            settings
                .default_filter
                .as_deref()
                .unwrap_or("info,async_nats=warn"),
        )
    });
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let stderr = match settings.format {
        LogFormat::Text => stderr
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter)
            .boxed(),
        LogFormat::Json => stderr
            .json()
            .with_current_span(false)
            .with_span_list(true)
            .with_filter(filter)
            .boxed(),
    };
    let (exporter, refusal) = match settings.otlp_endpoint.as_deref() {
        Some(endpoint) => match tracer_provider(&settings.service, endpoint) {
            Ok(provider) => (Some(provider), None),
            Err(reason) => (None, Some(reason)),
        },
        None => (None, None),
    };
    let traces = exporter.as_ref().map(|provider| {
        // Spans carry what they are named for: no source location, thread
        // or busy/idle times (a third of a traced request's cost).
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("lattice"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            // Spans are linked through tracing's own parents and the
            // traceparent we write; OpenTelemetry's thread-local context
            // need not follow every poll.
            .with_context_activation(false)
            .with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target(crate::telemetry::TARGET, tracing::Level::TRACE),
            )
    });
    let installed = tracing_subscriber::registry()
        .with(stderr)
        .with(traces)
        .try_init()
        .is_ok();
    if let Some(reason) = refusal {
        tracing::warn!("{reason}; traces are not exported");
    }
    if let (true, Some(_), Some(endpoint)) = (installed, &exporter, &settings.otlp_endpoint) {
        crate::telemetry::enable(endpoint.clone());
    }
    Telemetry {
        tracer_provider: exporter.filter(|_| installed),
    }
}

/// Logs as text and exports nothing: [`init`] with the defaults.
pub fn init_tracing() {
    let _ = init(&Settings::default());
}

/// A tracer provider that batches spans to `<endpoint>/v1/traces`.
fn tracer_provider(service: &str, endpoint: &str) -> Result<SdkTracerProvider, String> {
    let url = traces_url(endpoint)?;
    // The HTTP client's TLS needs a process-wide crypto provider; another
    // part of the process may have installed it already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .build()
        .map_err(|e| format!("OTLP endpoint {endpoint:?}: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_string())
        .with_attribute(opentelemetry::KeyValue::new(
            "process.pid",
            i64::from(std::process::id()),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// `<endpoint>/v1/traces`, when `endpoint` is an http(s) URL with a host.
fn traces_url(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| format!("OTLP endpoint {endpoint:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => {
            return Err(format!(
                "OTLP endpoint {endpoint:?}: not an http:// or https:// URL"
            ))
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("OTLP endpoint {endpoint:?}: no host"));
    }
    Ok(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_gets_the_traces_path() {
        assert_eq!(
            traces_url("http://collector:4318").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        assert_eq!(
            traces_url("https://collector.example/otlp/").as_deref(),
            Ok("https://collector.example/otlp/v1/traces")
        );
    }

    #[test]
    fn an_endpoint_that_is_no_http_url_is_refused_with_its_name() {
        for garbage in ["", "collector:4318", "ftp://collector", "http://", "::::"] {
            let reason = traces_url(garbage).expect_err(garbage);
            assert!(reason.contains("OTLP endpoint"), "{garbage}: {reason}");
        }
    }

    #[test]
    fn log_formats_are_text_and_json() {
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert!("yaml".parse::<LogFormat>().is_err());
    }
}

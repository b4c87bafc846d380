//! How a call is followed across the lattice: spans named for what they
//! do (`http.request`, `route`, `rpc.call`, `rpc.serve`, `actor.call`,
//! `provider.call`), exported over OTLP/HTTP when an endpoint is set, and
//! the W3C `traceparent` that carries a trace from one process to the next
//! (in an HTTP request's headers, in an invocation's envelope).
//!
//! Tracing is off unless [`crate::logging::init`] was given an endpoint:
//! then [`trace_span!`](crate::trace_span) gives a disabled span and costs
//! one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target of every span exported as part of a trace.
pub const TARGET: &str = "lattice::trace";

static ENABLED: AtomicBool = AtomicBool::new(false);
static ENDPOINT: OnceLock<String> = OnceLock::new();

/// Whether this process exports traces.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The OTLP endpoint traces go to, to hand on to child processes.
pub fn endpoint() -> Option<&'static str> {
    ENDPOINT.get().map(String::as_str)
}

pub(crate) fn enable(endpoint: String) {
    let _ = ENDPOINT.set(endpoint);
    ENABLED.store(true, Ordering::Relaxed);
}

/// A span of the lattice's traces, or a disabled span when tracing is off:
/// `trace_span!("rpc.call", target = %id)`. Spans that begin work arriving
/// from elsewhere declare `trace_id = tracing::field::Empty` and are passed
/// to [`continue_trace`].
#[macro_export]
macro_rules! trace_span {
    ($name:literal $(, $($fields:tt)*)?) => {
        if $crate::telemetry::enabled() {
            $crate::__tracing::info_span!(target: "lattice::trace", $name $(, $($fields)*)?)
        } else {
            $crate::__tracing::Span::none()
        }
    };
}

/// Makes `span` (not yet entered) the child of the remote span that
/// `traceparent` names, or the root of a new trace when there is none or it
/// is malformed; then records the trace id in its `trace_id` field, so
/// that log lines within it carry the id.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if span.is_disabled() {
        return;
    }
    if let Some(traceparent) = traceparent {
        let parent = TraceContextPropagator::new().extract(&Traceparent(Some(traceparent)));
        if parent.span().span_context().is_valid() {
            let _ = span.set_parent(parent);
        }
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

/// The `traceparent` naming `span`, to send along with the call it
/// stands for; `None` when tracing is off.
pub fn traceparent(span: &tracing::Span) -> Option<String> {
    if span.is_disabled() {
        return None;
    }
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = TraceparentOut(None);
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.0
}

/// Marks `span` as failed, with `reason` as its status message.
pub fn record_error(span: &tracing::Span, reason: &str) {
    if !span.is_disabled() {
        span.set_status(opentelemetry::trace::Status::error(reason.to_string()));
    }
}

const TRACEPARENT: &str = "traceparent";

struct Traceparent<'a>(Option<&'a str>);

impl Extractor for Traceparent<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then_some(self.0).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT]
    }
}

struct TraceparentOut(Option<String>);

impl Injector for TraceparentOut {
    fn set(&mut self, key: &str, value: String) {
        if key == TRACEPARENT {
            self.0 = Some(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_traceparent_names_no_parent() {
        for garbage in [
            "",
            "00",
            "zz-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        ] {
            let parent = TraceContextPropagator::new().extract(&Traceparent(Some(garbage)));
            assert!(
                !parent.span().span_context().is_valid(),
                "{garbage:?} was taken as a parent"
            );
        }
    }

    #[test]
    fn a_well_formed_traceparent_names_its_span() {
        let parent = TraceContextPropagator::new().extract(&Traceparent(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )));
        let span = parent.span();
        let context = span.span_context();
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(context.span_id().to_string(), "b7ad6b7169203331");
        assert!(context.is_remote());
    }
}

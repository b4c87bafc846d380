//! Following a request across the lattice.
//!
//! Two `lattice-host` processes export their traces over OTLP/HTTP to a
//! receiver the test runs (`--otlp-endpoint`). The edge serves HTTP; the
//! worker runs the actor; the actor counts in a key-value provider back on
//! the edge. One request, sent with a W3C `traceparent`, yields one trace:
//! the edge's `http.request` under the caller's span, then `route`,
//! `rpc.call`, the worker's `rpc.serve` and `actor.call`, the actor's
//! `rpc.call` back, and the edge's `rpc.serve` and `provider.call`: each a
//! child of the one before, across both processes. With `--log-format json`
//! a host's log lines carry the same trace id.

use std::time::Duration;

use lattice_interfaces::protocol::control::op;
use lattice_tests::fixtures;
use lattice_tests::hosts::{http_link, kv_link};
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::{scale, start_provider, Control, HostProcess};
use lattice_tests::nats::NatsServer;
use lattice_tests::otlp::{OtlpReceiver, ReceivedSpan};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A lattice of two hosts exporting traces to one receiver.
struct Traced {
    ctl: Control,
    otlp: OtlpReceiver,
    edge: HostProcess,
    worker: HostProcess,
    _nats: NatsServer,
}

impl Traced {
    async fn start(worker_args: &[&str]) -> Self {
        let nats = NatsServer::start();
        let otlp = OtlpReceiver::start().await;
        let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
        let binary = fixtures::binary("lattice-host");
        let host = |more: &[&str]| {
            let mut args = vec![
                "--cluster-seed",
                seed.as_str(),
                "--otlp-endpoint",
                otlp.url(),
            ];
            args.extend_from_slice(more);
            // Spans are sent every 100 ms rather than every 5 s.
            HostProcess::start_with_env(
                &[binary.as_str()],
                &nats.url(),
                "default",
                &args,
                &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
            )
        };
        let edge = host(&[]);
        let worker = host(worker_args);
        Self {
            ctl: Control::connect(&nats.url(), "default").await,
            otlp,
            edge,
            worker,
            _nats: nats,
        }
    }

    /// Runs `fixture` as `actor` on the worker, serves it over HTTP from
    /// the edge, and returns the URL once it answers.
    async fn serve(&self, actor: &str, fixture: &str) -> String {
        let reference = fixtures::wasm(fixture).display().to_string();
        self.ctl
            .ok::<op::ScaleActor>(Some(self.worker.id()), scale(actor, &reference, 4))
            .await;
        self.ctl
            .ok::<op::StartProvider>(Some(self.edge.id()), start_provider("http", "http-server"))
            .await;
        let address = format!("127.0.0.1:{}", lattice_tests::free_port());
        self.ctl
            .ok::<op::PutLink>(None, http_link("http", actor, &address))
            .await;
        let url = format!("http://{address}/");
        let client = HttpClient::default();
        lattice_tests::eventually(&format!("{url} to answer"), async || {
            client.get(&url).await.ok().filter(|r| r.status == 200)
        })
        .await;
        url
    }

    /// Waits until trace `trace_id` holds a span named `name` that `pick`
    /// accepts, and returns it.
    fn span(
        &self,
        trace_id: &str,
        name: &str,
        pick: impl Fn(&ReceivedSpan) -> bool,
    ) -> ReceivedSpan {
        lattice_tests::wait_for_opt(Duration::from_secs(20), || {
            self.otlp
                .trace(trace_id)
                .into_iter()
                .find(|span| span.name == name && pick(span))
        })
        .unwrap_or_else(|| {
            panic!(
                "no span {name} as expected in trace {trace_id} after 20 s; received: {:#?}",
                self.otlp.spans()
            )
        })
    }
}

fn traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

fn child_of(parent: &ReceivedSpan) -> impl Fn(&ReceivedSpan) -> bool + '_ {
    move |span| span.parent_span_id == parent.span_id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_across_two_hosts_is_one_trace_from_the_edge_to_the_provider_and_back() {
    let lattice = Traced::start(&[]).await;
    lattice
        .ctl
        .ok::<op::StartProvider>(Some(lattice.edge.id()), start_provider("kv", "keyvalue"))
        .await;
    lattice
        .ctl
        .ok::<op::PutLink>(None, kv_link("counter", "kv"))
        .await;
    let url = lattice.serve("counter", "kv_counter").await;

    let reply = HttpClient::default()
        .get_with_headers(&format!("{url}traced"), &[("traceparent", &traceparent())])
        .await
        .expect("the counter answers");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body.trim(), "1");

    let edge = i64::from(lattice.edge.pid());
    let worker = i64::from(lattice.worker.pid());
    let on = |pid: i64| move |span: &ReceivedSpan| span.pid == Some(pid);

    let request = lattice.span(CALLER_TRACE, "http.request", |span| {
        span.parent_span_id == CALLER_SPAN
    });
    assert_eq!(request.pid, Some(edge), "the edge took the request");
    assert_eq!(request.service, "lattice-host");
    assert_eq!(
        request.attributes.get("url.path").map(String::as_str),
        Some("/traced")
    );
    assert_eq!(
        request
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some("200")
    );
    let route = lattice.span(CALLER_TRACE, "route", child_of(&request));
    assert_eq!(
        route.attributes.get("to").map(String::as_str),
        Some("remote")
    );
    let call = lattice.span(CALLER_TRACE, "rpc.call", child_of(&route));
    assert_eq!(call.pid, Some(edge));
    assert_eq!(
        call.attributes.get("target").map(String::as_str),
        Some("counter")
    );
    let served = lattice.span(CALLER_TRACE, "rpc.serve", child_of(&call));
    assert_eq!(served.pid, Some(worker), "the worker served the call");
    let actor = lattice.span(CALLER_TRACE, "actor.call", child_of(&served));
    assert_eq!(actor.pid, Some(worker));
    assert_eq!(
        actor.attributes.get("actor").map(String::as_str),
        Some("counter")
    );
    // The actor's key-value calls go back to the edge, in the same trace.
    let kv_call = lattice.span(CALLER_TRACE, "rpc.call", |span| {
        child_of(&actor)(span) && span.attributes.get("target").map(String::as_str) == Some("kv")
    });
    assert_eq!(kv_call.pid, Some(worker));
    let kv_served = lattice.span(CALLER_TRACE, "rpc.serve", child_of(&kv_call));
    assert_eq!(kv_served.pid, Some(edge));
    let provider = lattice.span(CALLER_TRACE, "provider.call", child_of(&kv_served));
    assert_eq!(provider.pid, Some(edge));
    assert_eq!(
        provider.attributes.get("provider").map(String::as_str),
        Some("kv")
    );
    assert!(
        lattice
            .otlp
            .trace(CALLER_TRACE)
            .iter()
            .all(|span| !span.failed),
        "no span of a served request is an error: {:#?}",
        lattice.otlp.trace(CALLER_TRACE)
    );

    // A request with no traceparent starts a trace of its own at the edge.
    let reply = HttpClient::default()
        .get(&format!("{url}untraced"))
        .await
        .expect("the counter answers");
    assert_eq!(reply.status, 200);
    let root = lattice_tests::wait_for(
        "the edge's root span of a request without traceparent",
        Duration::from_secs(20),
        || {
            lattice.otlp.spans().into_iter().find(|span| {
                span.name == "http.request"
                    && span.parent_span_id.is_empty()
                    && span.attributes.get("url.path").map(String::as_str) == Some("/untraced")
            })
        },
    );
    assert_ne!(root.trace_id, CALLER_TRACE);
    lattice.span(&root.trace_id, "actor.call", |span| {
        span.pid == Some(worker)
    });
    assert!(on(edge)(&root));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_call_is_an_error_span_and_json_logs_carry_the_trace_id() {
    let lattice = Traced::start(&["--log-format", "json"]).await;
    let url = lattice.serve("logs", "http_logs").await;

    let reply = HttpClient::default()
        .get_with_headers(&format!("{url}json"), &[("traceparent", &traceparent())])
        .await
        .expect("the actor answers");
    assert_eq!(reply.status, 200);
    // The worker's log line from the actor is JSON within the trace.
    let trace_field = format!("\"trace_id\":\"{CALLER_TRACE}\"");
    lattice_tests::wait_for(
        "the worker's JSON log line with the trace id",
        Duration::from_secs(20),
        || {
            lattice
                .worker
                .logged(&["{\"timestamp\"", "a request for /json", &trace_field])
                .then_some(())
        },
    );

    // The actor gone, the edge's call fails: its spans say so.
    lattice
        .ctl
        .ok::<op::ScaleActor>(
            Some(lattice.worker.id()),
            scale(
                "logs",
                &fixtures::wasm("http_logs").display().to_string(),
                0,
            ),
        )
        .await;
    let failed_trace = "0af7651916cd43dd8448eb211c80319c";
    let reply = HttpClient::default()
        .get_with_headers(
            &format!("{url}gone"),
            &[(
                "traceparent",
                &format!("00-{failed_trace}-b7ad6b7169203331-01"),
            )],
        )
        .await
        .expect("the edge answers");
    assert_ne!(reply.status, 200);
    let request = lattice.span(failed_trace, "http.request", |span| span.failed);
    assert_eq!(
        request
            .attributes
            .get("http.response.status_code")
            .map(String::as_str),
        Some(reply.status.to_string().as_str())
    );
    lattice.span(failed_trace, "rpc.call", |span| span.failed);
}

//! A caller never knows where its target runs.
//!
//! A call to an actor on the same host stays in-process (no NATS: it works
//! with the server gone); a call to an actor elsewhere becomes one signed
//! NATS request that any host running the actor may answer, so load spreads
//! and a dead host drops out. Large bodies cross whole; forged, unsigned,
//! tampered, late and replayed invocations are refused. The tests run real
//! `lattice-host` processes and read HTTP answers, the hosts' routing
//! counters in their inventories, and raw replies on `lattice.L.rpc.*`.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use lattice_interfaces::http::wire::{HttpMessage, HttpRequestHead, HttpResponseHead};
use lattice_interfaces::protocol::control::{op, Empty, Inventory};
use lattice_interfaces::protocol::rpc::{Invocation, InvocationResponse, SignedInvocation};
use lattice_tests::fixtures;
use lattice_tests::hosts::{self, http_link, id};
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::lattice::{rpc, scale, start_provider, Control, HostProcess};
use lattice_tests::nats::{self, NatsServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A lattice on a NATS server of its own whose hosts share one signing
/// key, and a control client for it.
struct Cluster {
    seed: String,
    ctl: Control,
    nats: NatsServer,
}

impl Cluster {
    async fn start() -> Self {
        let nats = NatsServer::start();
        Self {
            seed: nkeys::KeyPair::new_cluster().seed().unwrap(),
            ctl: Control::connect(&nats.url(), "default").await,
            nats,
        }
    }

    fn host(&self) -> HostProcess {
        self.host_with(&[])
    }

    fn host_with(&self, extra: &[&str]) -> HostProcess {
        let mut args = vec![
            "--cluster-seed",
            self.seed.as_str(),
            "--call-timeout-secs",
            "5",
        ];
        args.extend_from_slice(extra);
        let binary = lattice_tests::fixtures::binary("lattice-host");
        HostProcess::start(&binary, &self.nats.url(), "default", &args)
    }

    async fn run_actor(&self, host: &HostProcess, id: &str, fixture: &str) {
        let reference = fixtures::wasm(fixture).display().to_string();
        self.ctl
            .ok::<op::ScaleActor>(Some(host.id()), scale(id, &reference, 50))
            .await;
    }

    /// Starts the HTTP provider on `host` and links it to `target`; returns the base URL.
    async fn serve_http(&self, host: &HostProcess, target: &str) -> String {
        self.ctl
            .ok::<op::StartProvider>(Some(host.id()), start_provider("http", "http-server"))
            .await;
        let address = format!("127.0.0.1:{}", lattice_tests::free_port());
        self.ctl
            .ok::<op::PutLink>(None, http_link("http", target, &address))
            .await;
        let url = format!("http://{address}/");
        let client = HttpClient::default();
        lattice_tests::eventually(&format!("{url} to listen"), async || {
            client.get(&url).await.ok().map(drop)
        })
        .await;
        url
    }

    async fn inventory(&self, host: &HostProcess) -> Inventory {
        self.ctl
            .ok::<op::Inventory>(Some(host.id()), Empty {})
            .await
    }

    async fn routing(&self, host: &HostProcess, target: &str) -> (u64, u64) {
        let inventory = self.inventory(host).await;
        let counts = inventory
            .routing
            .get(&id(target))
            .copied()
            .unwrap_or_default();
        (counts.local, counts.remote)
    }

    async fn calls(&self, host: &HostProcess, actor: &str) -> u64 {
        let inventory = self.inventory(host).await;
        inventory
            .actors
            .iter()
            .find(|a| a.id.as_str() == actor)
            .map_or(0, |a| a.calls)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_co_located_call_stays_in_process_and_survives_nats_going_away() {
    let cluster = Cluster::start().await;
    let h = cluster.host();
    cluster.run_actor(&h, "hello", "hello").await;
    let url = cluster.serve_http(&h, "hello").await;
    let client = HttpClient::default();
    for _ in 0..10 {
        assert_eq!(client.get(&url).await.unwrap().status, 200);
    }
    let (local, remote) = cluster.routing(&h, "hello").await;
    assert!(local >= 10 && remote == 0, "local {local}, remote {remote}");

    // The control client goes first, then the NATS server.
    drop(cluster);
    for _ in 0..10 {
        let reply = client.get_reply(&url).await;
        reply.assert_answer(200, "Hello from Lattice!\n");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_an_actor_on_another_host_goes_over_nats_and_a_5_mib_body_crosses_intact() {
    let cluster = Cluster::start().await;
    let (edge, compute) = (cluster.host(), cluster.host());
    cluster.run_actor(&compute, "echo", "http_echo").await;
    let url = cluster.serve_http(&edge, "echo").await;

    let body: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let client = HttpClient::default();
    let reply = client
        .request(
            http::Method::POST,
            &format!("{url}upload?x=1"),
            Bytes::from(body.clone()),
        )
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.bytes.len(), body.len());
    assert!(reply.bytes == body, "the body changed in transit");

    let (local, remote) = cluster.routing(&edge, "echo").await;
    assert!(remote >= 1 && local == 0, "local {local}, remote {remote}");
    assert!(cluster.calls(&compute, "echo").await >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_to_another_host_hold_the_edge_hosts_payload_budget_and_the_next_is_refused_not_buffered(
) {
    let cluster = Cluster::start().await;
    let admin = format!("127.0.0.1:{}", lattice_tests::free_port());
    let (edge, compute) = (
        cluster.host_with(&["--payload-budget-mib", "1", "--admin-address", &admin]),
        cluster.host(),
    );
    cluster.run_actor(&compute, "echo", "http_echo").await;
    let url = cluster.serve_http(&edge, "echo").await;
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    // A slow upload: 300 KiB of 400 sent, then a pause. The edge holds
    // twice what it read (the body and its encoding): 600 KiB of 1 MiB.
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        400 << 10
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&vec![b'a'; 300 << 10]).await.unwrap();

    let client = HttpClient::default();
    // The edge has read it all: its metrics show the room held.
    lattice_tests::eventually(
        "the slow upload to hold 600 KiB of the budget",
        async || {
            let metrics = client
                .get(&format!("http://{admin}/metrics"))
                .await
                .ok()?
                .body;
            let held = metrics
                .lines()
                .find_map(|line| line.strip_prefix("lattice_payload_budget_held_bytes{} "))?;
            (held.trim().parse::<u64>().ok()? >= 600 << 10).then_some(())
        },
    )
    .await;

    // The next upload, 250 KiB, does not fit beside it: refused at once with
    // the reason, rather than read into memory.
    let upload = async |path: &str, kib: usize| {
        client
            .request(
                http::Method::POST,
                &format!("{url}{path}"),
                Bytes::from(vec![b'b'; kib << 10]),
            )
            .await
    };
    // (Retried only when the connection fails: the server may answer
    // before the client has sent the whole body.)
    let refused = lattice_tests::eventually("an answer to the second upload", async || {
        upload("next", 250).await.ok()
    })
    .await;
    assert_eq!(refused.status, 503, "{}", refused.body);
    let refused = refused.body;
    assert!(
        refused.contains("the request body for echo")
            && refused.contains("payload budget of 1.0 MiB is held by other calls"),
        "{refused}"
    );
    // Small calls still go through.
    client.get_reply(&url).await.assert_answer(200, "");

    // The slow upload ends and is served whole; then the room is back.
    slow.write_all(&vec![b'a'; 100 << 10]).await.unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || answer.len() < 400 << 10 {
        let n = tokio::time::timeout(Duration::from_secs(20), slow.read(&mut buffer))
            .await
            .expect("the slow upload is answered")
            .unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer[..40])
    );
    let reply = upload("next", 250).await.unwrap();
    assert_eq!((reply.status, reply.bytes.len()), (200, 250 << 10));

    // More than the whole budget can never fit: a bad request, not a wait.
    let reply = upload("big", 700).await.unwrap();
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("more than this host's payload budget of 1.0 MiB"),
        "{}",
        reply.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_from_another_host_are_counted_at_their_size_as_component_values() {
    let cluster = Cluster::start().await;
    let compute = cluster.host_with(&["--payload-budget-mib", "1"]);
    cluster.run_actor(&compute, "uppercase", "uppercase").await;
    let key = nkeys::KeyPair::from_seed(&cluster.seed).unwrap();
    let call = |id: &str, bytes: usize| {
        lattice_tests::lattice::TestCall {
            id,
            source: "greeter",
            target: "uppercase",
            interface: "example:uppercase/convert",
            function: "upper",
            link_name: "default",
            // A 100 KiB `list<u8>` is 100 KiB on the wire and about 4 MiB as
            // component values (one `Val` per byte).
            payload: lattice_interfaces::protocol::rpc::value::encode(&[
                lattice_interfaces::protocol::rpc::WireVal::Bytes(vec![7; bytes]),
            ])
            .unwrap(),
        }
        .signed(&key, None)
    };
    let refusal = lattice_tests::lattice::refusal(
        call("blob-1", 100 << 10).send(cluster.ctl.nats()).await,
        lattice_interfaces::ErrorKind::BadRequest,
    );
    assert!(
        refusal.starts_with("arguments of example:uppercase/convert.upper would hold")
            && refusal.ends_with("more than this host's payload budget of 1.0 MiB"),
        "{refusal}"
    );
    // A small argument is decoded and reaches the function, whose types
    // wasmtime checks: `upper` takes a string.
    let response = call("blob-2", 16).send(cluster.ctl.nats()).await;
    let error = response.error.expect("a list<u8> is not a string");
    assert!(!error.message.contains("payload budget"), "{error:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_running_the_actor_share_the_calls_and_a_killed_one_loses_only_calls_in_flight() {
    let cluster = Cluster::start().await;
    let (edge, mut b, c) = (cluster.host(), cluster.host(), cluster.host());
    for host in [&b, &c] {
        cluster.run_actor(host, "hello", "hello").await;
    }
    let url = cluster.serve_http(&edge, "hello").await;

    let client = HttpClient::default();
    for _ in 0..60 {
        assert_eq!(client.get(&url).await.unwrap().status, 200);
    }
    let (on_b, on_c) = (
        cluster.calls(&b, "hello").await,
        cluster.calls(&c, "hello").await,
    );
    assert!(
        on_b > 0 && on_c > 0,
        "calls were not shared: b {on_b}, c {on_c}"
    );

    // A stream of calls from 4 clients; b dies in the middle of it.
    const CLIENTS: u32 = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let streams: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, stop, ok, failed) = (url.clone(), stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let client = HttpClient::default();
                while !stop.load(Ordering::Relaxed) {
                    match client.get(&url).await {
                        Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while ok.load(Ordering::Relaxed) < 100 {
        assert!(
            tokio::time::Instant::now() < until,
            "the stream did not flow"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    b.kill();
    let before = ok.load(Ordering::Relaxed);
    while ok.load(Ordering::Relaxed) < before + 200 {
        assert!(
            tokio::time::Instant::now() < until + Duration::from_secs(20),
            "calls stopped after the kill"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for s in streams {
        s.await.unwrap();
    }
    let failed = failed.load(Ordering::Relaxed);
    assert!(
        failed <= CLIENTS,
        "{failed} calls failed; at most the {CLIENTS} in flight may"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_responders_fails_at_once_naming_the_target() {
    let cluster = Cluster::start().await;
    let edge = cluster.host();
    let url = cluster.serve_http(&edge, "ghost").await;
    let started = std::time::Instant::now();
    let reply = http_client::get(&url).await;
    reply.assert_error(502, "no host in lattice default runs ghost");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}: not at once",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_guest_prints_lands_in_its_hosts_log_tagged_with_the_actor() {
    let cluster = Cluster::start().await;
    let host = cluster.host();
    cluster.run_actor(&host, "panicky", "http_panic").await;
    let url = cluster.serve_http(&host, "panicky").await;
    http_client::get(&url).await.assert_status(500);
    lattice_tests::wait_for(
        "the guest's panic message in the host's log",
        Duration::from_secs(10),
        || {
            host.logged(&[
                "this actor panics on purpose",
                "actor=panicky",
                "stream=\"stderr\"",
            ])
            .then_some(())
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_guest_logs_through_wasi_logging_lands_in_its_hosts_log_at_its_level() {
    let cluster = Cluster::start().await;
    let host = cluster.host();
    cluster.run_actor(&host, "logger", "http_logs").await;
    let url = cluster.serve_http(&host, "logger").await;
    http_client::get(&format!("{url}orders/7"))
        .await
        .assert_answer(200, "logged\n");
    lattice_tests::wait_for(
        "the guest's log line in the host's log",
        Duration::from_secs(10),
        || {
            host.logged(&[
                "WARN",
                "a request for /orders/7",
                "actor=logger",
                "context=\"http_logs\"",
            ])
            .then_some(())
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_response_cannot_point_a_hosts_chunk_pulls_at_the_control_plane() {
    use lattice_interfaces::protocol::rpc::BodyRef;
    let cluster = Cluster::start().await;
    let edge = cluster.host();
    let url = cluster.serve_http(&edge, "ghost").await;
    let nats = cluster.ctl.nats().clone();
    // Anything sent to this control subject, the test sees.
    let mut control = nats
        .subscribe("lattice.default.ctl.v1.forged")
        .await
        .unwrap();
    // A fake `ghost` answers every call with a large payload it claims to
    // offer on that control subject (responses are not signed).
    let mut calls = nats
        .queue_subscribe("lattice.default.rpc.ghost", "ghost".into())
        .await
        .unwrap();
    lattice_rpc::server_caught_up(&nats, Duration::from_secs(10))
        .await
        .unwrap();
    let responder = tokio::spawn({
        let nats = nats.clone();
        async move {
            while let Some(call) = futures::StreamExt::next(&mut calls).await {
                let Some(reply) = call.reply else { continue };
                let id = SignedInvocation::decode(&call.payload)
                    .and_then(|signed| signed.invocation())
                    .map(|invocation| invocation.id)
                    .unwrap_or_default();
                let forged = InvocationResponse::ok(
                    id,
                    Vec::new(),
                    Some(BodyRef {
                        subject: "lattice.default.ctl.v1.forged".into(),
                        len: 600 * 1024,
                        chunks: 2,
                    }),
                );
                let _ = nats.publish(reply, forged.encode().unwrap().into()).await;
            }
        }
    });
    let reply = http_client::get(&url).await;
    assert_ne!(reply.status, 200);
    assert!(reply.body.contains("reply inbox"), "{}", reply.body);
    // The host sent nothing to the control plane on the forger's say-so.
    let sent = tokio::time::timeout(
        Duration::from_millis(500),
        futures::StreamExt::next(&mut control),
    )
    .await;
    assert!(sent.is_err(), "the host pulled from a control subject");
    responder.abort();
}

fn invocation(target: &str, key: &nkeys::KeyPair, id: &str, deadline_ms: u64) -> Invocation {
    let head = HttpRequestHead {
        method: "GET".into(),
        path_and_query: "/".into(),
        authority: "test".into(),
        headers: vec![],
    };
    Invocation {
        id: id.into(),
        source: "http".into(),
        target: target.into(),
        interface: "wasi:http/incoming-handler".into(),
        function: "handle".into(),
        link_name: "default".into(),
        deadline_ms,
        traceparent: None,
        origin_host: "NTEST".into(),
        cluster_key: key.public_key(),
        lattice: "default".into(),
        payload: rmp_serde::to_vec_named(&HttpMessage { head, body: vec![] }).unwrap(),
        payload_ref: None,
        grant: None,
    }
}

/// `inv` signed by `key`, as it goes on the wire.
fn signed(inv: &Invocation, key: &nkeys::KeyPair) -> Vec<u8> {
    inv.sign(key).unwrap()
}

fn in_a_minute() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 60_000
}

async fn send(ctl: &Control, message: Vec<u8>) -> InvocationResponse {
    rpc(ctl.nats(), "hello", message).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_unsigned_tampered_late_and_replayed_invocations_are_refused() {
    let cluster = Cluster::start().await;
    let h = cluster.host();
    let ctl = &cluster.ctl;
    let mut refusals = ctl
        .nats()
        .subscribe("lattice.default.evt.invocation_refused")
        .await
        .unwrap();
    cluster.run_actor(&h, "hello", "hello").await;
    let trusted = nkeys::KeyPair::from_seed(&cluster.seed).unwrap();

    // A good one is served, once.
    let good = signed(
        &invocation("hello", &trusted, "t-1", in_a_minute()),
        &trusted,
    );
    let response = send(ctl, good.clone()).await;
    assert!(response.error.is_none(), "{:?}", response.error);
    let answer: HttpMessage<HttpResponseHead> = rmp_serde::from_slice(&response.payload).unwrap();
    assert_eq!(
        (answer.head.status, answer.body.as_slice()),
        (200, &b"Hello from Lattice!\n"[..])
    );
    let replayed = send(ctl, good.clone()).await.error.unwrap();
    assert!(
        replayed.message.contains("already served (replayed)"),
        "{}",
        replayed.message
    );

    let stranger = nkeys::KeyPair::new_cluster();
    let forged = signed(
        &invocation("hello", &stranger, "t-2", in_a_minute()),
        &stranger,
    );
    let e = send(ctl, forged).await.error.unwrap();
    assert!(e.message.contains("is not trusted here"), "{}", e.message);
    // The refusal says how to fix it.
    assert!(e.message.contains("--cluster-seed"), "{}", e.message);

    let unsigned = SignedInvocation {
        invocation: rmp_serde::to_vec_named(&invocation("hello", &trusted, "t-3", in_a_minute()))
            .unwrap(),
        signature: vec![],
        mac: vec![],
    };
    let e = send(ctl, rmp_serde::to_vec_named(&unsigned).unwrap())
        .await
        .error
        .unwrap();
    assert!(e.message.contains("bad signature"), "{}", e.message);

    // Signed, then changed on the way: the signature covers the bytes sent.
    let original = invocation("hello", &trusted, "t-4", in_a_minute());
    let mut tampered = SignedInvocation::decode(&signed(&original, &trusted)).unwrap();
    let changed = Invocation {
        function: "something-else".into(),
        ..original
    };
    tampered.invocation = rmp_serde::to_vec_named(&changed).unwrap();
    let e = send(ctl, rmp_serde::to_vec_named(&tampered).unwrap())
        .await
        .error
        .unwrap();
    assert!(e.message.contains("bad signature"), "{}", e.message);

    let late = signed(
        &invocation("hello", &trusted, "t-5", in_a_minute() - 120_000),
        &trusted,
    );
    let e = send(ctl, late).await.error.unwrap();
    assert!(e.message.contains("deadline passed"), "{}", e.message);

    let garbage = send(ctl, b"\x93\xff garbage".to_vec()).await;
    assert!(garbage
        .error
        .unwrap()
        .message
        .starts_with("malformed invocation"));

    for e in [&replayed, &e] {
        assert_eq!(format!("{:?}", e.kind), "Unauthorized");
    }
    // Each refusal was also announced.
    for _ in 0..5 {
        let value = nats::next_event(&mut refusals, Duration::from_secs(10)).await;
        assert_eq!(value["data"]["target"], "hello");
    }
    // And the host still serves.
    let again = invocation("hello", &trusted, "t-6", in_a_minute());
    assert!(send(ctl, signed(&again, &trusted)).await.error.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeter_calls_uppercase_on_another_host_with_records_and_strings_intact() {
    let cluster = Cluster::start().await;
    let (front, back) = (cluster.host(), cluster.host());
    cluster.run_actor(&front, "greeter", "greeter").await;
    cluster.run_actor(&back, "uppercase", "uppercase").await;
    let link = hosts::link("greeter", "uppercase", "example:uppercase/convert");
    cluster.ctl.ok::<op::PutLink>(None, link).await;
    let url = cluster.serve_http(&front, "greeter").await;
    let (_, remote_before) = cluster.routing(&front, "uppercase").await;
    let calls_before = cluster.calls(&back, "uppercase").await;
    let reply = http_client::get(&format!("{url}grüße")).await;
    reply.assert_status(200);
    assert_eq!(reply.body, "HELLO, GRÜSSE! (14 chars, 2 words)\n");
    // Two calls per request (upper, analyze), both over NATS.
    let (local, remote) = cluster.routing(&front, "uppercase").await;
    assert_eq!((local, remote - remote_before), (0, 2));
    assert_eq!(cluster.calls(&back, "uppercase").await - calls_before, 2);
}

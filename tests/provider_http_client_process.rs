//! Outgoing HTTP through an `http-client` provider process.
//!
//! A real nats-server, a host joined to it running the `http_fetch`
//! fixture behind an HTTP server provider, and
//! `lattice-provider-http-client` started and supervised by that host. The
//! fixture's requests cross the lattice to the process, which makes them
//! with the link's timeouts; the answers come back whole.

use std::time::Duration;

use lattice_interfaces::{Contract, Link};
use lattice_tests::hosts::{id, serve_http, start_fixture};
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_fetches_through_an_http_client_process_with_its_links_timeouts() {
    let upstream = lattice_tests::upstream::start();
    let nats = NatsServer::start();
    let (host, lattice) =
        lattice_tests::hosts::joined(&nats.url(), lattice_tests::hosts::unsigned_allowed()).await;
    start_fixture(&host, "fetch", "http_fetch").await;
    let url = serve_http(&host, &lattice, "fetch").await;
    let client = HttpClient::default();

    // Deny by default: no link to a client yet.
    let reply = client
        .get(&format!("{url}?url=http://{upstream}/ok"))
        .await
        .unwrap();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.contains("HttpRequestDenied"), "{}", reply.body);

    lattice
        .start_provider_process(
            &id("client"),
            &lattice_tests::fixtures::binary("lattice-provider-http-client"),
            Default::default(),
        )
        .unwrap();
    let mut outgoing = Link::new(
        id("fetch"),
        id("client"),
        Contract::parse("wasi:http/outgoing-handler").unwrap(),
    );
    outgoing
        .target_config
        .insert("first_byte_timeout_ms".into(), "500".into());
    lattice.put_link(outgoing).await.unwrap();

    // The process starts in the background: fetch until it answers.
    let reply = client
        .get_until_ok(
            &format!("{url}?url=http://{upstream}/ok"),
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(reply.body, "upstream ok");

    // A body over the lattice's inline limit comes back whole.
    let reply = client
        .get(&format!("{url}?url=http://{upstream}/big"))
        .await
        .unwrap();
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
    assert_eq!(reply.body.len(), lattice_tests::upstream::BIG_BYTES);
    assert!(reply.body.bytes().all(|b| b == b'x'));

    // The link's first-byte timeout holds in the process: no hang.
    let started = std::time::Instant::now();
    let reply = client
        .get(&format!("{url}?url=http://{upstream}/slow"))
        .await
        .unwrap();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.contains("Timeout"), "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );

    // Nothing listens there: refused, named as such.
    let closed = lattice_tests::free_port();
    let reply = client
        .get(&format!("{url}?url=http://127.0.0.1:{closed}/"))
        .await
        .unwrap();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.contains("ConnectionRefused"), "{}", reply.body);

    let routed = host.routing().of(&id("client"));
    assert!(routed.remote >= 4 && routed.local == 0, "{routed:?}");
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

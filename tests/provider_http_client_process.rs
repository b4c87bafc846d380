//! Outgoing HTTP through an `http-client` provider process.
//!
//! A real nats-server, a host joined to it running the `http_fetch`
//! fixture behind an HTTP server provider, and
//! `lattice-provider-http-client` started and supervised by that host. The
//! fixture's requests cross the lattice to the process, which makes them
//! with the link's timeouts; the answers come back whole.

use std::time::Duration;

use lattice_tests::hosts::{self, id, serve_http, start_fixture};
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;
use lattice_tests::upstream::{self, Fetch};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_fetches_through_an_http_client_process_with_its_links_timeouts() {
    let upstream = upstream::start();
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    start_fixture(&host, "fetch", "http_fetch").await;
    let fetch = Fetch::new(&serve_http(&host, &lattice, "fetch").await, &upstream);
    let client = HttpClient::default();

    // Deny by default: no link to a client yet.
    let reply = client.get_reply(&fetch.url("ok")).await;
    reply.assert_error(502, "HttpRequestDenied");

    hosts::start_provider_process(&lattice, "client", "lattice-provider-http-client", &[]).await;
    let mut outgoing = hosts::link("fetch", "client", "wasi:http/outgoing-handler");
    outgoing
        .target_config
        .insert("first_byte_timeout_ms".into(), "500".into());
    // Any port of loopback, where the upstream and the closed port are.
    outgoing
        .target_config
        .insert("allowed_hosts".into(), "127.0.0.1".into());
    lattice.put_link(outgoing).await.unwrap();

    // The process starts in the background: fetch until it answers.
    let reply = client
        .get_until_ok(&fetch.url("ok"), Duration::from_secs(30))
        .await;
    assert_eq!(reply.body, "upstream ok");

    // A body over the lattice's inline limit comes back whole.
    let reply = client.get_reply(&fetch.url("big")).await;
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
    assert_eq!(reply.body.len(), upstream::BIG_BYTES);
    assert!(reply.body.bytes().all(|b| b == b'x'));

    // The link's first-byte timeout holds in the process: no hang.
    fetch.assert_slow_one_times_out(&client).await;

    // Nothing listens there: refused, named as such.
    let closed = lattice_tests::free_port();
    let refused = Fetch::new(&fetch.fixture, &format!("127.0.0.1:{closed}"));
    let reply = client.get_reply(&refused.url("")).await;
    reply.assert_error(502, "ConnectionRefused");

    // Outside allowed_hosts the process refuses before it connects, and
    // the lattice hears of it: actor, host asked for and link.
    let mut events =
        lattice_tests::nats::subscribe(&nats.url(), "lattice.default.evt.provider_error").await;
    let metadata = Fetch::new(&fetch.fixture, "169.254.169.254");
    client
        .get_reply(&metadata.url("latest/meta-data/"))
        .await
        .assert_error(502, "HttpRequestDenied");
    let event = lattice_tests::nats::next_event(&mut events, Duration::from_secs(10)).await;
    let data = &event["data"];
    assert_eq!(
        (data["source"].as_str(), data["target"].as_str()),
        (Some("fetch"), Some("client")),
        "{event}"
    );
    assert!(
        data["error"].as_str().is_some_and(
            |e| e.starts_with("egress denied for actor fetch: http://169.254.169.254:80 ")
        ),
        "{event}"
    );

    let routed = host.routing().of(&id("client"));
    assert!(routed.remote >= 4 && routed.local == 0, "{routed:?}");
    hosts::leave(lattice, host).await;
}

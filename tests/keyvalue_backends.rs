//! A backend that cannot be reached is reported, not only to the actor.
//!
//! When a key-value link names a Redis nobody runs, the actor's call fails
//! with the reason, and a host in a lattice announces a `provider_error`
//! event naming the provider, the caller and the cause, so operators see a
//! broken backend without reading actor output. The test reads the HTTP
//! answer and the event on a real nats-server.

use std::time::Duration;

use lattice_tests::hosts::{self, start_fixture, start_provider};
use lattice_tests::http_client;
use lattice_tests::nats::{self, NatsServer};
use lattice_tests::redis::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_fails_the_call_and_raises_a_provider_error_event() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let mut errors = nats::subscribe(&nats.url(), "lattice.default.evt.provider_error").await;

    start_fixture(&host, "counter", "kv_counter").await;
    for (provider, kind) in [("http", "http-server"), ("kv", "keyvalue")] {
        start_provider(&host, provider, kind);
    }
    let http = hosts::http_link("http", "counter", "127.0.0.1:0");
    lattice.put_link(http).await.unwrap();
    let port = lattice_tests::free_port();
    let mut kv = hosts::kv_link("counter", "kv");
    kv.target_config
        .insert("url".into(), format!("redis://127.0.0.1:{port}"));
    lattice.put_link(kv).await.unwrap();

    let url = hosts::first_url(&host);
    let reply = http_client::get(&url).await;
    reply.assert_error(500, "cannot reach redis");

    let event = nats::next_event(&mut errors, Duration::from_secs(10)).await;
    assert_eq!(event["data"]["provider_id"], "kv");
    assert_eq!(event["data"]["source"], "counter");
    assert!(
        event["data"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{event}"
    );
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_moved_to_another_redis_counts_there_from_the_next_call() {
    let (first, second) = (RedisServer::start(), RedisServer::start());
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    start_fixture(&host, "counter", "kv_counter").await;
    for (provider, kind) in [("http", "http-server"), ("kv", "keyvalue")] {
        start_provider(&host, provider, kind);
    }
    lattice
        .put_link(hosts::http_link("http", "counter", "127.0.0.1:0"))
        .await
        .unwrap();
    let link_to = |redis: &RedisServer| {
        let mut kv = hosts::kv_link("counter", "kv");
        kv.target_config.insert("url".into(), redis.url());
        kv
    };
    lattice.put_link(link_to(&first)).await.unwrap();
    let url = format!("{}visits", hosts::first_url(&host));
    assert_eq!(http_client::get(&url).await.body, "1\n");
    assert_eq!(http_client::get(&url).await.body, "2\n");

    // The same link, now naming the second Redis: the provider's cached
    // connection to the first must not outlive the change.
    lattice.replace_link(link_to(&second)).await.unwrap();
    lattice_tests::eventually("the link change to apply", async || {
        (host
            .links()
            .iter()
            .any(|l| l.config("url") == Some(second.url().as_str())))
        .then_some(())
    })
    .await;
    assert_eq!(http_client::get(&url).await.body, "1\n");
    hosts::leave(lattice, host).await;
}

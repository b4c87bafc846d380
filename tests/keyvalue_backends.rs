//! A backend that cannot be reached is reported, not only to the actor.
//!
//! When a key-value link names a Redis nobody runs, the actor's call fails
//! with the reason, and a host in a lattice announces a `provider_error`
//! event naming the provider, the caller and the cause, so operators see a
//! broken backend without reading actor output. The test reads the HTTP
//! answer and the event on a real nats-server.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::{ComponentId, Contract, Link, ProviderSpec};
use lattice_tests::nats::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_fails_the_call_and_raises_a_provider_error_event() {
    let nats = NatsServer::start();
    let (host, lattice) =
        lattice_tests::hosts::joined(&nats.url(), lattice_tests::hosts::unsigned_allowed()).await;
    let client = async_nats::connect(nats.url()).await.unwrap();
    let mut errors = client
        .subscribe("lattice.default.evt.provider_error")
        .await
        .unwrap();
    client.flush().await.unwrap();

    let id = |s: &str| ComponentId::new(s).unwrap();
    host.start_actor_from_bytes(
        id("counter"),
        "kv_counter.wasm",
        lattice_tests::fixtures::wasm_bytes("kv_counter"),
        Default::default(),
    )
    .await
    .unwrap();
    for (provider, kind) in [("http", "http-server"), ("kv", "keyvalue")] {
        host.start_provider(&ProviderSpec {
            id: id(provider),
            kind: kind.into(),
            config: Default::default(),
        })
        .unwrap();
    }
    let mut http = Link::new(
        id("http"),
        id("counter"),
        Contract::parse("wasi:http/incoming-handler").unwrap(),
    );
    http.source_config
        .insert("address".into(), "127.0.0.1:0".into());
    lattice.put_link(http).await.unwrap();
    let port = lattice_tests::free_port();
    let mut kv = Link::new(
        id("counter"),
        id("kv"),
        Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
    );
    kv.target_config
        .insert("url".into(), format!("redis://127.0.0.1:{port}"));
    lattice.put_link(kv).await.unwrap();

    let url = host.http_endpoints()[0].url();
    let reply = lattice_tests::http_client::HttpClient::default()
        .get(&url)
        .await
        .unwrap();
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(reply.body.contains("cannot reach redis"), "{}", reply.body);

    let event = tokio::time::timeout(Duration::from_secs(10), errors.next())
        .await
        .unwrap()
        .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["data"]["provider_id"], "kv");
    assert_eq!(event["data"]["source"], "counter");
    assert!(
        event["data"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{event}"
    );
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

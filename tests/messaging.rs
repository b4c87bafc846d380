//! Actors answer messages: the messaging provider delivers what arrives on a
//! link's subscriptions to the actor's handler, and the actor publishes
//! through its own link.
//!
//! `echo-messaging` answers every request on `echo.>` with `echo: ` and the
//! body. The test sends real NATS requests to a real `nats-server` and reads
//! the replies; without the consumer link the actor cannot publish and the
//! request gets no answer.

use std::time::Duration;

use lattice_interfaces::Manifest;
use lattice_tests::hosts::{self, id};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::{ask, assert_echo_answers, NatsServer};
use lattice_tests::{eventually, fixtures, nats};

fn manifest(nats_url: &str, consumer_link: bool) -> Manifest {
    let manifest = ManifestBuilder::new()
        .actor("echo", &fixtures::wasm("echo_messaging"))
        .provider("nats", "messaging-nats")
        .config(&[("url", nats_url)])
        .link("nats", "echo", "wasmcloud:messaging/handler")
        .source_config(&[("subscriptions", "echo.>"), ("queue_group", "echoers")]);
    match consumer_link {
        true => manifest.link("echo", "nats", "wasmcloud:messaging/consumer"),
        false => manifest,
    }
    .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_messaging_answers_requests_on_its_subscriptions() {
    let nats = NatsServer::start();
    let host = hosts::applied(&manifest(&nats.url(), true)).await;
    let client = nats.client().await;
    // The subscription starts in the background: ask until it answers.
    assert_echo_answers(&client, Duration::from_secs(20)).await;
    // Subjects outside the subscriptions reach nobody.
    assert!(ask(&client, "other.subject", "x").await.is_none());
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_consumer_link_the_actor_cannot_publish() {
    let nats = NatsServer::start();
    let host = hosts::applied(&manifest(&nats.url(), false)).await;
    let client = nats.client().await;
    // Messages are delivered (the handler runs) but the reply is refused.
    eventually("the handler to run", async || {
        let answer = ask(&client, "echo.x", "y").await;
        assert!(answer.is_none(), "answered without a consumer link");
        (host.actor(&id("echo")).unwrap().stats().calls > 0).then_some(())
    })
    .await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_link_whose_server_is_down_is_reported_and_recovers_by_itself() {
    let lattice_nats = NatsServer::start();
    let (host, _lattice) = hosts::dev_lattice(&lattice_nats.url()).await;
    let mut errors =
        nats::subscribe(&lattice_nats.url(), "lattice.default.evt.provider_error").await;
    // The application's NATS server is not up when the link arrives.
    let port = lattice_tests::free_port();
    host.apply(&manifest(&format!("nats://127.0.0.1:{port}"), true))
        .await
        .unwrap();
    let event = nats::next_event(&mut errors, Duration::from_secs(30)).await;
    assert_eq!(event["data"]["provider_id"], "nats", "{event}");
    assert!(
        event["data"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach NATS"),
        "{event}"
    );

    let app = NatsServer::start_on(port);
    nats::assert_echo_late(&app, "back").await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_a_named_handler_link_reaches_that_links_actor() {
    let nats = NatsServer::start();
    // Two handlers on one provider: `echo` on the default link (`echo.>`),
    // `audit` on the link named `audit` (`audit.>`).
    let manifest = ManifestBuilder::new()
        .actor("echo", &fixtures::wasm("echo_messaging"))
        .actor("audit", &fixtures::wasm("echo_messaging"))
        .provider("nats", "messaging-nats")
        .config(&[("url", &nats.url())])
        .link("nats", "echo", "wasmcloud:messaging/handler")
        .source_config(&[("subscriptions", "echo.>")])
        .link("nats", "audit", "wasmcloud:messaging/handler")
        .name("audit")
        .source_config(&[("subscriptions", "audit.>")])
        .link("echo", "nats", "wasmcloud:messaging/consumer")
        .link("audit", "nats", "wasmcloud:messaging/consumer")
        .build();
    let host = hosts::applied(&manifest).await;
    let client = nats.client().await;
    let answer =
        nats::ask_until_answered(&client, "audit.entry", "signed", Duration::from_secs(20)).await;
    assert_eq!(answer, "echo: signed");
    // The named link's actor handled it; the default link's did not.
    let calls = |actor: &str| host.actor(&id(actor)).unwrap().stats().calls;
    assert!(calls("audit") >= 1, "audit handled nothing");
    assert_eq!(calls("echo"), 0, "the default link's actor got the message");
    host.shutdown(Duration::from_secs(1)).await;
}

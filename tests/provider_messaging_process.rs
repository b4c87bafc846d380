//! The messaging provider runs as its own process on the lattice.
//!
//! A real nats-server, a host joined to it running `echo-messaging`, and
//! `lattice-provider-messaging-nats` started and supervised by that host.
//! Messages on the handler link's subscriptions reach the actor as signed
//! invocations from the process; the actor's replies go back out through
//! the process over its consumer link. Stopping the provider stops its
//! subscriptions; a NATS server that is not up yet is reported, then
//! served once it is.

use std::time::Duration;

use lattice_tests::eventually;
use lattice_tests::hosts::{self, id, start_fixture};
use lattice_tests::nats::{self, ask, assert_echo_answers, NatsServer};

/// A host on `lattice_nats` running echo-messaging, with the messaging
/// provider process `msg` talking to the NATS server at `app_url`,
/// subscribed to `echo.>` for echo and linked for its replies.
async fn echo_through_a_process(
    lattice_nats: &NatsServer,
    app_url: &str,
) -> (lattice_host::Host, lattice_host::lattice::Lattice) {
    let (host, lattice) = hosts::dev_lattice(&lattice_nats.url()).await;
    start_fixture(&host, "echo", "echo_messaging").await;
    let config = [("url", app_url)];
    hosts::start_provider_process(&lattice, "msg", "lattice-provider-messaging-nats", &config)
        .await;
    let mut handler = hosts::link("msg", "echo", "wasmcloud:messaging/handler");
    handler
        .source_config
        .insert("subscriptions".into(), "echo.>".into());
    for link in [
        handler,
        hosts::link("echo", "msg", "wasmcloud:messaging/consumer"),
    ] {
        lattice.put_link(link).await.unwrap();
    }
    (host, lattice)
}

/// The next event of kind `kind` (others are skipped), within a generous
/// deadline.
async fn next_health(events: &mut async_nats::Subscriber, kind: &str) -> serde_json::Value {
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let event = tokio::time::timeout_at(until, futures::StreamExt::next(events))
            .await
            .unwrap_or_else(|_| panic!("no {kind} event"))
            .unwrap();
        if event.subject.ends_with(kind) {
            return serde_json::from_slice(&event.payload).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_messaging_answers_through_a_provider_process() {
    let nats = NatsServer::start();
    let (host, lattice) = echo_through_a_process(&nats, &nats.url()).await;
    let client = nats.client().await;
    // The process starts and subscribes in the background.
    assert_echo_answers(&client, Duration::from_secs(30)).await;
    // Binary bodies arrive intact.
    let body: Vec<u8> = (0..=255u8).collect();
    let reply = client
        .request("echo.bytes", body.clone().into())
        .await
        .unwrap();
    assert_eq!(&reply.payload[..6], b"echo: ");
    assert_eq!(&reply.payload[6..], body.as_slice());
    assert!(ask(&client, "other.subject", "x").await.is_none());

    // The actor's replies left through the process, over NATS.
    let routed = host.routing().of(&id("msg"));
    assert!(routed.remote >= 21, "{routed:?}");
    assert_eq!(routed.local, 0, "{routed:?}");

    // Stopping the provider stops its subscriptions.
    host.stop_provider(&id("msg"), Duration::from_secs(1))
        .await
        .unwrap();
    eventually("the provider's subscriptions to stop", async || {
        ask(&client, "echo.after", "x")
            .await
            .is_none()
            .then_some(())
    })
    .await;
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_link_to_a_nats_server_not_up_yet_reports_it_then_serves_once_it_is() {
    let lattice_nats = NatsServer::start();
    let mut errors =
        nats::subscribe(&lattice_nats.url(), "lattice.default.evt.provider_error").await;
    let mut health = nats::subscribe(&lattice_nats.url(), "lattice.default.evt.>").await;
    // The application's NATS server is not up yet.
    let app_port = lattice_tests::free_port();
    let app_url = format!("nats://127.0.0.1:{app_port}");
    let (host, lattice) = echo_through_a_process(&lattice_nats, &app_url).await;

    // Operators hear of it: a provider_error event naming the server.
    let event = nats::next_event(&mut errors, Duration::from_secs(30)).await;
    assert_eq!(event["data"]["provider_id"], "msg", "{event}");
    let error = event["data"]["error"].as_str().unwrap();
    assert!(error.contains(&app_url), "{error}");
    // Its health checks fail, saying which link and why (a first failure
    // may only say the process is not answering yet).
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let failed = next_health(&mut health, "health_check_failed").await;
        let reason = failed["data"]["reason"].as_str().unwrap().to_string();
        if reason.contains("msg -> echo") && reason.contains(&app_url) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "health never named the link: {reason}"
        );
    }

    // The server comes up where the link said: the link serves by itself.
    let app = NatsServer::start_on(app_port);
    nats::assert_echo_late(&app, "still here").await;
    next_health(&mut health, "health_check_passed").await;
    hosts::leave(lattice, host).await;
}

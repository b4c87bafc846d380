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

use lattice_interfaces::{Contract, Link};
use lattice_tests::hosts::{id, start_fixture};
use lattice_tests::nats::{ask, ask_until_answered, NatsServer};

/// A host on `lattice_nats` running echo-messaging, with the messaging
/// provider process `msg` talking to the NATS server at `app_url`,
/// subscribed to `echo.>` for echo and linked for its replies.
async fn echo_through_a_process(
    lattice_nats: &NatsServer,
    app_url: &str,
) -> (lattice_host::Host, lattice_host::lattice::Lattice) {
    let (host, lattice) = lattice_tests::hosts::joined(
        &lattice_nats.url(),
        lattice_tests::hosts::unsigned_allowed(),
    )
    .await;
    start_fixture(&host, "echo", "echo_messaging").await;
    lattice
        .start_provider_process(
            &id("msg"),
            &lattice_tests::fixtures::binary("lattice-provider-messaging-nats"),
            [("url".to_string(), app_url.to_string())].into(),
        )
        .unwrap();
    let mut handler = Link::new(
        id("msg"),
        id("echo"),
        Contract::parse("wasmcloud:messaging/handler").unwrap(),
    );
    handler
        .source_config
        .insert("subscriptions".into(), "echo.>".into());
    lattice.put_link(handler).await.unwrap();
    lattice
        .put_link(Link::new(
            id("echo"),
            id("msg"),
            Contract::parse("wasmcloud:messaging/consumer").unwrap(),
        ))
        .await
        .unwrap();
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
    let client = async_nats::connect(nats.url()).await.unwrap();
    // The process starts and subscribes in the background.
    let first =
        ask_until_answered(&client, "echo.hello", "hi there", Duration::from_secs(30)).await;
    assert_eq!(first, "echo: hi there");
    for i in 0..20 {
        let answer = ask(&client, &format!("echo.n{i}"), &format!("message {i}"))
            .await
            .unwrap();
        assert_eq!(answer, format!("echo: message {i}"));
    }
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
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while ask(&client, "echo.after", "x").await.is_some() {
        assert!(
            tokio::time::Instant::now() < until,
            "still answering after the provider stopped"
        );
    }
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_link_to_a_nats_server_not_up_yet_reports_it_then_serves_once_it_is() {
    let lattice_nats = NatsServer::start();
    let events_client = async_nats::connect(lattice_nats.url()).await.unwrap();
    let mut errors = events_client
        .subscribe("lattice.default.evt.provider_error")
        .await
        .unwrap();
    let mut health = events_client
        .subscribe("lattice.default.evt.>")
        .await
        .unwrap();
    events_client.flush().await.unwrap();
    // The application's NATS server is not up yet.
    let app_port = lattice_tests::free_port();
    let app_url = format!("nats://127.0.0.1:{app_port}");
    let (host, lattice) = echo_through_a_process(&lattice_nats, &app_url).await;

    // Operators hear of it: a provider_error event naming the server.
    let event = tokio::time::timeout(
        Duration::from_secs(30),
        futures::StreamExt::next(&mut errors),
    )
    .await
    .expect("no provider_error event")
    .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
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
    let client = async_nats::connect(app.url()).await.unwrap();
    let answer =
        ask_until_answered(&client, "echo.late", "still here", Duration::from_secs(30)).await;
    assert_eq!(answer, "echo: still here");
    next_health(&mut health, "health_check_passed").await;
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

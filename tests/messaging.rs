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
use lattice_tests::nats::{ask, ask_until_answered, NatsServer};
use lattice_tests::{fixtures, hosts};

fn manifest(nats_url: &str, consumer_link: bool) -> Manifest {
    let mut text = format!(
        r#"
[[actors]]
id = "echo"
path = "{}"

[[providers]]
id = "nats"
kind = "messaging-nats"
config = {{ url = "{nats_url}" }}

[[links]]
source = "nats"
target = "echo"
interface = "wasmcloud:messaging/handler"
source_config = {{ subscriptions = "echo.>", queue_group = "echoers" }}
"#,
        fixtures::wasm("echo_messaging").display()
    );
    if consumer_link {
        text.push_str("\n[[links]]\nsource = \"echo\"\ntarget = \"nats\"\ninterface = \"wasmcloud:messaging/consumer\"\n");
    }
    Manifest::from_toml(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_messaging_answers_requests_on_its_subscriptions() {
    let nats = NatsServer::start();
    let host = hosts::dev_host();
    host.apply(&manifest(&nats.url(), true)).await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();

    // The subscription starts in the background: ask until it answers.
    let first =
        ask_until_answered(&client, "echo.hello", "hi there", Duration::from_secs(20)).await;
    assert_eq!(first, "echo: hi there");
    for i in 0..20 {
        let answer = ask(&client, &format!("echo.n{i}"), &format!("message {i}"))
            .await
            .unwrap();
        assert_eq!(answer, format!("echo: message {i}"));
    }
    // Subjects outside the subscriptions reach nobody.
    assert!(ask(&client, "other.subject", "x").await.is_none());
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_consumer_link_the_actor_cannot_publish() {
    let nats = NatsServer::start();
    let host = hosts::dev_host();
    host.apply(&manifest(&nats.url(), false)).await.unwrap();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let echo = lattice_interfaces::ComponentId::new("echo").unwrap();
    // Messages are delivered (the handler runs) but the reply is refused.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while host.actor(&echo).unwrap().stats().calls == 0 {
        assert!(
            ask(&client, "echo.x", "y").await.is_none(),
            "answered without a consumer link"
        );
        assert!(tokio::time::Instant::now() < until, "the handler never ran");
    }
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_link_whose_server_is_down_is_reported_and_recovers_by_itself() {
    let lattice_nats = NatsServer::start();
    let (host, _lattice) = hosts::joined(&lattice_nats.url(), hosts::unsigned_allowed()).await;
    let events = async_nats::connect(lattice_nats.url()).await.unwrap();
    let mut errors = events
        .subscribe("lattice.default.evt.provider_error")
        .await
        .unwrap();
    events.flush().await.unwrap();
    // The application's NATS server is not up when the link arrives.
    let port = lattice_tests::free_port();
    host.apply(&manifest(&format!("nats://127.0.0.1:{port}"), true))
        .await
        .unwrap();
    let event = tokio::time::timeout(
        Duration::from_secs(30),
        futures::StreamExt::next(&mut errors),
    )
    .await
    .expect("no provider_error event")
    .unwrap();
    let event: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    assert_eq!(event["data"]["provider_id"], "nats", "{event}");
    assert!(
        event["data"]["error"]
            .as_str()
            .unwrap()
            .contains("cannot reach NATS"),
        "{event}"
    );

    let app = NatsServer::start_on(port);
    let client = async_nats::connect(app.url()).await.unwrap();
    let answer = ask_until_answered(&client, "echo.late", "back", Duration::from_secs(30)).await;
    assert_eq!(answer, "echo: back");
    host.shutdown(Duration::from_secs(1)).await;
}

//! A sandboxed actor with a messaging link cannot reach the control plane.
//!
//! The messaging provider used to let a linked actor publish or request on
//! any subject of the lattice's own NATS: `lattice.<L>.ctl.>` (stop hosts,
//! put links), `$KV.LATTICE_<L>.>` (write the state bucket), `$JS.>`. A
//! hostile actor holding only echo-messaging's two links (handler and
//! consumer) now gets `refused` for each of those, on the lattice's own
//! NATS, while ordinary subjects work; so does an answer to another
//! client's inbox unless it is the reply to the message being handled. A
//! raw subscriber on the forbidden subjects sees nothing arrive, and the
//! host serves on.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::control::{op, Empty};
use lattice_tests::fixtures;
use lattice_tests::lattice::Control;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_cannot_publish_or_request_into_the_lattice_or_jetstream() {
    let nats = NatsServer::start();
    let (host, lattice) = lattice_tests::hosts::dev_lattice(&nats.url()).await;
    let manifest = ManifestBuilder::new()
        .actor("hostile", &fixtures::wasm("messaging_publish_anywhere"))
        .provider("nats", "messaging-nats")
        .config(&[("url", &nats.url())])
        .link("nats", "hostile", "wasmcloud:messaging/handler")
        .source_config(&[("subscriptions", "probe.>")])
        .link("hostile", "nats", "wasmcloud:messaging/consumer")
        .build();
    host.apply(&manifest).await.unwrap();

    let client = nats.client().await;
    let mut forbidden = futures::stream::select_all([
        client.subscribe("lattice.>").await.unwrap(),
        client.subscribe("$KV.>").await.unwrap(),
        client.subscribe("$JS.API.>").await.unwrap(),
        // Another client's replies (issue 29, finding 9).
        client.subscribe("_INBOX.victim.>").await.unwrap(),
    ]);
    let mut allowed = client.subscribe("data.>").await.unwrap();
    lattice_rpc::server_caught_up(&client, Duration::from_secs(10))
        .await
        .unwrap();

    let ask = |body: String| {
        let client = client.clone();
        async move {
            let reply = lattice_tests::eventually("the hostile actor to answer", async || {
                tokio::time::timeout(
                    Duration::from_secs(5),
                    client.request("probe.go", body.clone().into()),
                )
                .await
                .ok()
                .and_then(Result::ok)
            })
            .await;
            String::from_utf8_lossy(&reply.payload).into_owned()
        }
    };

    // An ordinary subject works: the actor and the test see messages.
    assert_eq!(ask("data.out".into()).await, "sent");
    let seen = tokio::time::timeout(Duration::from_secs(5), allowed.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&seen.payload[..], b"owned");

    let control_plane = "belongs to the lattice";
    let replies = "holds other clients' replies";
    for (target, why) in [
        (
            format!("lattice.default.ctl.v1.host.stop.{}", host.id()),
            control_plane,
        ),
        ("lattice.default.ctl.v1.link.put".into(), control_plane),
        (
            "$KV.LATTICE_default.link.evil.wasi.http.default".into(),
            control_plane,
        ),
        (
            "$JS.API.STREAM.DELETE.KV_LATTICE_default".into(),
            control_plane,
        ),
        ("$SYS.REQ.SERVER.PING".into(), control_plane),
        (
            "request lattice.default.ctl.v1.host.ping".into(),
            control_plane,
        ),
        ("request $JS.API.INFO".into(), control_plane),
        // Answering a request never made to it, or pointing an answer at
        // another client's inbox or at the lattice (issue 29, finding 9);
        // its own answers (`ask`) still arrive.
        ("_INBOX.victim.1".into(), replies),
        ("request _INBOX.victim.2".into(), replies),
        ("reply-to _INBOX.victim.3".into(), replies),
        (
            "reply-to lattice.default.ctl.v1.host.ping".into(),
            control_plane,
        ),
    ] {
        let answer = ask(target.clone()).await;
        assert!(
            answer.starts_with("refused: ") && answer.contains(why),
            "{target}: {answer}"
        );
    }
    // Nothing the actor sent reached a forbidden subject (the host's own
    // traffic there, heartbeats and watches, carries no "owned").
    client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, forbidden.next()).await {
        assert_ne!(
            &message.payload[..],
            b"owned",
            "reached {}",
            message.subject
        );
    }
    // The host serves on and its state holds no link the actor wrote.
    let control = Control::connect(&nats.url(), "default").await;
    assert_eq!(control.ping_ids().await, [host.id().to_string()]);
    assert!(control
        .ok::<op::GetLinks>(None, Empty {})
        .await
        .iter()
        .all(|link| link.source.as_str() != "evil"));
    lattice_tests::hosts::leave(lattice, host).await;
}

/// A handler link may not subscribe its actor to the control plane or to
/// other clients' replies: `subscriptions = ">"` would show it every
/// invocation and control request with its reply inbox (issue 29, finding
/// 9). The link is refused when it is applied, saying which subscription
/// and why, and the host runs on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cannot_subscribe_to_the_lattice_or_to_others_replies() {
    let nats = NatsServer::start();
    for subscriptions in [">", "*.default.rpc.>", "lattice.>", "_INBOX.>"] {
        let host = lattice_tests::hosts::dev_host();
        let manifest = ManifestBuilder::new()
            .actor("hostile", &fixtures::wasm("messaging_publish_anywhere"))
            .provider("nats", "messaging-nats")
            .config(&[("url", &nats.url())])
            .link("nats", "hostile", "wasmcloud:messaging/handler")
            .source_config(&[("subscriptions", subscriptions)])
            .build();
        let error = host.apply(&manifest).await.unwrap_err().to_string();
        assert!(
            error.contains(&format!("subscription \"{subscriptions}\" refused")),
            "{subscriptions}: {error}"
        );
        host.shutdown(Duration::from_secs(1)).await;
    }
}

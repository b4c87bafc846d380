//! Hosts answer only on reply inboxes (`_INBOX.…`). A request names its
//! own reply subject, and NATS checks the requester's right to publish on
//! the request's subject only; a host that answered wherever it was told
//! would write, with its own unrestricted credentials, where the requester
//! may not: a `CALLER` that may only ping could put the host's answer into
//! the lattice's state bucket, over the apps record or a signed link.
//!
//! The signal: the state bucket's keys named as reply subjects stay
//! untouched, while the same requests with an inbox are answered (issue
//! 29, finding 2; before the fix the ping answer and the invocation's
//! refusal landed in the bucket).

use std::time::Duration;

use futures::StreamExt as _;
use lattice_tests::hosts;
use lattice_tests::nats::{self, NatsServer};

/// The keys the attack aims at.
const APPS_KEY: &str = "apps";
const LINK_KEY: &str = "link.http.wasi.http.default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_answers_only_on_reply_inboxes_never_into_the_state_bucket() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    hosts::start_fixture(&host, "hello", "hello").await;
    let client = nats.client().await;
    let bucket = async_nats::jetstream::new(client.clone())
        .get_key_value("LATTICE_default")
        .await
        .expect("the host made the state bucket");
    let mut apps = bucket.watch(APPS_KEY).await.unwrap();
    let mut link = bucket.watch(LINK_KEY).await.unwrap();

    // The actor's call subject is served: an inbox gets the refusal of a
    // garbage invocation.
    let rpc = "lattice.default.rpc.hello";
    nats::ask_until_answered(&client, rpc, "garbage", Duration::from_secs(10)).await;
    let ping = "lattice.default.ctl.v1.host.ping";
    assert!(
        client.request(ping, "{}".into()).await.is_ok(),
        "a ping with an inbox is answered"
    );

    // The same requests, told to answer into the bucket.
    for (subject, reply, body) in [
        (ping, format!("$KV.LATTICE_default.{APPS_KEY}"), "{}"),
        (rpc, format!("$KV.LATTICE_default.{LINK_KEY}"), "garbage"),
        (ping, "lattice.default.ctl.v1.host.stop".to_string(), "{}"),
    ] {
        client
            .publish_with_reply(subject, reply, body.into())
            .await
            .unwrap();
    }
    client.flush().await.unwrap();

    // Nothing arrives in the bucket: the host would have written within
    // milliseconds; two seconds is the window.
    let written = tokio::time::timeout(Duration::from_secs(2), async {
        tokio::select! {
            entry = apps.next() => format!("apps: {entry:?}"),
            entry = link.next() => format!("link: {entry:?}"),
        }
    })
    .await;
    assert!(
        written.is_err(),
        "the host answered into the bucket: {written:?}"
    );
    // And the host, told to answer on its own stop subject, still runs.
    assert!(client.request(ping, "{}".into()).await.is_ok());
    hosts::leave(lattice, host).await;
}

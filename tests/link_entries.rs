//! Links in the lattice's bucket are signed by the host that wrote them.
//!
//! Whoever can write the bucket without a host's cluster key (a plain NATS
//! client, a compromised provider process, an actor that got a messaging
//! link to `$KV.>`) cannot add a link: hosts refuse the entry, leave it out
//! of `link.get`, and announce it as a `link_refused` event. The tests write
//! entries straight into the bucket with a plain JetStream client and read
//! what the hosts apply, list and announce.

use std::time::Duration;

use bytes::Bytes;
use lattice_interfaces::protocol::control::{op, Empty};
use lattice_interfaces::protocol::link_entry;
use lattice_tests::hosts::{self, http_link};
use lattice_tests::lattice::Control;
use lattice_tests::nats::{self, NatsServer};

const KEY: &str = "link.http.wasi.http.default";

async fn bucket(url: &str) -> async_nats::jetstream::kv::Store {
    async_nats::jetstream::new(async_nats::connect(url).await.unwrap())
        .get_key_value("LATTICE_default")
        .await
        .unwrap()
}

/// The key of the next `link_refused` event, failing the test after 10 s.
async fn refused_key(events: &mut async_nats::Subscriber) -> String {
    let event = nats::next_message(events, Duration::from_secs(10)).await;
    let value: serde_json::Value = serde_json::from_slice(&event.payload).unwrap();
    value["data"]["key"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_written_straight_into_the_bucket_changes_nothing_and_raises_an_event() {
    let nats = NatsServer::start();
    let (_, (host, lattice), _b) = hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.link_refused").await;
    let kv = bucket(&nats.url()).await;
    let link = http_link("http", "hello", "127.0.0.1:1");

    // A bare link, as any NATS client could write it.
    kv.put(KEY, Bytes::from(serde_json::to_vec(&link).unwrap()))
        .await
        .unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);

    // Properly signed, but by a cluster key no host trusts.
    let (_, forged) = link_entry::seal(&link, 1, &nkeys::KeyPair::new_cluster()).unwrap();
    kv.put(KEY, Bytes::from(forged)).await.unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);

    // Neither took effect, nor is listed.
    assert!(host.links().is_empty(), "{:?}", host.links());
    let ctl = Control::connect(&nats.url(), "default").await;
    assert!(ctl.ok::<op::GetLinks>(None, Empty {}).await.is_empty());

    // A link put through a host is signed by it and taken; a forgery over
    // it changes nothing on the hosts that serve it.
    lattice.put_link(link.clone()).await.unwrap();
    lattice_tests::eventually("the real link to apply", async || {
        (host.links() == [link.clone()]).then_some(())
    })
    .await;
    let (_, forged) = link_entry::seal(
        &http_link("http", "evil", "127.0.0.1:2"),
        u64::MAX,
        &nkeys::KeyPair::new_cluster(),
    )
    .unwrap();
    kv.put(KEY, Bytes::from(forged)).await.unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);
    assert_eq!(host.links(), [link]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_development_host_still_refuses_unsigned_and_changed_entries() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::joined(&nats.url(), hosts::unsigned_allowed()).await;
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.link_refused").await;
    let kv = bucket(&nats.url()).await;

    let link = http_link("http", "hello", "127.0.0.1:1");
    lattice.put_link(link.clone()).await.unwrap();
    let stored = kv.get(KEY).await.unwrap().unwrap();
    let changed = String::from_utf8(stored.to_vec())
        .unwrap()
        .replace("\"hello\"", "\"evil\"");
    kv.put(KEY, Bytes::from(changed)).await.unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);

    kv.put(KEY, Bytes::from_static(b"\xff not json"))
        .await
        .unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);
    assert_eq!(host.links(), [link]);
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_config_written_straight_into_the_bucket_changes_nothing_and_raises_an_event() {
    let nats = NatsServer::start();
    let (_, (host, lattice), _b) = hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.config_refused").await;
    let kv = bucket(&nats.url()).await;
    let name = hosts::id("db");
    let real = link_entry::NamedConfig::from([("url".to_string(), "redis://db".to_string())]);
    lattice.put_config(&name, &real).await.unwrap();
    lattice_tests::eventually("the real config to apply", async || {
        (host.named_config().get(&name).as_ref() == Some(&real)).then_some(())
    })
    .await;

    // Bare config, and config signed by a key no host trusts: refused, and
    // the actors' config stays what a host wrote.
    let evil = link_entry::NamedConfig::from([("url".to_string(), "redis://evil".to_string())]);
    kv.put("config.db", Bytes::from(serde_json::to_vec(&evil).unwrap()))
        .await
        .unwrap();
    assert_eq!(refused_key(&mut events).await, "config.db");
    let forged =
        link_entry::seal_config("config.db", &evil, u64::MAX, &nkeys::KeyPair::new_cluster())
            .unwrap();
    kv.put("config.db", Bytes::from(forged)).await.unwrap();
    assert_eq!(refused_key(&mut events).await, "config.db");
    assert_eq!(host.named_config().get(&name), Some(real));
    // `config get` through a host refuses to show the forgery as config.
    let ctl = Control::connect(&nats.url(), "default").await;
    let message = ctl
        .refused::<op::GetConfig>(
            None,
            lattice_interfaces::protocol::control::ConfigName { name: name.clone() },
        )
        .await;
    assert!(message.contains("not a trusted cluster key"), "{message}");
}

/// Deletes and rollbacks need the cluster key too (issue 29, finding 8):
/// an entry a host signed earlier, put back over a newer one, is refused as
/// older than what was applied, and a bare delete of the key (any client
/// that may write the bucket) deletes nothing; a delete through a host
/// carries a signed tombstone and is applied. Before, both the rollback
/// and the bare delete took effect on every host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_entry_put_back_or_a_bare_delete_changes_nothing() {
    let nats = NatsServer::start();
    let (_, (host, lattice), _b) = hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.link_refused").await;
    let kv = bucket(&nats.url()).await;
    let first = http_link("http", "hello", "127.0.0.1:1");
    let second = http_link("http", "hello", "127.0.0.1:2");
    lattice.put_link(first.clone()).await.unwrap();
    let old = kv.get(KEY).await.unwrap().unwrap();
    lattice.replace_link(second.clone()).await.unwrap();
    lattice_tests::eventually("the newer link to apply", async || {
        (host.links() == [second.clone()]).then_some(())
    })
    .await;

    // The first entry, signed by the same host, put back.
    kv.put(KEY, old).await.unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);
    assert_eq!(host.links(), std::slice::from_ref(&second));

    // A delete with no tombstone.
    kv.delete(KEY).await.unwrap();
    assert_eq!(refused_key(&mut events).await, KEY);
    assert_eq!(host.links(), std::slice::from_ref(&second));

    // A delete through a host is signed and taken by every host.
    lattice.replace_link(second.clone()).await.unwrap();
    assert!(lattice.delete_link_if_unchanged(&second).await.unwrap());
    lattice_tests::eventually("the signed delete to apply", async || {
        host.links().is_empty().then_some(())
    })
    .await;
}

/// The watch is checked after 10 s without a change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_whose_link_watch_is_down_says_it_is_not_ready() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let ready = lattice.readiness_probe();
    assert_eq!(ready(), Ok(()));
    // The lattice's bucket goes (a JetStream store lost, an operator's
    // mistake): the watch ends and cannot be opened again.
    let js = async_nats::jetstream::new(nats.client().await);
    js.delete_key_value("LATTICE_default").await.unwrap();
    let reason =
        lattice_tests::eventually("the host to say it is not ready", async || ready().err()).await;
    assert!(
        reason.contains("watch of the lattice's links is down"),
        "{reason}"
    );
    // A host that joins makes the bucket again: the first one follows it
    // again and is ready.
    let (other, other_lattice) = hosts::dev_lattice(&nats.url()).await;
    lattice_tests::eventually("the host to be ready again", async || ready().ok()).await;
    hosts::leave(other_lattice, other).await;
    hosts::leave(lattice, host).await;
}

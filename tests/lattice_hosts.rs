//! Hosts joined over NATS form one lattice, driven by control messages.
//!
//! This is what makes Lattice distributed: any client of the control
//! protocol can find the hosts, place actors by label, scale, update and
//! stop them, and put links through any host that every other host then
//! applies. The tests run real `lattice-host` processes on a real
//! `nats-server`, drive them with the typed control client (garbage goes
//! raw), and read replies, inventories, events and HTTP answers. That
//! `docs/protocol.md` says the same is checked by `protocol_doc`.

use std::time::Duration;

use futures::StreamExt as _;
use lattice_interfaces::protocol::control::*;
use lattice_interfaces::{HostId, Link};
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::lattice::{scale, start_provider, Control, HostProcess, RawControl};
use lattice_tests::nats::{self, NatsServer};
use lattice_tests::{eventually, fixtures};
use serde_json::Value;

fn host_binary() -> String {
    lattice_tests::fixtures::binary("lattice-host")
}

fn host(nats: &NatsServer, lattice: &str, extra: &[&str]) -> HostProcess {
    HostProcess::start(&host_binary(), &nats.url(), lattice, extra)
}

fn hello() -> String {
    fixtures::wasm("hello").display().to_string()
}

/// `N` hosts joined to lattice `default` on `nats` with `extra`
/// arguments, and a control client for it.
async fn started<const N: usize>(nats: &NatsServer, extra: &[&str]) -> ([HostProcess; N], Control) {
    let hosts = std::array::from_fn(|_| host(nats, "default", extra));
    (hosts, Control::connect(&nats.url(), "default").await)
}

/// An `http-server` link from `source` to `hello` listening on `address`.
fn http_link(source: &str, address: &str) -> Link {
    hosts::http_link(source, "hello", address)
}

fn free_address() -> String {
    format!("127.0.0.1:{}", lattice_tests::free_port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_answer_ping_and_an_auction_picks_only_matching_labels() {
    let nats = NatsServer::start();
    let a = host(&nats, "t1", &["--label", "zone=east"]);
    let b = host(&nats, "t1", &["--label", "zone=west"]);
    let c = host(&nats, "t1", &["--label", "zone=east", "--label", "gpu=yes"]);
    let ctl = Control::connect(&nats.url(), "t1").await;

    let mut expected = vec![a.id().to_string(), b.id().to_string(), c.id().to_string()];
    expected.sort();
    assert_eq!(ctl.ping_ids().await, expected);
    let pings = ctl.gather::<op::Ping>(Empty {}).await;
    let labels = &pings.iter().find(|p| p.host_id == c.id()).unwrap().labels;
    assert_eq!(
        (labels.get("zone"), labels.get("gpu")),
        (Some(&"east".to_string()), Some(&"yes".to_string()))
    );
    assert!(["hostname", "os", "arch"]
        .iter()
        .all(|k| labels.contains_key(*k)));

    let auction = ActorAuction {
        actor_id: id("hello"),
        actor_ref: hello(),
        constraints: [("zone".to_string(), "east".to_string())].into(),
    };
    let mut bidders: Vec<HostId> = ctl
        .gather::<op::AuctionActor>(auction)
        .await
        .into_iter()
        .map(|ack| ack.host_id)
        .collect();
    bidders.sort();
    let mut east = vec![a.id().clone(), c.id().clone()];
    east.sort();
    assert_eq!(bidders, east);
    let gpu = ctl
        .gather::<op::AuctionProvider>(ProviderAuction {
            provider_id: id("http"),
            reference: "http-server".into(),
            constraints: [("gpu".to_string(), "yes".to_string())].into(),
        })
        .await;
    assert_eq!(gpu.len(), 1);
    assert_eq!(gpu[0].host_id, c.id());
    // Another lattice on the same server sees none of them.
    assert!(Control::connect(&nats.url(), "t2")
        .await
        .ping_ids()
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_update_and_stop_show_in_inventory_and_events() {
    let nats = NatsServer::start();
    let ([h], ctl) = started(&nats, &[]).await;
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.>").await;
    let on = Some(h.id());

    ctl.ok::<op::ScaleActor>(on, scale("hello", &hello(), 5))
        .await;
    let inventory = ctl.ok::<op::Inventory>(on, Empty {}).await;
    let actor = &inventory.actors[0];
    assert_eq!(
        (actor.id.as_str(), actor.max_instances, actor.instance_reuse),
        ("hello", 5, 1)
    );
    assert_eq!(inventory.host.host_id, h.id());

    // Instance reuse is set through the same request; 0 is refused.
    let reuse = |n| ScaleActor {
        instance_reuse: Some(n),
        ..scale("hello", &hello(), 5)
    };
    ctl.ok::<op::ScaleActor>(on, reuse(50)).await;
    let inventory = ctl.ok::<op::Inventory>(on, Empty {}).await;
    assert_eq!(inventory.actors[0].instance_reuse, 50);
    let refused = ctl.refused::<op::ScaleActor>(on, reuse(0)).await;
    assert!(
        refused.contains("instance_reuse must be at least 1"),
        "{refused}"
    );

    // The same id with another component is an error that says so.
    let other = fixtures::wasm("http_panic").display().to_string();
    let refused = ctl
        .refused::<op::ScaleActor>(on, scale("hello", &other, 5))
        .await;
    assert!(refused.contains("use update"), "{refused}");

    let update = UpdateActor {
        actor_id: id("hello"),
        new_actor_ref: other.clone(),
    };
    ctl.ok::<op::UpdateActor>(on, update).await;
    let inventory = ctl.ok::<op::Inventory>(on, Empty {}).await;
    assert_eq!(inventory.actors[0].reference, other);

    // Stopping needs no reference: the host knows what runs.
    ctl.ok::<op::ScaleActor>(on, scale("hello", "", 0)).await;
    let inventory = ctl.ok::<op::Inventory>(on, Empty {}).await;
    assert!(inventory.actors.is_empty());

    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = nats::next_message(&mut events, Duration::from_secs(10)).await;
        let value: Value = serde_json::from_slice(&event.payload).unwrap();
        assert_eq!(value["specversion"], "1.0");
        let kind = event.subject.rsplit('.').next().unwrap().to_string();
        if kind != "host_heartbeat" {
            seen.push((kind, value["data"]["max_instances"].clone()));
        }
    }
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "actor_scaled",
            "actor_scaled",
            "actor_scale_failed",
            "actor_scale_failed",
            "actor_updated",
            "actor_scaled"
        ]
    );
    assert_eq!(seen[0].1, 5);
    assert_eq!(seen[5].1, 0);

    // A device is not a component: refused before a byte is read (it used
    // to be read to the end: 8 GiB of RSS in 11 s), the host unharmed.
    let refused = ctl
        .refused::<op::ScaleActor>(on, scale("zero", "/dev/zero", 1))
        .await;
    assert!(
        refused.contains("/dev/zero is not a regular file"),
        "{refused}"
    );
    ctl.ok::<op::Inventory>(on, Empty {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_put_through_one_host_serves_on_another_and_every_host_lists_it() {
    let nats = NatsServer::start();
    let ([serving, other], ctl) = started(&nats, &[]).await;
    ctl.ok::<op::ScaleActor>(Some(serving.id()), scale("hello", &hello(), 10))
        .await;
    ctl.ok::<op::StartProvider>(Some(serving.id()), start_provider("http", "http-server"))
        .await;

    let address = free_address();
    // Sent to the other host by name: it writes the lattice state; the serving host applies it.
    ctl.ok::<op::PutLink>(Some(other.id()), http_link("http", &address))
        .await;
    let client = HttpClient::default();
    let reply = eventually("the link to serve", async || {
        client
            .get(&format!("http://{address}/"))
            .await
            .ok()
            .filter(|r| r.status == 200)
    })
    .await;
    assert_eq!(reply.body, "Hello from Lattice!\n");

    for h in [&serving, &other] {
        let links = ctl.ok::<op::GetLinks>(Some(h.id()), Empty {}).await;
        assert_eq!(links.len(), 1, "{links:?}");
        assert_eq!(links[0].target.as_str(), "hello");
    }

    // Deleting through the other host stops the serving.
    let delete = LinkDel {
        source: id("http"),
        namespace: "wasi".into(),
        package: "http".into(),
        name: "default".into(),
    };
    ctl.ok::<op::DeleteLink>(Some(other.id()), delete).await;
    // Open keep-alive connections answer 404; new ones are refused.
    eventually("the link to stop serving", async || {
        let reply = client.get(&format!("http://{address}/")).await;
        reply.map_or(true, |r| r.status == 404).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_started_after_the_links_exist_serves_them() {
    let nats = NatsServer::start();
    let ([first], ctl) = started(&nats, &[]).await;
    let address = free_address();
    ctl.ok::<op::PutLink>(None, http_link("web", &address))
        .await;
    drop(first);

    let late = host(&nats, "default", &[]);
    ctl.ok::<op::ScaleActor>(Some(late.id()), scale("hello", &hello(), 10))
        .await;
    ctl.ok::<op::StartProvider>(Some(late.id()), start_provider("web", "http-server"))
        .await;
    http_client::get(&format!("http://{address}/"))
        .await
        .assert_answer(200, "Hello from Lattice!\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_drops_out_of_ping_and_its_heartbeats_stop() {
    let nats = NatsServer::start();
    let ([mut doomed, survivor], ctl) = started(&nats, &["--heartbeat-secs", "1"]).await;
    let subject = "lattice.default.evt.host_heartbeat";
    let mut heartbeats = nats::subscribe(&nats.url(), subject).await;
    assert_eq!(ctl.ping_ids().await.len(), 2);

    doomed.kill();
    assert_eq!(ctl.ping_ids().await, vec![survivor.id().to_string()]);
    // Over the next 3.5 s (three heartbeat periods), only the survivor beats.
    let mut beats = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(3500);
    while let Ok(Some(message)) = tokio::time::timeout_at(until, heartbeats.next()).await {
        let value: Value = serde_json::from_slice(&message.payload).unwrap();
        beats.push(value["data"]["host_id"].as_str().unwrap().to_string());
    }
    let after_kill: Vec<&String> = beats
        .iter()
        .skip_while(|id| id.as_str() == doomed.id().as_str())
        .collect();
    assert!(
        after_kill.len() >= 2,
        "the survivor kept beating: {beats:?}"
    );
    assert!(
        after_kill
            .iter()
            .all(|id| id.as_str() == survivor.id().as_str()),
        "{beats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_control_subject_gets_an_error_reply_and_changes_nothing() {
    let nats = NatsServer::start();
    let ([h], ctl) = started(&nats, &[]).await;
    let raw = RawControl::connect(&nats.url(), "default").await;
    ctl.ok::<op::ScaleActor>(Some(h.id()), scale("hello", &hello(), 3))
        .await;
    let before = ctl.ok::<op::Inventory>(Some(h.id()), Empty {}).await;

    let targeted = [
        "host.stop",
        "labels.put",
        "labels.del",
        "actor.scale",
        "actor.update",
        "provider.start",
        "provider.stop",
        "link.put",
        "link.del",
        "link.get",
        "claims.get",
        "config.put",
        "config.get",
        "config.del",
    ];
    let garbage: [&[u8]; 5] = [
        b"\xff\xfe\x00",
        b"{",
        b"[1,2,3]",
        b"{\"unexpected\": true, \"actor_id\": 7}",
        b"null",
    ];
    for op in targeted {
        for payload in garbage {
            let reply = raw
                .request_raw(op, Some(h.id().as_str()), payload.to_vec())
                .await;
            // link.get and claims.get take no body and accept only {} or nothing.
            assert_eq!(
                reply["success"],
                false,
                "{op} accepted {:?}: {reply}",
                String::from_utf8_lossy(payload)
            );
            let message = reply["message"].as_str().unwrap();
            assert!(
                !message.is_empty() && !message.contains('\n'),
                "{op}: {message:?}"
            );
        }
    }
    let reply = raw
        .request("nonsense.op", Some(h.id().as_str()), serde_json::json!({}))
        .await;
    assert_eq!(reply["message"], "unknown operation \"nonsense.op\"");
    let reply = raw
        .request_raw("config.put", Some(h.id().as_str()), vec![b' '; 600 << 10])
        .await;
    assert!(
        reply["message"].as_str().unwrap().contains("the limit is"),
        "{reply}"
    );
    // Input is echoed in part only: a 400 kB id does not come back whole.
    let huge = "x".repeat(400_000);
    let reply = raw
        .request(
            "config.get",
            Some(h.id().as_str()),
            serde_json::json!({ "name": huge }),
        )
        .await;
    let message = reply["message"].as_str().unwrap();
    assert!(message.len() < 1_000, "{} bytes", message.len());

    let after = ctl.ok::<op::Inventory>(Some(h.id()), Empty {}).await;
    assert_eq!(after.actors.len(), before.actors.len());
    assert_eq!(after.actors[0].id, before.actors[0].id);
    assert_eq!(ctl.ping_ids().await, vec![h.id().to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_link_puts_never_lose_one_and_a_clash_names_the_holder() {
    let nats = NatsServer::start();
    let (_hosts, ctl): ([_; 2], _) = started(&nats, &[]).await;

    let puts = (0..16).map(|i| {
        let ctl = ctl.clone();
        let mut link = hosts::link("hello", &format!("kv{i}"), "wasi:keyvalue/store");
        link.name = format!("n{i}");
        async move { ctl.client.request::<op::PutLink>(None, &link).await }
    });
    for reply in futures::future::join_all(puts).await {
        reply.unwrap();
    }
    let links = ctl.ok::<op::GetLinks>(None, Empty {}).await;
    assert_eq!(links.len(), 16);

    // Same key, different targets, at once: exactly one wins.
    let racers = (0..8).map(|i| {
        let ctl = ctl.clone();
        let link = hosts::link("api", &format!("t{i}"), "example:greet/hello");
        async move { ctl.client.request::<op::PutLink>(None, &link).await }
    });
    let replies = futures::future::join_all(racers).await;
    assert_eq!(
        replies.iter().filter(|r| r.is_ok()).count(),
        1,
        "{replies:?}"
    );
    let loser = replies.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert!(
        loser.to_string().contains("already holds source api"),
        "{loser}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_of_a_host_with_thousands_of_actors_arrives_whole() {
    // 6,000 actors of one component: an inventory of more than 1 MiB,
    // nats-server's largest message.
    const ACTORS: usize = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("many.toml");
    let actors: String = (0..ACTORS)
        .map(|i| format!("[[actors]]\nid = \"a{i}\"\npath = \"{}\"\n\n", hello()))
        .collect();
    std::fs::write(&manifest, actors).unwrap();
    let nats = NatsServer::start();
    let many = host(
        &nats,
        "default",
        &["--manifest", manifest.to_str().unwrap()],
    );
    let ctl = Control::connect(&nats.url(), "default").await;
    let inventory = eventually("the host to answer with every actor", async || {
        let inventory = ctl
            .client
            .request::<op::Inventory>(Some(many.id()), &Empty {})
            .await
            .ok()?;
        (inventory.actors.len() == ACTORS).then_some(inventory)
    })
    .await;
    let size = serde_json::to_vec(&inventory).unwrap().len();
    assert!(
        size > 1 << 20,
        "the inventory is only {size} bytes: the test needs more actors"
    );
    assert!(inventory.actors.iter().any(|a| a.id.as_str() == "a5999"));
}

//! Hosts joined over NATS form one lattice, driven by control messages.
//!
//! This is what makes Lattice distributed: any client that speaks the
//! protocol of `docs/protocol.md` can find the hosts, place actors by label,
//! scale, update and stop them, and put links through any host that every
//! other host then applies. The tests run real `lattice-host` processes on a
//! real `nats-server` and speak the protocol with raw NATS messages and JSON;
//! they read replies, inventories, events and HTTP answers.

// Test and bench code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use futures::StreamExt as _;
use lattice_tests::fixtures;
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::{HostProcess, RawControl};
use lattice_tests::nats::NatsServer;
use serde_json::{json, Value};

const HOST: &str = env!("CARGO_BIN_EXE_lattice-host");

fn host(nats: &NatsServer, lattice: &str, extra: &[&str]) -> HostProcess {
    HostProcess::start(HOST, &nats.url(), lattice, extra)
}

fn hello() -> String {
    fixtures::wasm("hello").display().to_string()
}

fn free_address() -> String {
    format!("127.0.0.1:{}", lattice_tests::free_port())
}

/// Polls `check` every 50 ms for up to 20 s.
async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hosts_answer_ping_and_an_auction_picks_only_matching_labels() {
    let nats = NatsServer::start();
    let a = host(&nats, "t1", &["--label", "zone=east"]);
    let b = host(&nats, "t1", &["--label", "zone=west"]);
    let c = host(&nats, "t1", &["--label", "zone=east", "--label", "gpu=yes"]);
    let ctl = RawControl::connect(&nats.url(), "t1").await;

    let mut expected = vec![a.id().to_string(), b.id().to_string(), c.id().to_string()];
    expected.sort();
    assert_eq!(ctl.ping_ids().await, expected);
    let pings = ctl
        .gather("host.ping", json!({}), Duration::from_secs(1))
        .await;
    let labels = &pings.iter().find(|p| p["host_id"] == c.id()).unwrap()["labels"];
    assert_eq!(
        (labels["zone"].as_str(), labels["gpu"].as_str()),
        (Some("east"), Some("yes"))
    );
    assert!(
        labels["hostname"].is_string() && labels["os"].is_string() && labels["arch"].is_string()
    );

    let auction =
        json!({"actor_id": "hello", "actor_ref": hello(), "constraints": {"zone": "east"}});
    let mut bidders: Vec<String> = ctl
        .gather("actor.auction", auction, Duration::from_secs(1))
        .await
        .iter()
        .map(|ack| ack["host_id"].as_str().unwrap().to_string())
        .collect();
    bidders.sort();
    let mut east = vec![a.id().to_string(), c.id().to_string()];
    east.sort();
    assert_eq!(bidders, east);
    let gpu = ctl.gather("provider.auction", json!({"provider_id": "http", "provider_ref": "http-server", "constraints": {"gpu": "yes"}}), Duration::from_secs(1)).await;
    assert_eq!(gpu.len(), 1);
    assert_eq!(gpu[0]["host_id"], c.id());
    // Another lattice on the same server sees none of them.
    assert!(RawControl::connect(&nats.url(), "t2")
        .await
        .ping_ids()
        .await
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_update_and_stop_show_in_inventory_and_events() {
    let nats = NatsServer::start();
    let h = host(&nats, "default", &[]);
    let ctl = RawControl::connect(&nats.url(), "default").await;
    let mut events = ctl.nats.subscribe("lattice.default.evt.>").await.unwrap();
    ctl.nats.flush().await.unwrap();

    ctl.ok(
        "actor.scale",
        Some(h.id()),
        json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 5}),
    )
    .await;
    let inventory = ctl.ok("host.inventory", Some(h.id()), json!({})).await;
    assert_eq!(inventory["actors"][0]["id"], "hello");
    assert_eq!(inventory["actors"][0]["max_instances"], 5);
    assert_eq!(inventory["actors"][0]["instance_reuse"], 1);
    assert_eq!(inventory["host"]["host_id"], h.id());

    // Instance reuse is set through the same request; 0 is refused.
    ctl.ok(
        "actor.scale",
        Some(h.id()),
        json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 5, "instance_reuse": 50}),
    )
    .await;
    let inventory = ctl.ok("host.inventory", Some(h.id()), json!({})).await;
    assert_eq!(inventory["actors"][0]["instance_reuse"], 50);
    let reply = ctl
        .request(
            "actor.scale",
            Some(h.id()),
            json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 5, "instance_reuse": 0}),
        )
        .await;
    assert_eq!(reply["success"], false);
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("instance_reuse must be at least 1"),
        "{reply}"
    );

    // The same id with another component is an error that says so.
    let other = fixtures::wasm("http_panic").display().to_string();
    let reply = ctl
        .request(
            "actor.scale",
            Some(h.id()),
            json!({"actor_id": "hello", "actor_ref": other, "max_instances": 5}),
        )
        .await;
    assert_eq!(reply["success"], false);
    assert!(
        reply["message"].as_str().unwrap().contains("use update"),
        "{reply}"
    );

    ctl.ok(
        "actor.update",
        Some(h.id()),
        json!({"actor_id": "hello", "new_actor_ref": other}),
    )
    .await;
    let inventory = ctl.ok("host.inventory", Some(h.id()), json!({})).await;
    assert_eq!(inventory["actors"][0]["reference"], other);

    ctl.ok(
        "actor.scale",
        Some(h.id()),
        json!({"actor_id": "hello", "actor_ref": "", "max_instances": 0}),
    )
    .await;
    let inventory = ctl.ok("host.inventory", Some(h.id()), json!({})).await;
    assert_eq!(inventory["actors"], json!([]));

    let mut seen = Vec::new();
    while seen.len() < 6 {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .unwrap()
            .unwrap();
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_put_through_one_host_serves_on_another_and_every_host_lists_it() {
    let nats = NatsServer::start();
    let serving = host(&nats, "default", &[]);
    let other = host(&nats, "default", &[]);
    let ctl = RawControl::connect(&nats.url(), "default").await;
    ctl.ok(
        "actor.scale",
        Some(serving.id()),
        json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 10}),
    )
    .await;
    ctl.ok(
        "provider.start",
        Some(serving.id()),
        json!({"provider_id": "http", "provider_ref": "http-server"}),
    )
    .await;

    let address = free_address();
    let link = json!({
        "source": "http", "target": "hello", "namespace": "wasi", "package": "http",
        "interfaces": ["incoming-handler"], "source_config": {"address": address}
    });
    // Sent to the other host by name: it writes the lattice state; the serving host applies it.
    ctl.ok("link.put", Some(other.id()), link).await;
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
        let links = ctl.ok("link.get", Some(h.id()), json!({})).await;
        assert_eq!(links.as_array().unwrap().len(), 1, "{links}");
        assert_eq!(links[0]["target"], "hello");
    }

    // Deleting through the other host stops the serving.
    ctl.ok(
        "link.del",
        Some(other.id()),
        json!({"source": "http", "namespace": "wasi", "package": "http"}),
    )
    .await;
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
    let first = host(&nats, "default", &[]);
    let ctl = RawControl::connect(&nats.url(), "default").await;
    let address = free_address();
    ctl.ok(
        "link.put",
        None,
        json!({
            "source": "web", "target": "hello", "namespace": "wasi", "package": "http",
            "interfaces": ["incoming-handler"], "source_config": {"address": address}
        }),
    )
    .await;
    drop(first);

    let late = host(&nats, "default", &[]);
    ctl.ok(
        "actor.scale",
        Some(late.id()),
        json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 10}),
    )
    .await;
    ctl.ok(
        "provider.start",
        Some(late.id()),
        json!({"provider_id": "web", "provider_ref": "http-server"}),
    )
    .await;
    let reply = HttpClient::default()
        .get(&format!("http://{address}/"))
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "Hello from Lattice!\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_host_drops_out_of_ping_and_its_heartbeats_stop() {
    let nats = NatsServer::start();
    let mut doomed = host(&nats, "default", &["--heartbeat-secs", "1"]);
    let survivor = host(&nats, "default", &["--heartbeat-secs", "1"]);
    let ctl = RawControl::connect(&nats.url(), "default").await;
    let mut heartbeats = ctl
        .nats
        .subscribe("lattice.default.evt.host_heartbeat")
        .await
        .unwrap();
    ctl.nats.flush().await.unwrap();
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
    let after_kill: Vec<&String> = beats.iter().skip_while(|id| *id == doomed.id()).collect();
    assert!(
        after_kill.len() >= 2,
        "the survivor kept beating: {beats:?}"
    );
    assert!(
        after_kill.iter().all(|id| *id == survivor.id()),
        "{beats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_every_control_subject_gets_an_error_reply_and_changes_nothing() {
    let nats = NatsServer::start();
    let h = host(&nats, "default", &[]);
    let ctl = RawControl::connect(&nats.url(), "default").await;
    ctl.ok(
        "actor.scale",
        Some(h.id()),
        json!({"actor_id": "hello", "actor_ref": hello(), "max_instances": 3}),
    )
    .await;
    let before = ctl.ok("host.inventory", Some(h.id()), json!({})).await;

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
            let reply = ctl.request_raw(op, Some(h.id()), payload.to_vec()).await;
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
    let reply = ctl.request("nonsense.op", Some(h.id()), json!({})).await;
    assert_eq!(reply["message"], "unknown operation \"nonsense.op\"");
    let reply = ctl
        .request_raw("config.put", Some(h.id()), vec![b' '; 600 << 10])
        .await;
    assert!(
        reply["message"].as_str().unwrap().contains("the limit is"),
        "{reply}"
    );

    let after = ctl.ok("host.inventory", Some(h.id()), json!({})).await;
    assert_eq!(after["actors"], before["actors"]);
    assert_eq!(ctl.ping_ids().await, vec![h.id().to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_link_puts_never_lose_one_and_a_clash_names_the_holder() {
    let nats = NatsServer::start();
    let _a = host(&nats, "default", &[]);
    let _b = host(&nats, "default", &[]);
    let ctl = RawControl::connect(&nats.url(), "default").await;

    let puts = (0..16).map(|i| {
        let ctl = ctl.clone();
        async move {
            ctl.request("link.put", None, json!({
                "source": "hello", "target": format!("kv{i}"), "namespace": "wasi", "package": "keyvalue",
                "interfaces": ["store"], "name": format!("n{i}")
            })).await
        }
    });
    for reply in futures::future::join_all(puts).await {
        assert_eq!(reply["success"], true, "{reply}");
    }
    let links = ctl.ok("link.get", None, json!({})).await;
    assert_eq!(links.as_array().unwrap().len(), 16);

    // Same key, different targets, at once: exactly one wins.
    let racers = (0..8).map(|i| {
        let ctl = ctl.clone();
        async move {
            ctl.request("link.put", None, json!({
                "source": "api", "target": format!("t{i}"), "namespace": "example", "package": "greet",
                "interfaces": ["hello"]
            })).await
        }
    });
    let replies = futures::future::join_all(racers).await;
    let winners: Vec<&Value> = replies.iter().filter(|r| r["success"] == true).collect();
    assert_eq!(winners.len(), 1, "{replies:?}");
    let loser = replies.iter().find(|r| r["success"] == false).unwrap();
    assert!(
        loser["message"]
            .as_str()
            .unwrap()
            .contains("already holds source api"),
        "{loser}"
    );
}

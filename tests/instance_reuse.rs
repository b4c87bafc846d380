//! Instance reuse: an actor that opts in (`instance_reuse = N`) serves up
//! to N HTTP calls from one instance, its memory living on between them;
//! every other actor gets a fresh instance per call.
//!
//! The `http_calls_seen` fixture answers how many calls its instance has
//! served. Reused, sequential calls count 1, 2, …, N and start again at 1;
//! fresh, every call says 1. A call that traps takes its instance with it:
//! the next call starts on a fresh one.

use std::time::Duration;

use lattice_interfaces::Manifest;
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::HttpClient;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::{eventually_within, fixtures};

/// Both actors on one address, routed by path.
fn manifest(address: &str) -> Manifest {
    let wasm = fixtures::wasm("http_calls_seen");
    let mut manifest = ManifestBuilder::new()
        .actor("reused", &wasm)
        .set("instance_reuse", 3)
        .actor("fresh", &wasm)
        .provider("http", "http-server");
    for actor in ["reused", "fresh"] {
        manifest = manifest
            .link("http", actor, "wasi:http/incoming-handler")
            .name(actor)
            .source_config(&[("address", address), ("path", &format!("/{actor}"))]);
    }
    manifest.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_that_opts_in_serves_calls_from_one_instance_and_others_start_fresh() {
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    let host = hosts::applied(&manifest(&address)).await;
    let base = format!("http://{address}/");
    let client = HttpClient::default();
    let actor = |name: &str| host.actor(&id(name)).unwrap();
    let (reused_actor, fresh_actor) = (actor("reused"), actor("fresh"));
    // One call, and the instance back (the response can reach the client
    // a moment before the guest's handler returns).
    let call = |path: &'static str| {
        let (client, url) = (client.clone(), format!("{base}{path}"));
        let actor = if path.starts_with("reused") {
            reused_actor.clone()
        } else {
            fresh_actor.clone()
        };
        async move {
            let reply = client.get_reply(&url).await;
            let ended = async || (actor.instances_in_use() == 0).then_some(());
            eventually_within("the call to end", Duration::from_secs(10), ended).await;
            reply
        }
    };
    let seen = |path: &'static str| {
        let reply = call(path);
        async move {
            let reply = reply.await;
            reply.assert_status(200);
            reply.body.trim().parse::<u64>().unwrap()
        }
    };

    // One after another: one instance serves three calls, then a new one.
    let mut reused = Vec::new();
    for _ in 0..7 {
        reused.push(seen("reused").await);
    }
    assert_eq!(reused, [1, 2, 3, 1, 2, 3, 1]);
    let mut fresh = Vec::new();
    for _ in 0..3 {
        fresh.push(seen("fresh").await);
    }
    assert_eq!(fresh, [1, 1, 1]);

    // A trap ends its instance: the call after it starts fresh.
    call("reused/trap").await.assert_status(500);
    assert_eq!(seen("reused").await, 1);
    assert_eq!(seen("reused").await, 2);

    assert_eq!(reused_actor.warm_instances(), 1);
    assert_eq!(fresh_actor.warm_instances(), 0);
    host.shutdown(Duration::from_secs(1)).await;
}

#[test]
fn instance_reuse_of_zero_is_refused_with_the_reason() {
    let error =
        Manifest::from_toml("[[actors]]\nid = \"a\"\npath = \"a.wasm\"\ninstance_reuse = 0\n")
            .unwrap_err()
            .to_string();
    assert!(
        error.contains("instance_reuse must be at least 1"),
        "{error}"
    );
}

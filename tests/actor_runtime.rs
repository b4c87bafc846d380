//! Misbehaving guests fail their own call and nothing else.
//!
//! A host runs actors from many teams; one that loops forever, eats memory or
//! panics must get its caller a 5xx with the reason while every other actor,
//! and later calls to the same one, are served as before. Each test runs the
//! `hello` actor beside a misbehaving fixture on one address (paths route
//! between them) and reads the HTTP status and body a client sees.

use std::sync::Arc;
use std::time::Duration;

use lattice_host::{ActorLimits, Host};
use lattice_tests::fixtures;
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::HttpClient;
use lattice_tests::manifest::ManifestBuilder;

/// A host running `hello` at `/` beside a misbehaving fixture at `/bad`,
/// and a client to call them.
struct Beside {
    host: Host,
    /// The base URL of the hello link.
    hello: String,
    /// The base URL of the bad link (each link asks for its own port).
    bad: String,
    client: HttpClient,
    _cache: tempfile::TempDir,
}

/// A host with a compile cache of its own running `hello` and `fixture`,
/// with `limit` (a TOML key and its value) on the fixture.
async fn hello_beside(fixture: &str, limit: Option<(&str, u64)>) -> Beside {
    let manifest = ManifestBuilder::new()
        .actor("hello", &fixtures::wasm("hello"))
        .actor("bad", &fixtures::wasm(fixture));
    let manifest = match limit {
        Some((key, value)) => manifest.set(key, value),
        None => manifest,
    }
    .provider("http", "http-server")
    .http_link("http", "hello", "127.0.0.1:0")
    .link("http", "bad", "wasi:http/incoming-handler")
    .name("bad")
    .source_config(&[("address", "127.0.0.1:0"), ("path", "/bad")])
    .build();
    let cache = tempfile::tempdir().unwrap();
    let host = hosts::host(hosts::unsigned_allowed(), Some(cache.path()));
    host.apply(&manifest).await.unwrap();
    let endpoints = host.http_endpoints();
    let find = |target: &str| {
        endpoints
            .iter()
            .find(|e| e.link.target.as_str() == target)
            .map(|e| e.url())
            .unwrap()
    };
    Beside {
        hello: find("hello"),
        bad: find("bad"),
        host,
        client: HttpClient::default(),
        _cache: cache,
    }
}

impl Beside {
    /// Fails the test unless hello answers as it always does.
    async fn assert_hello_serves(&self) {
        self.client
            .get_reply(&self.hello)
            .await
            .assert_answer(200, "Hello from Lattice!\n");
    }

    /// Fails the test unless actor `bad` counted `calls` calls, all failed.
    fn assert_all_failed(&self, calls: u64) {
        let stats = self.host.actor(&id("bad")).unwrap().stats();
        assert_eq!((stats.calls, stats.failed), (calls, calls));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_loops_forever_gets_504_at_its_deadline_and_others_keep_serving() {
    let t = hello_beside("http_loop_forever", Some(("timeout_ms", 1500))).await;
    let looping = tokio::spawn({
        let (client, bad) = (t.client.clone(), t.bad.clone());
        async move { client.get_reply(&bad).await }
    });
    // While the guest spins, hello still answers.
    lattice_tests::wait_for(
        "the looping guest to hold an instance",
        Duration::from_secs(10),
        || (t.host.actor(&id("bad"))?.instances_in_use() == 1).then_some(()),
    );
    t.assert_hello_serves().await;

    let reply = looping.await.unwrap();
    reply.assert_error(504, "actor \"bad\"");
    assert!(reply.body.contains("deadline"), "{}", reply.body);
    t.assert_hello_serves().await;
    t.assert_all_failed(1);
    t.host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_grows_past_its_memory_limit_gets_500_naming_the_limit() {
    let t = hello_beside("http_memory_bomb", Some(("memory_limit_mib", 16))).await;
    for _ in 0..3 {
        let reply = t.client.get_reply(&t.bad).await;
        reply.assert_error(500, "exceeded its memory limit of 16 MiB");
        t.assert_hello_serves().await;
    }
    t.host.shutdown(Duration::from_secs(1)).await;
}

/// A component of two core modules with a memory each; one call grows
/// both by `pages` pages (64 KiB each).
const TWO_MEMORIES: &str = r#"
(component
  (core module $a
    (memory 1)
    (func (export "grow") (param i32) (result i32)
      (memory.grow (local.get 0))))
  (core module $b
    (import "a" "grow" (func $grow_a (param i32) (result i32)))
    (memory 1)
    (func (export "grow") (param i32) (result i32)
      (drop (call $grow_a (local.get 0)))
      (memory.grow (local.get 0))))
  (core instance $ia (instantiate $a))
  (core instance $ib (instantiate $b (with "a" (instance $ia))))
  (func $grow (param "pages" u32) (result s32) (canon lift (core func $ib "grow")))
  (instance $api (export "grow" (func $grow)))
  (export "lattice:test/memories" (instance $api)))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_limit_holds_for_all_of_an_instances_memories_together() {
    let host = hosts::dev_host();
    let limits = ActorLimits {
        memory_limit: 16 << 20,
        ..ActorLimits::default()
    };
    let actor = host
        .start_actor_from_bytes(
            id("greedy"),
            "two-memories.wasm",
            wat::parse_str(TWO_MEMORIES).unwrap(),
            limits,
        )
        .await
        .unwrap();
    let grow = |pages: u32| {
        let actor = actor.clone();
        async move {
            actor
                .call_function(
                    "lattice:test/memories",
                    "grow",
                    vec![wasmtime::component::Val::U32(pages)],
                )
                .await
        }
    };
    // 2 × (1 + 96) pages = 12.1 MiB: within 16 MiB.
    assert!(grow(96).await.is_ok());
    // 2 × (1 + 160) pages = 20.1 MiB: each memory alone (10 MiB) would fit.
    let error = grow(160).await.unwrap_err().message;
    assert!(
        error.contains("exceeded its memory limit of 16 MiB"),
        "{error}"
    );
    assert!(
        grow(96).await.is_ok(),
        "the next call runs in a fresh instance"
    );
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_panics_gets_500_and_the_next_call_is_served_again() {
    let t = hello_beside("http_panic", None).await;
    for _ in 0..3 {
        let reply = t.client.get_reply(&t.bad).await;
        reply.assert_error(500, "the guest panicked");
    }
    t.assert_hello_serves().await;
    t.assert_all_failed(3);
    t.host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_max_instances_wait_then_fail_as_busy() {
    let cache = tempfile::tempdir().unwrap();
    let host = hosts::host(hosts::unsigned_allowed(), Some(cache.path()));
    let limits = ActorLimits {
        max_instances: 1,
        timeout: Duration::from_secs(3),
        queue_timeout: Duration::from_millis(200),
        ..ActorLimits::default()
    };
    let actor = host
        .start_actor_from_bytes(
            id("spin"),
            "http_loop_forever",
            fixtures::wasm_bytes("http_loop_forever"),
            limits,
        )
        .await
        .unwrap();
    let request = || hosts::get("http://localhost/");
    let first = tokio::spawn({
        let actor = Arc::clone(&actor);
        let request = request();
        async move { actor.handle_http(request).await }
    });
    lattice_tests::wait_for(
        "the first call to hold the only instance",
        Duration::from_secs(10),
        || (actor.instances_in_use() == 1).then_some(()),
    );
    let second = actor.handle_http(request()).await.unwrap_err();
    assert_eq!(second.kind, lattice_interfaces::ErrorKind::Busy);
    assert!(
        second.message.contains("all 1 instances busy"),
        "{}",
        second.message
    );
    assert_eq!(
        first.await.unwrap().unwrap_err().kind,
        lattice_interfaces::ErrorKind::Timeout
    );
    assert_eq!(actor.stats().busy, 1);
    assert_eq!(actor.instances_in_use(), 0);
}

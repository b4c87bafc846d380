//! Misbehaving guests fail their own call and nothing else.
//!
//! A host runs actors from many teams; one that loops forever, eats memory or
//! panics must get its caller a 5xx with the reason while every other actor,
//! and later calls to the same one, are served as before. Each test runs the
//! `hello` actor beside a misbehaving fixture on one address (paths route
//! between them) and reads the HTTP status and body a client sees.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lattice_host::{ActorLimits, Host};
use lattice_interfaces::{ComponentId, Manifest};
use lattice_tests::http_client::HttpClient;
use lattice_tests::{fixtures, hosts};

fn host(cache: &Path) -> Host {
    hosts::host(hosts::unsigned_allowed(), Some(cache))
}

/// A manifest with `hello` at `/` and `fixture` at `/bad`, with `limits`
/// (TOML keys) on the fixture.
fn manifest(fixture: &str, limits: &str) -> Manifest {
    Manifest::from_toml(&format!(
        r#"
[[actors]]
id = "hello"
path = "{hello}"

[[actors]]
id = "bad"
path = "{bad}"
{limits}

[[providers]]
id = "http"
kind = "http-server"

[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}

[[links]]
source = "http"
target = "bad"
interface = "wasi:http/incoming-handler"
name = "bad"
source_config = {{ address = "127.0.0.1:0", path = "/bad" }}
"#,
        hello = fixtures::wasm("hello").display(),
        bad = fixtures::wasm(fixture).display(),
    ))
    .unwrap()
}

/// Base URLs of the hello and bad links (they share one port when the first
/// link's port-0 listener is reused; each link here asks for its own).
fn urls(host: &Host) -> (String, String) {
    let endpoints = host.http_endpoints();
    let find = |target: &str| {
        endpoints
            .iter()
            .find(|e| e.link.target.as_str() == target)
            .map(|e| e.url())
            .unwrap()
    };
    (find("hello"), find("bad"))
}

async fn assert_hello_serves(client: &HttpClient, url: &str) {
    let reply = client.get(url).await.unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "Hello from Lattice!\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_loops_forever_gets_504_at_its_deadline_and_others_keep_serving() {
    let cache = tempfile::tempdir().unwrap();
    let host = host(cache.path());
    host.apply(&manifest("http_loop_forever", "timeout_ms = 1500"))
        .await
        .unwrap();
    let (hello, bad) = urls(&host);
    let client = HttpClient::default();

    let looping = tokio::spawn({
        let client = client.clone();
        async move { client.get(&bad).await.unwrap() }
    });
    // While the guest spins, hello still answers.
    lattice_tests::wait_for(
        "the looping guest to hold an instance",
        Duration::from_secs(10),
        || {
            (host
                .actor(&ComponentId::new("bad").unwrap())?
                .instances_in_use()
                == 1)
                .then_some(())
        },
    );
    assert_hello_serves(&client, &hello).await;

    let reply = looping.await.unwrap();
    assert_eq!(reply.status, 504, "{}", reply.body);
    assert!(reply.body.contains("actor \"bad\""), "{}", reply.body);
    assert!(reply.body.contains("deadline"), "{}", reply.body);
    assert_hello_serves(&client, &hello).await;
    let stats = host
        .actor(&ComponentId::new("bad").unwrap())
        .unwrap()
        .stats();
    assert_eq!((stats.calls, stats.failed), (1, 1));
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_grows_past_its_memory_limit_gets_500_naming_the_limit() {
    let cache = tempfile::tempdir().unwrap();
    let host = host(cache.path());
    host.apply(&manifest("http_memory_bomb", "memory_limit_mib = 16"))
        .await
        .unwrap();
    let (hello, bad) = urls(&host);
    let client = HttpClient::default();

    for _ in 0..3 {
        let reply = client.get(&bad).await.unwrap();
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert!(
            reply.body.contains("exceeded its memory limit of 16 MiB"),
            "{}",
            reply.body
        );
        assert_hello_serves(&client, &hello).await;
    }
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_panics_gets_500_and_the_next_call_is_served_again() {
    let cache = tempfile::tempdir().unwrap();
    let host = host(cache.path());
    host.apply(&manifest("http_panic", "")).await.unwrap();
    let (hello, bad) = urls(&host);
    let client = HttpClient::default();

    for _ in 0..3 {
        let reply = client.get(&bad).await.unwrap();
        assert_eq!(reply.status, 500, "{}", reply.body);
        assert!(reply.body.contains("the guest panicked"), "{}", reply.body);
    }
    assert_hello_serves(&client, &hello).await;
    let stats = host
        .actor(&ComponentId::new("bad").unwrap())
        .unwrap()
        .stats();
    assert_eq!((stats.calls, stats.failed), (3, 3));
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_past_max_instances_wait_then_fail_as_busy() {
    let cache = tempfile::tempdir().unwrap();
    let host = host(cache.path());
    let limits = ActorLimits {
        max_instances: 1,
        timeout: Duration::from_secs(3),
        queue_timeout: Duration::from_millis(200),
        ..ActorLimits::default()
    };
    let actor = host
        .start_actor_from_bytes(
            ComponentId::new("spin").unwrap(),
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

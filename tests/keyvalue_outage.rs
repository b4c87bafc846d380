//! Redis goes away in the middle of a session and comes back.
//!
//! A newcomer's first outage must not look like a hang: while Redis is
//! down every call fails at once with `cannot reach redis at …`, and the
//! first call after it returns succeeds. The test kills a real
//! `redis-server` (SIGKILL) under a kv-counter actor served over HTTP,
//! reads each answer and how long it took, and starts Redis again on the
//! same port. Durations are asserted generously (this machine is noisy).

use std::time::{Duration, Instant};

use lattice_interfaces::Manifest;
use lattice_tests::fixtures;
use lattice_tests::http_client::HttpClient;
use lattice_tests::redis::RedisServer;

/// Far longer than a failing call may take, far shorter than the 30 s
/// deadline a hanging call would run into.
const AT_ONCE: Duration = Duration::from_secs(5);

async fn counter_on(redis_url: &str) -> lattice_host::Host {
    let manifest = Manifest::from_toml(&format!(
        r#"
[[actors]]
id = "kv-counter"
path = "{}"

[[providers]]
id = "http"
kind = "http-server"

[[providers]]
id = "kv"
kind = "keyvalue"

[[links]]
source = "http"
target = "kv-counter"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}

[[links]]
source = "kv-counter"
target = "kv"
interface = "wasi:keyvalue/store,atomics"
target_config = {{ url = "{redis_url}" }}
"#,
        fixtures::wasm("kv_counter").display()
    ))
    .unwrap();
    let host = lattice_tests::hosts::dev_host();
    host.apply(&manifest).await.unwrap();
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_fail_at_once_while_redis_is_down_and_the_first_call_after_it_returns_succeeds() {
    let mut redis = RedisServer::start();
    let host = counter_on(&redis.url()).await;
    let url = host.http_endpoints()[0].url();
    let client = HttpClient::default();
    assert_eq!(client.get(&url).await.unwrap().body, "1\n");

    redis.kill();
    for attempt in 0..3 {
        let started = Instant::now();
        let reply = client.get(&url).await.unwrap();
        let took = started.elapsed();
        assert_eq!(reply.status, 500, "attempt {attempt}: {}", reply.body);
        assert!(
            reply
                .body
                .contains(&format!("cannot reach redis at {}", redis.url())),
            "attempt {attempt}: {}",
            reply.body
        );
        assert!(took < AT_ONCE, "attempt {attempt} took {took:?}");
    }

    redis.start_again();
    let started = Instant::now();
    let reply = client.get(&url).await.unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "1\n"),
        "the first call after Redis came back"
    );
    assert!(started.elapsed() < AT_ONCE, "took {:?}", started.elapsed());
    host.shutdown(Duration::from_secs(1)).await;
}

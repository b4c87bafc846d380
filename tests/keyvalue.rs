//! Key-value behaves the same on every backend, and counts right under load.
//!
//! Actors keep state through `wasi:keyvalue`; which backend holds it is the
//! operator's choice in the link's config (memory, Redis, NATS JetStream KV),
//! so keys, values, counters and errors must not change with it. One
//! conformance suite runs against each real backend; then the kv-counter
//! actor takes 1,000 concurrent requests on each, and the final count must
//! equal the number of requests (no lost updates).

use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::keyvalue::{KeyValue, KvError, PAGE_SIZE};
use lattice_provider_keyvalue::{MemoryStore, NatsKvStore, RedisStore};
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::redis::RedisServer;
use lattice_tests::{fixtures, hosts};

/// The conformance suite: what every backend must do alike.
async fn conformance(store: Arc<dyn KeyValue>) {
    let b = "bucket-a";
    assert_eq!(store.get(b, "missing").await.unwrap(), None);
    assert!(!store.exists(b, "missing").await.unwrap());
    store.delete(b, "missing").await.unwrap();

    store.set(b, "k1", b"v1".to_vec()).await.unwrap();
    store.set(b, "k2", vec![0, 255, 7]).await.unwrap();
    assert_eq!(
        store.get(b, "k1").await.unwrap().as_deref(),
        Some(&b"v1"[..])
    );
    assert_eq!(
        store.get(b, "k2").await.unwrap().as_deref(),
        Some(&[0, 255, 7][..])
    );
    assert!(store.exists(b, "k1").await.unwrap());
    store.set(b, "k1", b"v1-again".to_vec()).await.unwrap();
    assert_eq!(
        store.get(b, "k1").await.unwrap().as_deref(),
        Some(&b"v1-again"[..])
    );

    // Buckets do not see each other.
    assert_eq!(store.get("bucket-b", "k1").await.unwrap(), None);

    // Keys with characters some backends treat specially.
    for key in ["a.b", "with space", "ünï", "slash/key", "*", ">"] {
        store.set(b, key, key.as_bytes().to_vec()).await.unwrap();
        assert_eq!(
            store.get(b, key).await.unwrap().as_deref(),
            Some(key.as_bytes()),
            "{key:?}"
        );
    }

    let (keys, cursor) = store.list_keys(b, None).await.unwrap();
    let mut expected = vec![
        "*",
        ">",
        "a.b",
        "k1",
        "k2",
        "slash/key",
        "with space",
        "ünï",
    ];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(cursor, None);

    store.delete(b, "k1").await.unwrap();
    assert_eq!(store.get(b, "k1").await.unwrap(), None);
    assert!(!store.exists(b, "k1").await.unwrap());

    // Counters: start at 0, decimal ASCII, atomic.
    assert_eq!(store.increment(b, "count", 5).await.unwrap(), 5);
    assert_eq!(store.increment(b, "count", 1).await.unwrap(), 6);
    assert_eq!(
        store.get(b, "count").await.unwrap().as_deref(),
        Some(&b"6"[..])
    );
    store.delete(b, "count").await.unwrap();
    assert_eq!(store.increment(b, "count", 2).await.unwrap(), 2);
    // Incrementing what is not a number is an error, not a panic, not a reset.
    assert!(matches!(
        store.increment(b, "k2", 1).await,
        Err(KvError::Other(_))
    ));
    assert_eq!(
        store.get(b, "k2").await.unwrap().as_deref(),
        Some(&[0, 255, 7][..])
    );

    // Paging: more keys than a page.
    let paged = "bucket-paged";
    for i in 0..(PAGE_SIZE + 5) {
        store
            .set(paged, &format!("key-{i:05}"), vec![1])
            .await
            .unwrap();
    }
    let (first, cursor) = store.list_keys(paged, None).await.unwrap();
    assert_eq!(first.len(), PAGE_SIZE);
    let (rest, end) = store.list_keys(paged, cursor).await.unwrap();
    assert_eq!((rest.len(), end), (5, None));
    assert_eq!(rest.last().map(String::as_str), Some("key-01004"));

    // Concurrent increments lose nothing.
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.increment("bucket-race", "n", 1).await.unwrap() })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.get("bucket-race", "n").await.unwrap().as_deref(),
        Some(&b"50"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_conforms() {
    conformance(Arc::new(MemoryStore::default())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_backend_conforms() {
    let redis = RedisServer::start();
    conformance(Arc::new(
        RedisStore::connect(&redis.url(), lattice_provider_keyvalue::KeyLayout::Prefixed)
            .await
            .unwrap(),
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nats_kv_backend_conforms() {
    let nats = NatsServer::start();
    conformance(Arc::new(
        NatsKvStore::connect(&nats.url(), "conformance")
            .await
            .unwrap(),
    ))
    .await;
}

/// A host running kv-counter over HTTP, its key-value link configured by
/// `target_config` (no pairs: the in-memory backend).
async fn kv_counter_host(target_config: &[(&str, &str)]) -> lattice_host::Host {
    let manifest = ManifestBuilder::new()
        .actor("kv-counter", &fixtures::wasm("kv_counter"))
        .set("max_instances", 40)
        .provider("http", "http-server")
        .provider("kv", "keyvalue")
        .http_link("http", "kv-counter", "127.0.0.1:0")
        .link("kv-counter", "kv", "wasi:keyvalue/store,atomics,batch")
        .target_config(target_config)
        .build();
    hosts::applied(&manifest).await
}

async fn thousand_concurrent_increments(target_config: &[(&str, &str)]) {
    let host = kv_counter_host(target_config).await;
    let url = format!("{}visits", hosts::first_url(&host));
    let client = HttpClient::default();
    let seen = client.counted_gets(&url, 1000, 100).await;
    // Every increment answered a distinct value: none was lost or applied twice.
    assert_eq!(seen, (1..=1000).collect::<Vec<u64>>());
    let last = client.get(&url).await.unwrap();
    assert_eq!(last.body.trim(), "1001");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_counter_counts_1000_concurrent_requests_in_memory() {
    thousand_concurrent_increments(&[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_counter_counts_1000_concurrent_requests_on_redis() {
    let redis = RedisServer::start();
    thousand_concurrent_increments(&[("url", &redis.url())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_counter_counts_1000_concurrent_requests_on_nats_kv() {
    let nats = NatsServer::start();
    thousand_concurrent_increments(&[("bucket", "counters"), ("nats_url", &nats.url())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_is_an_error_reply_not_a_panic() {
    let port = lattice_tests::free_port();
    let host = kv_counter_host(&[("url", &format!("redis://127.0.0.1:{port}"))]).await;
    let url = hosts::first_url(&host);
    http_client::get(&url)
        .await
        .assert_error(500, "cannot reach redis");

    // Once the backend is there, the same link works: nothing was cached broken.
    let _redis = RedisServer::start_on(port, false);
    http_client::get(&url).await.assert_answer(200, "1\n");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_during_a_stream_of_increments_applies_none_twice() {
    let mut redis = RedisServer::start_persistent();
    let host = kv_counter_host(&[("url", &redis.url())]).await;
    let url = format!("{}stream", hosts::first_url(&host));
    let client = HttpClient::default();
    let (mut acknowledged, mut failed) = (Vec::new(), 0u64);
    for i in 0..300 {
        if i == 100 {
            redis.restart();
        }
        match client.get(&url).await {
            Ok(reply) if reply.status == 200 => {
                acknowledged.push(reply.body.trim().parse::<u64>().unwrap())
            }
            _ => failed += 1,
        }
    }
    // Every acknowledged increment got its own value: none was applied twice.
    let count = acknowledged.len() as u64;
    let mut distinct = acknowledged.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len() as u64,
        count,
        "an increment was applied twice: {acknowledged:?}"
    );
    // The counter holds every acknowledged increment, and at most each failed one once.
    let last = client.get(&url).await.unwrap();
    let final_value = last.body.trim().parse::<u64>().unwrap() - 1;
    assert!(
        final_value >= count && final_value <= count + failed,
        "final {final_value}, acked {count}, failed {failed}"
    );
    assert!(
        count >= 250,
        "only {count} of 300 succeeded around one restart"
    );
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_actors_linked_to_the_in_memory_backend_do_not_see_each_others_keys() {
    let manifest = ManifestBuilder::new()
        .actor("alice", &fixtures::wasm("kv_counter"))
        .actor("bob", &fixtures::wasm("kv_counter"))
        .provider("http", "http-server")
        .provider("kv", "keyvalue")
        .http_link("http", "alice", "127.0.0.1:0")
        .link("alice", "kv", "wasi:keyvalue/store,atomics")
        .link("bob", "kv", "wasi:keyvalue/store,atomics")
        .build();
    let host = hosts::applied(&manifest).await;
    let bob = hosts::http_link("http", "bob", "127.0.0.1:0");
    let bob = lattice_interfaces::Link {
        name: "bob".into(),
        ..bob
    };
    host.put_link(bob).unwrap();
    let urls: Vec<String> = host
        .http_endpoints()
        .iter()
        .map(|e| format!("{}visits", e.url()))
        .collect();
    assert_eq!(urls.len(), 2, "{urls:?}");
    let client = HttpClient::default();
    assert_eq!(client.get(&urls[0]).await.unwrap().body, "1\n");
    assert_eq!(client.get(&urls[0]).await.unwrap().body, "2\n");
    // The other actor's counter of the same name starts from nothing.
    assert_eq!(client.get(&urls[1]).await.unwrap().body, "1\n");
    host.shutdown(Duration::from_secs(1)).await;
}

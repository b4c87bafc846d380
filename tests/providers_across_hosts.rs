//! A provider built into one host serves actors on the others.
//!
//! Two hosts join one lattice with the same cluster key. Host A runs the
//! key-value provider in its process; host B runs kv-counter and an HTTP
//! server, and links kv-counter to A's provider. B has no key-value
//! provider of its own, so every increment crosses to A over NATS, and A
//! serves it over the link the lattice holds. Calls without a link, or
//! with garbage arguments, are refused with a reason.

use std::time::Duration;

use lattice_interfaces::keyvalue::wire::KvOp;
use lattice_interfaces::protocol::rpc::InvocationResponse;
use lattice_interfaces::{Contract, ErrorKind, Link, ProviderSpec};
use lattice_tests::hosts::{id, serve_http, start_fixture};
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::{put_link_until_stored, SignedCall, TestCall};
use lattice_tests::nats::NatsServer;

/// A signed invocation of provider `kv` from `source` carrying `payload`.
fn invocation(cluster: &nkeys::KeyPair, source: &str, n: u32, payload: Vec<u8>) -> SignedCall {
    TestCall {
        id: &format!("test-{n}"),
        source,
        target: "kv",
        interface: "wasi:keyvalue/store",
        function: "increment",
        link_name: "default",
        payload,
    }
    .signed(cluster, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_counts_in_a_key_value_provider_built_into_another_host() {
    let nats = NatsServer::start();
    let (cluster, (host_a, lattice_a), (host_b, lattice_b)) =
        lattice_tests::hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;

    host_a
        .start_provider(&ProviderSpec {
            id: id("kv"),
            kind: "keyvalue".into(),
            config: Default::default(),
        })
        .unwrap();
    start_fixture(&host_b, "counter", "kv_counter").await;
    let url = format!("{}visits", serve_http(&host_b, &lattice_b, "counter").await);
    lattice_b
        .put_link(Link::new(
            id("counter"),
            id("kv"),
            Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
        ))
        .await
        .unwrap();

    // Host A learns the link from the lattice's bucket: poll until it serves.
    let client = HttpClient::default();
    let first = client.get_until_ok(&url, Duration::from_secs(20)).await;
    assert_eq!(first.body.trim(), "1");

    // 200 concurrent increments across hosts: each value exactly once.
    let seen = client.counted_gets(&url, 200, 40).await;
    assert_eq!(seen, (2..=201).collect::<Vec<u64>>());

    // B sent every call over NATS; A served them in its process.
    let sent = host_b.routing().of(&id("kv"));
    assert!(sent.remote >= 201 && sent.local == 0, "{sent:?}");
    let served = host_a.routing().of(&id("kv"));
    assert!(served.local >= 201, "{served:?}");

    // Deny by default, and garbage gets a reason, never a panic.
    let raw = async_nats::connect(nats.url()).await.unwrap();
    let call = |inv: SignedCall| {
        let raw = raw.clone();
        async move {
            let reply = raw
                .request("lattice.default.rpc.kv", inv.encode().unwrap().into())
                .await
                .unwrap();
            InvocationResponse::decode(&reply.payload).unwrap()
        }
    };
    let op = rmp_serde::to_vec_named(&KvOp::Increment {
        bucket: "b".into(),
        key: "k".into(),
        delta: 1,
    })
    .unwrap();
    let unlinked = call(invocation(&cluster, "stranger", 1, op.clone())).await;
    let error = unlinked.error.unwrap();
    assert_eq!(error.kind, ErrorKind::Unauthorized, "{error:?}");
    assert!(error.message.contains("no link from stranger"), "{error:?}");
    let garbage = call(invocation(
        &cluster,
        "counter",
        2,
        b"\xc1\xff garbage".to_vec(),
    ))
    .await;
    let error = garbage.error.unwrap();
    assert_eq!(error.kind, ErrorKind::BadRequest, "{error:?}");
    assert!(
        error.message.contains("malformed key-value call"),
        "{error:?}"
    );
    let forged = call(invocation(&nkeys::KeyPair::new_cluster(), "counter", 3, op)).await;
    assert!(forged.error.unwrap().message.contains("is not trusted"));
    // Host A serves on.
    let reply = client.get(&url).await.unwrap();
    assert_eq!(reply.body.trim(), "202");

    lattice_b.leave().await;
    lattice_a.leave().await;
    host_b.shutdown(Duration::from_secs(1)).await;
    host_a.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_put_after_a_nats_restart_reaches_the_other_host() {
    let mut nats = NatsServer::start();
    let (_, (host_a, lattice_a), (host_b, lattice_b)) =
        lattice_tests::hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    start_fixture(&host_b, "counter", "kv_counter").await;
    let url = format!("{}visits", serve_http(&host_b, &lattice_b, "counter").await);
    host_a
        .start_provider(&ProviderSpec {
            id: id("kv"),
            kind: "keyvalue".into(),
            config: Default::default(),
        })
        .unwrap();

    // NATS restarts (same storage) before the key-value link exists.
    nats.restart();
    let link = Link::new(
        id("counter"),
        id("kv"),
        Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
    );
    // Writes may fail until the hosts have reconnected.
    put_link_until_stored(&lattice_b, &link, Duration::from_secs(30)).await;
    // Host A learns it from its watch of the bucket and serves B's calls.
    let client = HttpClient::default();
    let first = client.get_until_ok(&url, Duration::from_secs(30)).await;
    assert_eq!(first.body.trim(), "1");
    lattice_b.leave().await;
    lattice_a.leave().await;
    host_b.shutdown(Duration::from_secs(1)).await;
    host_a.shutdown(Duration::from_secs(1)).await;
}

/// An invocation from provider `source` (granted `grant`, signing with
/// `key`) of counter's HTTP handler over link `link_name`.
async fn provider_call(
    key: &nkeys::KeyPair,
    grant: Option<lattice_interfaces::protocol::rpc::ProviderGrant>,
    source: &str,
    link_name: &str,
    n: u32,
) -> SignedCall {
    let payload = lattice_interfaces::http::wire::encode_request(lattice_tests::hosts::get(
        "http://counter/visits",
    ))
    .await
    .unwrap();
    TestCall {
        id: &format!("grant-{n}"),
        source,
        target: "counter",
        interface: "wasi:http/incoming-handler",
        function: "handle",
        link_name,
        payload,
    }
    .signed(key, grant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_key_granted_by_a_host_calls_only_as_that_provider_over_its_links() {
    use lattice_interfaces::protocol::rpc::ProviderGrant;
    let nats = NatsServer::start();
    let (cluster, (host, lattice), (other_host, other_lattice)) =
        lattice_tests::hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    start_fixture(&host, "counter", "kv_counter").await;
    lattice
        .put_link(lattice_tests::hosts::http_link(
            "web",
            "counter",
            "127.0.0.1:0",
        ))
        .await
        .unwrap();
    let kv = ProviderSpec {
        id: id("kv"),
        kind: "keyvalue".into(),
        config: Default::default(),
    };
    host.start_provider(&kv).unwrap();
    lattice
        .put_link(Link::new(
            id("counter"),
            id("kv"),
            Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
        ))
        .await
        .unwrap();
    let raw = async_nats::connect(nats.url()).await.unwrap();
    let call = |inv: SignedCall| {
        let raw = raw.clone();
        async move {
            let reply = raw
                .request("lattice.default.rpc.counter", inv.encode().unwrap().into())
                .await
                .unwrap();
            InvocationResponse::decode(&reply.payload).unwrap()
        }
    };
    let web = nkeys::KeyPair::new_cluster();
    let grant = ProviderGrant::issue(&cluster, "web", &web.public_key()).unwrap();

    // As itself, over its link: served.
    let served = call(provider_call(&web, Some(grant.clone()), "web", "default", 1).await).await;
    assert!(served.error.is_none(), "{:?}", served.error);
    let response = lattice_interfaces::http::wire::decode_response(&served.payload).unwrap();
    assert_eq!(response.status(), 200);

    let refused = |response: InvocationResponse| {
        let error = response.error.expect("refused");
        assert_eq!(error.kind, ErrorKind::Unauthorized, "{error:?}");
        error.message
    };
    // As another source: refused.
    let message = refused(
        call(provider_call(&web, Some(grant.clone()), "intruder", "default", 2).await).await,
    );
    assert!(message.contains("may only call as itself"), "{message}");
    // Over a link it does not have: refused.
    let message =
        refused(call(provider_call(&web, Some(grant.clone()), "web", "other", 3).await).await);
    assert!(message.contains("no link from web"), "{message}");
    // Its key without the grant: refused.
    let message = refused(call(provider_call(&web, None, "web", "default", 4).await).await);
    assert!(message.contains("is not trusted"), "{message}");
    // A grant from an untrusted issuer, or a forged one: refused.
    let stranger = nkeys::KeyPair::new_cluster();
    let foreign = ProviderGrant::issue(&stranger, "web", &web.public_key()).unwrap();
    let message =
        refused(call(provider_call(&web, Some(foreign), "web", "default", 5).await).await);
    assert!(message.contains("which is not trusted here"), "{message}");
    let forged = ProviderGrant {
        provider_id: "admin".into(),
        ..grant
    };
    let message =
        refused(call(provider_call(&web, Some(forged), "admin", "default", 6).await).await);
    assert!(message.contains("is forged"), "{message}");

    other_lattice.leave().await;
    lattice.leave().await;
    other_host.shutdown(Duration::from_secs(1)).await;
    host.shutdown(Duration::from_secs(1)).await;
}

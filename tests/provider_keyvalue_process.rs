//! The key-value provider runs as its own process on the lattice.
//!
//! A host starts a provider binary and writes its host data on stdin; the
//! process learns its links from the lattice, serves signed invocations on
//! `lattice.L.rpc.<id>`, answers health checks and stops on SIGTERM. The
//! test plays the host: a real nats-server, a host joined to it for the
//! state bucket and the link, and raw signed invocations to the process.

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::protocol::provider::{Health, HostData};
use lattice_interfaces::protocol::rpc::InvocationResponse;
use lattice_interfaces::{ComponentId, Contract, Link};
use lattice_tests::hosts::{id, serve_http, start_fixture};
use lattice_tests::lattice::SignedCall;
use lattice_tests::nats::NatsServer;

fn invocation(source: &str, op: &KvOp, key: &nkeys::KeyPair, id: &str) -> SignedCall {
    lattice_tests::lattice::TestCall {
        id,
        source,
        target: "kvp",
        interface: "wasi:keyvalue/store",
        function: "call",
        link_name: "default",
        payload: rmp_serde::to_vec_named(op).unwrap(),
    }
    .signed(key, None)
}

async fn call(client: &async_nats::Client, inv: &SignedCall) -> InvocationResponse {
    let reply = client
        .request("lattice.default.rpc.kvp", inv.encode().unwrap().into())
        .await
        .unwrap();
    InvocationResponse::decode(&reply.payload).unwrap()
}

fn reply_of(response: &InvocationResponse) -> KvReply {
    assert!(response.error.is_none(), "{:?}", response.error);
    rmp_serde::from_slice(&response.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_process_serves_signed_calls_over_its_links_and_stops_on_sigterm() {
    let nats = NatsServer::start();
    let cluster = nkeys::KeyPair::new_cluster();
    let (host, lattice) =
        lattice_tests::hosts::joined(&nats.url(), lattice_host::TrustPolicy::default()).await;
    let link = Link::new(
        ComponentId::new("counter").unwrap(),
        ComponentId::new("kvp").unwrap(),
        Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
    );
    lattice.put_link(link).await.unwrap();

    let mut child = Command::new(lattice_tests::fixtures::binary("lattice-provider-keyvalue"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let data = HostData {
        lattice: "default".into(),
        nats_url: nats.url(),
        nats: Default::default(),
        provider_id: "kvp".into(),
        host_id: host.id().to_string(),
        trusted_cluster_keys: vec![cluster.public_key()],
        invocation_seed: None,
        invocation_grant: None,
        config: Default::default(),
    };
    writeln!(
        child.stdin.take().unwrap(),
        "{}",
        serde_json::to_string(&data).unwrap()
    )
    .unwrap();

    let client = async_nats::connect(nats.url()).await.unwrap();
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = tokio::time::timeout(
            Duration::from_millis(500),
            client.request("lattice.default.provider.kvp.health", "".into()),
        )
        .await;
        if let Ok(Ok(message)) = answer {
            let health: Health = serde_json::from_slice(&message.payload).unwrap();
            assert!(health.healthy);
            break;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the provider never answered its health check"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let increment = KvOp::Increment {
        bucket: "b".into(),
        key: "n".into(),
        delta: 2,
    };
    assert_eq!(
        reply_of(&call(&client, &invocation("counter", &increment, &cluster, "i-1")).await),
        KvReply::Number(2)
    );
    assert_eq!(
        reply_of(&call(&client, &invocation("counter", &increment, &cluster, "i-2")).await),
        KvReply::Number(4)
    );
    let get = KvOp::Get {
        bucket: "b".into(),
        key: "n".into(),
    };
    assert_eq!(
        reply_of(&call(&client, &invocation("counter", &get, &cluster, "i-3")).await),
        KvReply::Value(Some(serde_bytes::ByteBuf::from(b"4".to_vec())))
    );

    // Deny by default: an untrusted signer, and a caller without a link.
    let forged = call(
        &client,
        &invocation("counter", &get, &nkeys::KeyPair::new_cluster(), "i-4"),
    )
    .await;
    assert!(forged.error.unwrap().message.contains("is not trusted"));
    let unlinked = call(&client, &invocation("stranger", &get, &cluster, "i-5")).await;
    assert!(unlinked
        .error
        .unwrap()
        .message
        .contains("no link from stranger"));

    // Garbage envelopes and garbage arguments: an error reply each, no crash.
    for garbage in [
        &b""[..],
        b"\xff\xff\xff",
        b"{\"id\": \"json, not msgpack\"}",
        &[0x81, 0xa2, b'i', b'd', 0xc0],
    ] {
        let reply = client
            .request("lattice.default.rpc.kvp", garbage.to_vec().into())
            .await
            .unwrap();
        let response = InvocationResponse::decode(&reply.payload).unwrap();
        let error = response.error.expect("garbage was accepted");
        assert_eq!(
            error.kind,
            lattice_interfaces::ErrorKind::BadRequest,
            "{error:?}"
        );
    }
    let mut bad_args = invocation("counter", &get, &cluster, "i-6");
    bad_args.payload = b"\xc1 not a KvOp".to_vec();
    let error = call(&client, &bad_args).await.error.unwrap();
    assert!(
        error.message.contains("malformed key-value call"),
        "{error:?}"
    );
    assert_eq!(
        reply_of(&call(&client, &invocation("counter", &get, &cluster, "i-7")).await),
        KvReply::Value(Some(serde_bytes::ByteBuf::from(b"4".to_vec())))
    );

    // SIGTERM: a clean exit.
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let status = lattice_tests::wait_for("the provider to exit", Duration::from_secs(20), || {
        child.try_wait().unwrap()
    });
    assert!(status.success(), "{status:?}");
    lattice.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_provider_process_is_restarted_by_its_host_and_serves_again() {
    let nats = NatsServer::start();
    let (host, lattice) =
        lattice_tests::hosts::joined(&nats.url(), lattice_tests::hosts::unsigned_allowed()).await;
    start_fixture(&host, "counter", "kv_counter").await;
    let url = format!("{}n", serve_http(&host, &lattice, "counter").await);
    let events_client = async_nats::connect(nats.url()).await.unwrap();
    let mut events = events_client
        .subscribe("lattice.default.evt.>")
        .await
        .unwrap();
    events_client.flush().await.unwrap();
    lattice
        .start_provider_process(
            &id("kvp"),
            &lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
            Default::default(),
        )
        .unwrap();
    // The counter lives in NATS KV, so it survives the provider's restarts.
    let mut kv = Link::new(
        id("counter"),
        id("kvp"),
        Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
    );
    kv.target_config.insert("bucket".into(), "counters".into());
    kv.target_config.insert("nats_url".into(), nats.url());
    lattice.put_link(kv).await.unwrap();
    let client = lattice_tests::http_client::HttpClient::default();

    let get = || async { client.get(&url).await.unwrap() };
    let mut last = client
        .get_until_ok(&url, Duration::from_secs(20))
        .await
        .body
        .trim()
        .parse::<u64>()
        .unwrap();

    let pid = lattice.provider_process_id(&id("kvp")).unwrap();
    Command::new("kill")
        .arg("-KILL")
        .arg(pid.to_string())
        .status()
        .unwrap();
    // Meanwhile calls fail with a clear error, quickly; then the restarted process serves.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut failures = Vec::new();
    loop {
        let started = std::time::Instant::now();
        let reply = get().await;
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "a call hung for {:?}",
            started.elapsed()
        );
        if reply.status == 200 {
            let value = reply.body.trim().parse::<u64>().unwrap();
            if lattice
                .provider_process_id(&id("kvp"))
                .is_some_and(|new| new != pid)
            {
                assert!(value > last, "{value} after {last}");
                last = value;
                break;
            }
            last = value;
        } else {
            assert!(reply.body.contains("key-value error"), "{}", reply.body);
            failures.push(reply.body);
        }
        assert!(
            tokio::time::Instant::now() < until,
            "the provider did not come back: {failures:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reply = get().await;
    assert_eq!(reply.body.trim().parse::<u64>().unwrap(), last + 1);

    // The host said what happened: started, healthy, exited, started again.
    let mut kinds: Vec<String> = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(kinds.iter().filter(|k| *k == "provider_started").count() >= 2
        && kinds.iter().any(|k| k == "provider_stopped")
        && kinds.iter().any(|k| k == "health_check_passed"))
    {
        let Ok(Some(event)) =
            tokio::time::timeout_at(until, futures::StreamExt::next(&mut events)).await
        else {
            panic!("missing provider events: {kinds:?}");
        };
        kinds.push(event.subject.rsplit('.').next().unwrap().to_string());
    }
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_starts_only_provider_binaries_with_valid_claims() {
    use lattice_interfaces::claims::{current_target, sign_provider, KeyKind, ProviderSigning};

    let nats = NatsServer::start();
    let account = KeyKind::Account.generate();
    let (host, lattice) = lattice_tests::hosts::joined(
        &nats.url(),
        lattice_host::TrustPolicy {
            allow_unsigned: false,
            allowed_issuers: vec![account.public_key()],
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("lattice-provider-keyvalue");
    std::fs::copy(
        lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
        &binary,
    )
    .unwrap();
    let path = binary.to_str().unwrap();

    let e = lattice
        .start_provider_process(&id("p1"), path, Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused: not signed"), "{e}");

    // Signed by another account: refused by issuer.
    let stranger = KeyKind::Account.generate();
    let service = KeyKind::Service.generate();
    let bytes = std::fs::read(&binary).unwrap();
    let jwt = sign_provider(
        &bytes,
        &current_target(),
        &stranger,
        &service,
        &ProviderSigning::default(),
    )
    .unwrap();
    std::fs::write(dir.path().join("lattice-provider-keyvalue.jwt"), jwt).unwrap();
    let e = lattice
        .start_provider_process(&id("p2"), path, Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not allowed on this host"), "{e}");

    // Signed by the allowed account, then changed: refused as tampered.
    let jwt = sign_provider(
        &bytes,
        &current_target(),
        &account,
        &service,
        &ProviderSigning::default(),
    )
    .unwrap();
    std::fs::write(dir.path().join("lattice-provider-keyvalue.jwt"), jwt).unwrap();
    lattice
        .start_provider_process(&id("p3"), path, Default::default())
        .unwrap();
    let mut changed = bytes.clone();
    changed.push(0);
    let copy = dir.path().join("changed");
    std::fs::write(&copy, &changed).unwrap();
    std::fs::copy(
        dir.path().join("lattice-provider-keyvalue.jwt"),
        dir.path().join("changed.jwt"),
    )
    .unwrap();
    let e = lattice
        .start_provider_process(&id("p4"), copy.to_str().unwrap(), Default::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("hash mismatch"), "{e}");
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_on_another_host_reaches_the_provider_process_over_the_lattice() {
    let nats = NatsServer::start();
    let (_, (host_a, lattice_a), (host_b, lattice_b)) =
        lattice_tests::hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;

    // Host A runs the provider process, host B the actor and its HTTP server.
    lattice_a
        .start_provider_process(
            &id("kvp"),
            &lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
            Default::default(),
        )
        .unwrap();
    start_fixture(&host_b, "counter", "kv_counter").await;
    let url = format!("{}visits", serve_http(&host_b, &lattice_b, "counter").await);
    lattice_b
        .put_link(Link::new(
            id("counter"),
            id("kvp"),
            Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
        ))
        .await
        .unwrap();

    let client = lattice_tests::http_client::HttpClient::default();
    // The provider on host A starts in the background.
    let first = client
        .get_until_ok(&url, Duration::from_secs(30))
        .await
        .body
        .trim()
        .parse::<u64>()
        .unwrap();
    for expected in first + 1..first + 11 {
        let reply = client.get(&url).await.unwrap();
        assert_eq!(reply.body.trim().parse::<u64>().unwrap(), expected);
    }
    // Host B has no key-value provider of its own: every call crossed hosts.
    let routed = host_b.routing().of(&id("kvp"));
    assert!(routed.remote >= 11 && routed.local == 0, "{routed:?}");
    lattice_b.leave().await;
    lattice_a.leave().await;
    host_b.shutdown(Duration::from_secs(1)).await;
    host_a.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_process_rides_out_a_nats_restart_and_learns_links_put_after_it() {
    let mut nats = NatsServer::start();
    let (host, lattice) =
        lattice_tests::hosts::joined(&nats.url(), lattice_tests::hosts::unsigned_allowed()).await;
    start_fixture(&host, "counter", "kv_counter").await;
    let url = format!("{}visits", serve_http(&host, &lattice, "counter").await);
    lattice
        .start_provider_process(
            &id("kvp"),
            &lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
            Default::default(),
        )
        .unwrap();
    let pid = lattice_tests::wait_for("the process to start", Duration::from_secs(20), || {
        lattice.provider_process_id(&id("kvp"))
    });

    nats.restart();
    let link = Link::new(
        id("counter"),
        id("kvp"),
        Contract::parse("wasi:keyvalue/store,atomics").unwrap(),
    );
    // Writes may fail until the host has reconnected.
    lattice_tests::lattice::put_link_until_stored(&lattice, &link, Duration::from_secs(30)).await;
    let client = lattice_tests::http_client::HttpClient::default();
    let reply = client.get_until_ok(&url, Duration::from_secs(30)).await;
    assert_eq!(reply.body.trim(), "1");
    // The same process served it: it reconnected rather than restarting.
    assert_eq!(lattice.provider_process_id(&id("kvp")), Some(pid));
    lattice.leave().await;
    host.shutdown(Duration::from_secs(1)).await;
}

//! The key-value provider runs as its own process on the lattice.
//!
//! A host starts a provider binary and writes its host data on stdin; the
//! process learns its links from the lattice, serves signed invocations on
//! `lattice.L.rpc.<id>`, answers health checks and stops on SIGTERM. The
//! test plays the host: a real nats-server, a host joined to it for the
//! state bucket and the link, and raw signed invocations to the process.

use std::time::Duration;

use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::protocol::provider::HostData;
use lattice_interfaces::protocol::rpc::InvocationResponse;
use lattice_interfaces::ErrorKind;
use lattice_tests::hosts::{self, id, kv_link, serve_fixture};
use lattice_tests::lattice::{refusal, rpc, SignedCall};
use lattice_tests::nats::{self, NatsServer};
use lattice_tests::process::{self, ProviderProcess};
use lattice_tests::wait_for;

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

fn reply_of(response: &InvocationResponse) -> KvReply {
    assert!(response.error.is_none(), "{:?}", response.error);
    rmp_serde::from_slice(&response.payload).unwrap()
}

/// The value `GET url` answers (a counter's), after the first 200.
async fn first_count(client: &lattice_tests::http_client::HttpClient, url: &str) -> u64 {
    let reply = client.get_until_ok(url, Duration::from_secs(30)).await;
    reply.body.trim().parse::<u64>().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_process_serves_signed_calls_over_its_links_and_stops_on_sigterm() {
    let nats = NatsServer::start();
    let cluster = nkeys::KeyPair::new_cluster();
    let (host, lattice) = hosts::joined(&nats.url(), lattice_host::TrustPolicy::default()).await;
    lattice.put_link(kv_link("counter", "kvp")).await.unwrap();

    let mut provider = ProviderProcess::start(
        "lattice-provider-keyvalue",
        HostData {
            lattice: "default".into(),
            nats_url: nats.url(),
            nats: Default::default(),
            provider_id: "kvp".into(),
            host_id: host.id().clone(),
            trusted_cluster_keys: vec![cluster.public_key()],
            // The host is a development host: its links are signed by a
            // key of its own.
            links_from_any_signer: true,
            invocation_seed: None,
            invocation_grant: None,
            config: Default::default(),
            js_domain: None,
            exit_with_host: false,
            payload_budget: None,
        },
    );
    let client = nats.client().await;
    assert!(provider.health(&client).await.healthy);

    let call = async |source: &str, op: &KvOp, key: &nkeys::KeyPair, id: &str| {
        invocation(source, op, key, id).send(&client).await
    };
    let increment = KvOp::Increment {
        bucket: "b".into(),
        key: "n".into(),
        delta: 2,
    };
    let get = KvOp::Get {
        bucket: "b".into(),
        key: "n".into(),
    };
    let four = KvReply::Value(Some(serde_bytes::ByteBuf::from(b"4".to_vec())));
    for (op, id, expected) in [
        (&increment, "i-1", KvReply::Number(2)),
        (&increment, "i-2", KvReply::Number(4)),
        (&get, "i-3", four.clone()),
    ] {
        assert_eq!(reply_of(&call("counter", op, &cluster, id).await), expected);
    }

    // Deny by default: an untrusted signer, and a caller without a link.
    let forged = call("counter", &get, &nkeys::KeyPair::new_cluster(), "i-4").await;
    assert!(forged.error.unwrap().message.contains("is not trusted"));
    let unlinked = call("stranger", &get, &cluster, "i-5").await;
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
        let response = rpc(&client, "kvp", garbage.to_vec()).await;
        refusal(response, ErrorKind::BadRequest);
    }
    let mut bad_args = invocation("counter", &get, &cluster, "i-6");
    bad_args.payload = b"\xc1 not a KvOp".to_vec();
    let error = bad_args.send(&client).await.error.unwrap();
    assert!(
        error.message.contains("malformed key-value call"),
        "{error:?}"
    );
    assert_eq!(
        reply_of(&call("counter", &get, &cluster, "i-7").await),
        four
    );

    // SIGTERM: a clean exit.
    let status = provider.terminate();
    assert!(status.success(), "{status:?}");
    lattice.leave().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_provider_process_is_restarted_by_its_host_and_serves_again() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let url = format!(
        "{}n",
        serve_fixture(&host, &lattice, "counter", "kv_counter").await
    );
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.>").await;
    hosts::start_provider_process(&lattice, "kvp", "lattice-provider-keyvalue", &[]).await;
    // The counter lives in NATS KV, so it survives the provider's restarts.
    let mut kv = kv_link("counter", "kvp");
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
    process::signal(pid, "-KILL");
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
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_starts_only_provider_binaries_with_valid_claims() {
    use lattice_interfaces::claims::{current_target, sign_provider, KeyKind, ProviderSigning};

    let nats = NatsServer::start();
    let account = KeyKind::Account.generate();
    let (host, lattice) = hosts::joined(&nats.url(), hosts::trusting(account.public_key())).await;
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("lattice-provider-keyvalue");
    std::fs::copy(
        lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
        &binary,
    )
    .unwrap();
    let path = binary.to_str().unwrap();
    let bytes = std::fs::read(&binary).unwrap();
    // Starts the binary at `path` as provider `name`; the refusal, if any.
    let start = async |name: &str, path: &str| {
        lattice
            .start_provider_process(&id(name), path, Default::default())
            .await
            .map_err(|e| e.to_string())
    };
    // Signs the copied binary by `issuer`, as its `.jwt` file beside it.
    let service = KeyKind::Service.generate();
    let sign_by = |issuer: &nkeys::KeyPair| {
        let jwt = sign_provider(
            &bytes,
            &current_target(),
            issuer,
            &service,
            &ProviderSigning::default(),
        )
        .unwrap();
        std::fs::write(dir.path().join("lattice-provider-keyvalue.jwt"), jwt).unwrap();
    };

    let e = start("p1", path).await.unwrap_err();
    assert!(e.contains("refused: not signed: no lattice-provider-keyvalue.jwt beside it; sign it with `lattice-ctl claims sign-provider"), "{e}");

    // Signed by another account: refused by issuer.
    sign_by(&KeyKind::Account.generate());
    let e = start("p2", path).await.unwrap_err();
    assert!(e.contains("is not allowed on this host"), "{e}");

    // Signed by the allowed account, then changed: refused as tampered.
    sign_by(&account);
    start("p3", path).await.unwrap();

    // What runs is the binary that was checked: replacing the file at the
    // path afterwards changes nothing, even across a restart.
    let first =
        lattice_tests::eventually("p3 to run", async || lattice.provider_process_id(&id("p3")))
            .await;
    let marker = dir.path().join("replacement-ran");
    std::fs::write(&binary, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
    process::signal(first, "-KILL");
    let restarted = lattice_tests::eventually("p3 to restart", async || {
        lattice
            .provider_process_id(&id("p3"))
            .filter(|pid| *pid != first)
    })
    .await;
    let running = std::fs::read(format!("/proc/{restarted}/exe")).unwrap();
    assert!(
        running == bytes,
        "the restarted process is not the verified binary"
    );
    assert!(!marker.exists(), "the replaced file ran");
    std::fs::write(&binary, &bytes).unwrap();

    // Its claims are listed lattice-wide, beside actors'.
    let ctl = lattice_tests::lattice::Control::connect(&nats.url(), "default").await;
    lattice_tests::eventually("the provider's claims to be listed", async || {
        let listed = ctl
            .ok::<lattice_interfaces::protocol::control::op::GetClaims>(
                None,
                lattice_interfaces::protocol::control::Empty {},
            )
            .await;
        listed
            .iter()
            .any(|c| c.kind() == "provider" && c.subject() == service.public_key())
            .then_some(())
    })
    .await;
    let mut changed = bytes.clone();
    changed.push(0);
    let copy = dir.path().join("changed");
    std::fs::write(&copy, &changed).unwrap();
    std::fs::copy(
        dir.path().join("lattice-provider-keyvalue.jwt"),
        dir.path().join("changed.jwt"),
    )
    .unwrap();
    let e = start("p4", copy.to_str().unwrap()).await.unwrap_err();
    assert!(e.contains("hash mismatch"), "{e}");
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_on_another_host_reaches_the_provider_process_over_the_lattice() {
    let nats = NatsServer::start();
    let (_, (host_a, lattice_a), (host_b, lattice_b)) =
        hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;

    // Host A runs the provider process, host B the actor and its HTTP server.
    hosts::start_provider_process(&lattice_a, "kvp", "lattice-provider-keyvalue", &[]).await;
    let url = format!(
        "{}visits",
        serve_fixture(&host_b, &lattice_b, "counter", "kv_counter").await
    );
    lattice_b.put_link(kv_link("counter", "kvp")).await.unwrap();

    let client = lattice_tests::http_client::HttpClient::default();
    // The provider on host A starts in the background.
    let first = first_count(&client, &url).await;
    for expected in first + 1..first + 11 {
        let reply = client.get(&url).await.unwrap();
        assert_eq!(reply.body.trim().parse::<u64>().unwrap(), expected);
    }
    // Host B has no key-value provider of its own: every call crossed hosts.
    let routed = host_b.routing().of(&id("kvp"));
    assert!(routed.remote >= 11 && routed.local == 0, "{routed:?}");
    hosts::leave(lattice_b, host_b).await;
    hosts::leave(lattice_a, host_a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_process_rides_out_a_nats_restart_and_learns_links_put_after_it() {
    let mut nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let url = format!(
        "{}visits",
        serve_fixture(&host, &lattice, "counter", "kv_counter").await
    );
    hosts::start_provider_process(&lattice, "kvp", "lattice-provider-keyvalue", &[]).await;
    let pid = wait_for("the process to start", Duration::from_secs(20), || {
        lattice.provider_process_id(&id("kvp"))
    });
    // Serving, not just started: a process still joining when NATS goes
    // away exits and is restarted, which is not what this test is about.
    let client = nats.client().await;
    nats::ask_until_answered(
        &client,
        "lattice.default.provider.kvp.health",
        "",
        Duration::from_secs(20),
    )
    .await;
    drop(client);
    assert_eq!(lattice.provider_process_id(&id("kvp")), Some(pid));

    nats.restart();
    // Writes may fail until the host has reconnected.
    let link = kv_link("counter", "kvp");
    lattice_tests::lattice::put_link_until_stored(&lattice, &link, Duration::from_secs(30)).await;
    let client = lattice_tests::http_client::HttpClient::default();
    let reply = client.get_until_ok(&url, Duration::from_secs(30)).await;
    assert_eq!(reply.body.trim(), "1");
    // The same process served it: it reconnected rather than restarting.
    assert_eq!(lattice.provider_process_id(&id("kvp")), Some(pid));
    hosts::leave(lattice, host).await;
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        // The state follows the command's closing parenthesis.
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_process_ends_when_its_host_is_killed() {
    use lattice_interfaces::protocol::control::op;
    use lattice_tests::lattice::{start_provider, Control, HostProcess};

    let nats = NatsServer::start();
    let ctl = Control::connect(&nats.url(), "default").await;
    let mut host = HostProcess::start(
        &lattice_tests::fixtures::binary("lattice-host"),
        &nats.url(),
        "default",
        &[],
    );
    let mut events = nats::subscribe(&nats.url(), "lattice.default.evt.provider_started").await;
    let binary = lattice_tests::fixtures::binary("lattice-provider-keyvalue");
    ctl.ok::<op::StartProvider>(Some(host.id()), start_provider("kvp", &binary))
        .await;
    // The supervisor's provider_started names the process (the control
    // reply's does not).
    let pid = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let started = futures::StreamExt::next(&mut events)
                .await
                .expect("an event");
            let event: serde_json::Value = serde_json::from_slice(&started.payload).unwrap();
            if let Some(pid) = event["data"]["pid"].as_u64() {
                return u32::try_from(pid).unwrap();
            }
        }
    })
    .await
    .expect("provider_started with its pid within 20 s");
    assert!(!ended(pid), "the provider runs before its host is killed");

    // SIGKILL: the host cannot stop anything; its end of the provider's
    // stdin closes with it, and the provider stops by itself.
    host.kill();
    let gone = lattice_tests::wait_for_opt(Duration::from_secs(20), || ended(pid).then_some(()));
    assert!(
        gone.is_some(),
        "provider process {pid} outlived its killed host by 20 s"
    );
}

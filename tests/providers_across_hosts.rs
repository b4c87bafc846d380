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
use lattice_interfaces::protocol::control::op;
use lattice_interfaces::protocol::rpc::{unix_ms, GrantRevocation, GrantTerms, ProviderGrant};
use lattice_interfaces::ErrorKind;
use lattice_tests::hosts::{self, id, kv_link, serve_fixture};
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::{put_link_until_stored, refusal, Control, SignedCall, TestCall};
use lattice_tests::nats::NatsServer;

/// A call of `function` on `target`'s `interface` from `source` over link
/// `link_name`, carrying `payload`, to be signed by `key` with `grant`.
fn call_of<'a>(
    (source, target, interface, function): (&'a str, &'a str, &'a str, &'a str),
    link_name: &'a str,
    id: &'a str,
    payload: Vec<u8>,
) -> TestCall<'a> {
    TestCall {
        id,
        source,
        target,
        interface,
        function,
        link_name,
        payload,
    }
}

/// A signed invocation of provider `kv` from `source` carrying `payload`.
fn invocation(cluster: &nkeys::KeyPair, source: &str, n: u32, payload: Vec<u8>) -> SignedCall {
    let what = (source, "kv", "wasi:keyvalue/store", "increment");
    call_of(what, "default", &format!("test-{n}"), payload).signed(cluster, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_counts_in_a_key_value_provider_built_into_another_host() {
    let nats = NatsServer::start();
    let (cluster, (host_a, lattice_a), (host_b, lattice_b)) =
        hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;

    hosts::start_provider(&host_a, "kv", "keyvalue");
    let url = format!(
        "{}visits",
        serve_fixture(&host_b, &lattice_b, "counter", "kv_counter").await
    );
    lattice_b.put_link(kv_link("counter", "kv")).await.unwrap();

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
    let raw = nats.client().await;
    let op = rmp_serde::to_vec_named(&KvOp::Increment {
        bucket: "b".into(),
        key: "k".into(),
        delta: 1,
    })
    .unwrap();
    let unlinked = invocation(&cluster, "stranger", 1, op.clone());
    let message = refusal(unlinked.send(&raw).await, ErrorKind::Unauthorized);
    assert!(message.contains("no link from stranger"), "{message}");
    let garbage = invocation(&cluster, "counter", 2, b"\xc1\xff garbage".to_vec());
    let message = refusal(garbage.send(&raw).await, ErrorKind::BadRequest);
    assert!(message.contains("malformed key-value call"), "{message}");
    let forged = invocation(&nkeys::KeyPair::new_cluster(), "counter", 3, op);
    assert!(forged
        .send(&raw)
        .await
        .error
        .unwrap()
        .message
        .contains("is not trusted"));
    // Host A serves on.
    let reply = client.get(&url).await.unwrap();
    assert_eq!(reply.body.trim(), "202");

    hosts::leave(lattice_b, host_b).await;
    hosts::leave(lattice_a, host_a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_put_after_a_nats_restart_reaches_the_other_host() {
    let mut nats = NatsServer::start();
    let (_, (host_a, lattice_a), (host_b, lattice_b)) =
        hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    let url = format!(
        "{}visits",
        serve_fixture(&host_b, &lattice_b, "counter", "kv_counter").await
    );
    hosts::start_provider(&host_a, "kv", "keyvalue");

    // NATS restarts (same storage) before the key-value link exists.
    nats.restart();
    // Writes may fail until the hosts have reconnected.
    put_link_until_stored(
        &lattice_b,
        &kv_link("counter", "kv"),
        Duration::from_secs(30),
    )
    .await;
    // Host A learns it from its watch of the bucket and serves B's calls.
    let client = HttpClient::default();
    let first = client.get_until_ok(&url, Duration::from_secs(30)).await;
    assert_eq!(first.body.trim(), "1");
    hosts::leave(lattice_b, host_b).await;
    hosts::leave(lattice_a, host_a).await;
}

/// An invocation from provider `source` (granted `grant`, signing with
/// `key`) of counter's HTTP handler over link `link_name`.
async fn provider_call(
    key: &nkeys::KeyPair,
    grant: Option<ProviderGrant>,
    source: &str,
    link_name: &str,
    n: u32,
) -> SignedCall {
    let payload =
        lattice_interfaces::http::wire::encode_request(hosts::get("http://counter/visits"))
            .await
            .unwrap();
    let what = (source, "counter", "wasi:http/incoming-handler", "handle");
    call_of(what, link_name, &format!("grant-{n}"), payload).signed(key, grant)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_key_granted_by_a_host_calls_only_as_that_provider_over_its_links() {
    let nats = NatsServer::start();
    let (cluster, (host, lattice), (other_host, other_lattice)) =
        hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    hosts::start_fixture(&host, "counter", "kv_counter").await;
    let web_link = hosts::http_link("web", "counter", "127.0.0.1:0");
    lattice.put_link(web_link).await.unwrap();
    hosts::start_provider(&host, "kv", "keyvalue");
    lattice.put_link(kv_link("counter", "kv")).await.unwrap();
    let raw = nats.client().await;
    let web = nkeys::KeyPair::new_cluster();
    let web_key = web.public_key();
    let terms = GrantTerms {
        provider_id: "web",
        key: &web_key,
        host_id: host.id().as_str(),
        lattice: "default",
        expires_ms: unix_ms() + 600_000,
    };
    let grant = ProviderGrant::issue(&cluster, terms).unwrap();
    // The refusal of a call from provider `source` as `key` with `grant`.
    let refused = async |grant: Option<ProviderGrant>, source: &str, link_name: &str, n: u32| {
        let call = provider_call(&web, grant, source, link_name, n).await;
        refusal(call.send(&raw).await, ErrorKind::Unauthorized)
    };

    // As itself, over its link: served.
    let served = provider_call(&web, Some(grant.clone()), "web", "default", 1)
        .await
        .send(&raw)
        .await;
    assert!(served.error.is_none(), "{:?}", served.error);
    let response = lattice_interfaces::http::wire::decode_response(&served.payload).unwrap();
    assert_eq!(response.status(), 200);

    // As another source: refused.
    let message = refused(Some(grant.clone()), "intruder", "default", 2).await;
    assert!(message.contains("may only call as itself"), "{message}");
    // Over a link it does not have: refused.
    let message = refused(Some(grant.clone()), "web", "other", 3).await;
    assert!(message.contains("no link from web"), "{message}");
    // Its key without the grant: refused.
    let message = refused(None, "web", "default", 4).await;
    assert!(message.contains("is not trusted"), "{message}");
    // A grant from an untrusted issuer, or a forged one: refused.
    let stranger = nkeys::KeyPair::new_cluster();
    let foreign = ProviderGrant::issue(&stranger, terms).unwrap();
    let message = refused(Some(foreign), "web", "default", 5).await;
    assert!(message.contains("which is not trusted here"), "{message}");
    let forged = ProviderGrant {
        provider_id: "admin".into(),
        ..grant.clone()
    };
    let message = refused(Some(forged), "admin", "default", 6).await;
    assert!(message.contains("is forged"), "{message}");
    // A grant that lasts longer than signed: forged.
    let stretched = ProviderGrant {
        expires_ms: grant.expires_ms + 3_600_000,
        ..grant.clone()
    };
    let message = refused(Some(stretched), "web", "default", 7).await;
    assert!(message.contains("is forged"), "{message}");
    // An expired grant: refused.
    let expired = ProviderGrant::issue(
        &cluster,
        GrantTerms {
            expires_ms: unix_ms() - 2_000,
            ..terms
        },
    )
    .unwrap();
    let message = refused(Some(expired), "web", "default", 8).await;
    assert!(message.contains("expired"), "{message}");
    // A grant for calls from one host, used from another: refused.
    let mut elsewhere = provider_call(&web, Some(grant.clone()), "web", "default", 9).await;
    elsewhere.origin_host = other_host.id().to_string();
    let message = refusal(elsewhere.send(&raw).await, ErrorKind::Unauthorized);
    assert!(message.contains("is for calls from host"), "{message}");
    // Another lattice's grant and call, signed by the very key this
    // lattice trusts (lattices may share one): refused (issue 29, finding
    // 13; before, both passed).
    let other_lattice_grant = ProviderGrant::issue(
        &cluster,
        GrantTerms {
            lattice: "staging",
            ..terms
        },
    )
    .unwrap();
    let message = refused(Some(other_lattice_grant), "web", "default", 12).await;
    assert!(
        message.contains("belongs to lattice \"staging\""),
        "{message}"
    );
    let mut other_lattice_call =
        provider_call(&web, Some(grant.clone()), "web", "default", 13).await;
    other_lattice_call.lattice = "staging".into();
    let message = refusal(other_lattice_call.send(&raw).await, ErrorKind::Unauthorized);
    assert!(
        message.contains("belongs to lattice \"staging\""),
        "{message}"
    );

    // Revoked by its issuer: every host refuses the key from then on, even
    // under a grant that has not expired. A revocation by a stranger
    // changes nothing.
    let control = Control::from_client(raw.clone(), &nats.url(), "default");
    let forged_revocation =
        GrantRevocation::issue(&stranger, "default", &web_key, grant.expires_ms).unwrap();
    let answers = control.gather::<op::RevokeGrant>(forged_revocation).await;
    assert!(
        answers.is_empty(),
        "hosts took a stranger's revocation: {answers:?}"
    );
    let other_lattice_revocation =
        GrantRevocation::issue(&cluster, "staging", &web_key, grant.expires_ms).unwrap();
    let answers = control
        .gather::<op::RevokeGrant>(other_lattice_revocation)
        .await;
    assert!(
        answers.is_empty(),
        "hosts took another lattice's revocation: {answers:?}"
    );
    let served = provider_call(&web, Some(grant.clone()), "web", "default", 10)
        .await
        .send(&raw)
        .await;
    assert!(served.error.is_none(), "{:?}", served.error);
    let revocation =
        GrantRevocation::issue(&cluster, "default", &web_key, grant.expires_ms).unwrap();
    let answers = control.gather::<op::RevokeGrant>(revocation).await;
    assert_eq!(
        answers.len(),
        2,
        "both hosts take the revocation: {answers:?}"
    );
    let message = refused(Some(grant.clone()), "web", "default", 11).await;
    assert!(message.contains("was revoked"), "{message}");

    hosts::leave(other_lattice, other_host).await;
    hosts::leave(lattice, host).await;
}

//! A provider process's signing key, as a thief would hold it.
//!
//! The "provider" is a script that keeps everything its host writes on its
//! stdin, as a compromised provider binary would. The test signs calls with
//! what it stole: the first grant serves while it lasts and then expires;
//! the host renews the grant while the process runs; once the provider is
//! stopped, the key is revoked lattice-wide and refused even under a grant
//! that has not expired.

use std::time::Duration;

use lattice_interfaces::protocol::control::{op, StopProvider};
use lattice_interfaces::protocol::provider::{HostData, HostMessage};
use lattice_interfaces::protocol::rpc::{InvocationResponse, ProviderGrant};
use lattice_interfaces::ErrorKind;
use lattice_tests::hosts::{self, id};
use lattice_tests::lattice::{Control, TestCall};
use lattice_tests::nats::NatsServer;
use lattice_tests::{eventually, eventually_within};

/// What the thief has read so far: the host data, then each renewal.
fn stolen(log: &std::path::Path) -> (HostData, Vec<ProviderGrant>) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut lines = text.lines().filter(|line| !line.trim().is_empty());
    let data: HostData = match lines.next().map(serde_json::from_str) {
        Some(Ok(data)) => data,
        _ => panic!("no host data on the provider's stdin yet"),
    };
    let renewals = lines
        .map(|line| match serde_json::from_str(line) {
            Ok(HostMessage::RenewGrant(grant)) => grant,
            Err(error) => panic!("unreadable line on the provider's stdin: {error}: {line}"),
        })
        .collect();
    (data, renewals)
}

/// Starts provider `thief`, a script that keeps what its host writes on
/// its stdin in `dir`; the log's path, and the seed and first grant the
/// thief now holds.
async fn start_thief(
    lattice: &lattice_host::lattice::Lattice,
    dir: &std::path::Path,
) -> (std::path::PathBuf, String, ProviderGrant) {
    let log = dir.join("stdin.log");
    let keep = format!("exec cat > '{}'", log.display());
    hosts::start_script_provider(lattice, dir, "thief", &keep).await;
    let data = eventually("the provider reads its host data", async || {
        std::panic::catch_unwind(|| stolen(&log))
            .ok()
            .map(|(data, _)| data)
    })
    .await;
    let seed = data
        .invocation_seed
        .clone()
        .expect("a provider process gets a seed");
    let grant = data.invocation_grant.expect("and a grant");
    (log, seed, grant)
}

/// A call of echo's HTTP handler as provider `thief`, signed with the
/// stolen seed under `grant`.
async fn call_as_thief(
    nats: &async_nats::Client,
    seed: &str,
    grant: &ProviderGrant,
    n: u32,
) -> InvocationResponse {
    let key = nkeys::KeyPair::from_seed(seed).unwrap();
    let payload = lattice_interfaces::http::wire::encode_request(hosts::get("http://echo/"))
        .await
        .unwrap();
    TestCall {
        id: &format!("thief-{n}"),
        source: "thief",
        target: "echo",
        interface: "wasi:http/incoming-handler",
        function: "handle",
        link_name: "default",
        payload,
    }
    .signed(&key, Some(grant.clone()))
    .send(nats)
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_provider_key_expires_with_its_grant_and_dies_with_its_provider() {
    let nats = NatsServer::start();
    let cluster = lattice_host::lattice::ClusterKeys::new(nkeys::KeyPair::new_cluster(), &[]);
    let mut config = hosts::lattice_config(&nats.url(), cluster);
    config.provider_grant = Duration::from_secs(4);
    // The script answers no health check: it must not be restarted (with a
    // new key) while the test holds the old one.
    config.provider_health = Duration::from_secs(3600);
    let (host, lattice) = hosts::joined_with_config(hosts::unsigned_allowed(), &config).await;
    hosts::start_fixture(&host, "echo", "http_echo").await;
    lattice
        .put_link(hosts::link("thief", "echo", "wasi:http/incoming-handler"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The host data: a seed of the provider's own (not the host's key) and
    // a grant bound to this host, good for four seconds.
    let (log, seed, first) = start_thief(&lattice, dir.path()).await;
    let raw = nats.client().await;
    assert_eq!(first.host_id, host.id());
    assert_ne!(
        first.issuer,
        nkeys::KeyPair::from_seed(&seed).unwrap().public_key()
    );
    let served = call_as_thief(&raw, &seed, &first, 1).await;
    assert!(served.error.is_none(), "{:?}", served.error);

    // The host renews it while the process runs; the first one expires.
    eventually("the host renews the grant", async || {
        (!stolen(&log).1.is_empty()).then_some(())
    })
    .await;
    let mut n = 1;
    let expired = eventually_within(
        "the first grant expires",
        Duration::from_secs(15),
        async || {
            n += 1;
            let response = call_as_thief(&raw, &seed, &first, n).await;
            response.error.filter(|e| e.kind == ErrorKind::Unauthorized)
        },
    )
    .await;
    assert!(expired.message.contains("expired"), "{}", expired.message);
    let latest = stolen(&log).1.pop().expect("a renewed grant");
    assert_eq!(latest.key, first.key);
    assert!(latest.expires_ms > first.expires_ms);
    n += 1;
    let served = call_as_thief(&raw, &seed, &latest, n).await;
    assert!(
        served.error.is_none(),
        "a renewed grant serves: {:?}",
        served.error
    );

    // The provider stops: its key is refused under any grant.
    let control = Control::from_client(raw.clone(), &nats.url(), "default");
    control
        .ok::<op::StopProvider>(
            Some(host.id()),
            StopProvider {
                provider_id: id("thief"),
            },
        )
        .await;
    let latest = stolen(&log).1.pop().expect("a renewed grant");
    let revoked = eventually("the stopped provider's key is refused", async || {
        n += 1;
        let response = call_as_thief(&raw, &seed, &latest, n).await;
        response.error.filter(|e| e.kind == ErrorKind::Unauthorized)
    })
    .await;
    assert!(
        revoked.message.contains("was revoked"),
        "{}",
        revoked.message
    );

    hosts::leave(lattice, host).await;
}

/// A revocation outlives the moment it was sent (issue 29, finding 10): it
/// is kept in the lattice's bucket, so a host that joins after the provider
/// stopped refuses the stolen key too, under a grant that has not expired.
/// Before, only the hosts listening at that moment heard of it, and the key
/// served on a later host until its grant expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_joins_after_a_revocation_refuses_the_key() {
    let nats = NatsServer::start();
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let cluster =
        || lattice_host::lattice::ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[]);
    let mut config = hosts::lattice_config(&nats.url(), cluster());
    config.provider_grant = Duration::from_secs(600);
    config.provider_health = Duration::from_secs(3600);
    let (first, lattice) = hosts::joined_with_config(hosts::unsigned_allowed(), &config).await;
    lattice
        .put_link(hosts::link("thief", "echo", "wasi:http/incoming-handler"))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_, key_seed, grant) = start_thief(&lattice, dir.path()).await;

    // The provider stops: its key is revoked, and the revocation kept.
    let raw = nats.client().await;
    let control = Control::from_client(raw.clone(), &nats.url(), "default");
    control
        .ok::<op::StopProvider>(
            Some(first.id()),
            StopProvider {
                provider_id: id("thief"),
            },
        )
        .await;
    let bucket = async_nats::jetstream::new(raw.clone())
        .get_key_value("LATTICE_default")
        .await
        .unwrap();
    eventually("the revocation is in the bucket", async || {
        bucket
            .get(format!("revoked.{}", grant.key))
            .await
            .ok()
            .flatten()
    })
    .await;

    // A host that was not there then runs the target now.
    let mut later = hosts::lattice_config(&nats.url(), cluster());
    later.provider_health = Duration::from_secs(3600);
    let (second, second_lattice) =
        hosts::joined_with_config(hosts::unsigned_allowed(), &later).await;
    hosts::start_fixture(&second, "echo", "http_echo").await;
    eventually("the later host to serve echo", async || {
        raw.request("lattice.default.rpc.echo", "not an invocation".into())
            .await
            .ok()
    })
    .await;
    let answer = call_as_thief(&raw, &key_seed, &grant, 1).await;
    let refused = answer.error.expect("the revoked key is refused");
    assert_eq!(refused.kind, ErrorKind::Unauthorized, "{}", refused.message);
    assert!(
        refused.message.contains("was revoked"),
        "{}",
        refused.message
    );
    hosts::leave(second_lattice, second).await;
    hosts::leave(lattice, first).await;
}

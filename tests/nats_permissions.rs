//! NATS itself keeps a provider process in its lane.
//!
//! A `nats-server` runs with `examples/nats/lattice.conf` (its users and
//! subject permissions) and fresh keys. A host joins as the host user and
//! starts the key-value provider process `kv` with credentials of its own
//! (`--provider-credentials`): the provider serves the counter actor, so its
//! permissions are enough. Then a client holding the provider's credentials
//! tries what a compromised provider would: a control request, a write to
//! the state bucket, a subscription to another target's calls and to
//! everyone's replies. The server refuses each (its log says so) and the
//! host goes on serving.

use std::time::Duration;

use lattice_host::lattice::ClusterKeys;
use lattice_tests::hosts::{self, id, kv_link, serve_fixture};
use lattice_tests::lattice::Control;
use lattice_tests::nats::NatsServer;

/// A server running the example configuration with new user keys; the
/// seeds of the host, the operator and provider `kv`, and a directory with
/// `kv.nk` for `--provider-credentials`.
struct Secured {
    nats: NatsServer,
    host_seed: String,
    operator_seed: String,
    provider_seed: String,
    caller_seed: String,
    credentials: tempfile::TempDir,
    _config: tempfile::TempDir,
}

fn secured() -> Secured {
    let config = tempfile::tempdir().unwrap();
    let example = lattice_tests::fixtures::repo_root().join("examples/nats/lattice.conf");
    std::fs::copy(&example, config.path().join("lattice.conf")).unwrap();
    let (host, operator, provider, caller) = (
        nkeys::KeyPair::new_user(),
        nkeys::KeyPair::new_user(),
        nkeys::KeyPair::new_user(),
        nkeys::KeyPair::new_user(),
    );
    std::fs::write(
        config.path().join("keys.conf"),
        format!(
            "HOST_NKEY: \"{}\"\nOPERATOR_NKEY: \"{}\"\nPROVIDER_KV_NKEY: \"{}\"\nCALLER_NKEY: \"{}\"\n",
            host.public_key(),
            operator.public_key(),
            provider.public_key(),
            caller.public_key()
        ),
    )
    .unwrap();
    let credentials = tempfile::tempdir().unwrap();
    let provider_seed = provider.seed().unwrap();
    std::fs::write(credentials.path().join("kv.nk"), &provider_seed).unwrap();
    Secured {
        nats: NatsServer::start_with_config(&config.path().join("lattice.conf")),
        host_seed: host.seed().unwrap(),
        operator_seed: operator.seed().unwrap(),
        provider_seed,
        caller_seed: caller.seed().unwrap(),
        credentials,
        _config: config,
    }
}

async fn connect_as(url: &str, seed: &str, inbox_prefix: &str) -> async_nats::Client {
    async_nats::ConnectOptions::with_nkey(seed.to_string())
        .custom_inbox_prefix(inbox_prefix)
        .connect(url)
        .await
        .unwrap()
}

/// Waits until the server has logged a `kind` (`Publish`, `Subscription`)
/// permission violation on `subject`; fails the test after 10 s.
fn refused_by_nats(nats: &NatsServer, kind: &str, subject: &str) {
    let violation = format!("{kind} Violation");
    let subject = format!("\"{subject}\"");
    lattice_tests::wait_for(
        &format!("nats-server to log a {violation} on {subject}"),
        Duration::from_secs(10),
        || nats.logged(&[&violation, &subject]).then_some(()),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_with_its_own_credentials_serves_and_nats_refuses_it_the_control_plane() {
    let secured = secured();
    let url = secured.nats.url();
    let mut config = hosts::lattice_config(&url, ClusterKeys::development());
    config.nats.nkey = Some(secured.host_seed.clone());
    config.provider_credentials = Some(secured.credentials.path().to_path_buf());
    let (host, lattice) = hosts::joined_with_config(hosts::unsigned_allowed(), &config).await;

    // A provider with no credentials in the directory is not started.
    let refused = lattice
        .start_provider_process(
            &id("other"),
            &lattice_tests::fixtures::binary("lattice-provider-keyvalue"),
            Default::default(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("no NATS credentials of its own"),
        "{refused}"
    );

    // Within its permissions, the provider does its job.
    let counter = format!(
        "{}visits",
        serve_fixture(&host, &lattice, "counter", "kv_counter").await
    );
    hosts::start_provider_process(&lattice, "kv", "lattice-provider-keyvalue", &[]).await;
    lattice.put_link(kv_link("counter", "kv")).await.unwrap();
    let client = lattice_tests::http_client::HttpClient::default();
    let reply = client.get_until_ok(&counter, Duration::from_secs(30)).await;
    assert_eq!(reply.body.trim(), "1");

    // With the provider's credentials: no control request...
    let stolen = connect_as(&url, &secured.provider_seed, "_INBOX.provider.kv").await;
    let ping = tokio::time::timeout(
        Duration::from_secs(2),
        stolen.request("lattice.default.ctl.v1.host.ping", "{}".into()),
    )
    .await;
    assert!(!matches!(ping, Ok(Ok(_))), "a control request was answered");
    refused_by_nats(&secured.nats, "Publish", "lattice.default.ctl.v1.host.ping");

    // ... no write to the state bucket ...
    let js = async_nats::jetstream::new(stolen.clone());
    let kv = js.get_key_value("LATTICE_default").await.unwrap();
    let written = tokio::time::timeout(
        Duration::from_secs(2),
        kv.put("link.evil.wasi.http.default", "{}".into()),
    )
    .await;
    assert!(!matches!(written, Ok(Ok(_))), "the bucket took a write");
    refused_by_nats(
        &secured.nats,
        "Publish",
        "$KV.LATTICE_default.link.evil.wasi.http.default",
    );

    // ... and neither another target's calls nor anyone else's replies.
    let _calls = stolen
        .subscribe("lattice.default.rpc.counter")
        .await
        .unwrap();
    refused_by_nats(&secured.nats, "Subscription", "lattice.default.rpc.counter");
    let _replies = stolen.subscribe("_INBOX.>").await.unwrap();
    refused_by_nats(&secured.nats, "Subscription", "_INBOX.>");

    // The lattice goes on: the operator's requests are answered, the
    // counter counts.
    let operator = connect_as(&url, &secured.operator_seed, "_INBOX").await;
    let ctl = Control::from_client(operator, &url, "default");
    assert_eq!(ctl.ping_ids().await, [host.id()]);
    let reply = client.get(&counter).await.unwrap();
    assert_eq!(reply.body.trim(), "2");
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_credential_runs_lattice_ctl_call_and_nothing_else() {
    let secured = secured();
    let url = secured.nats.url();
    let mut config = hosts::lattice_config(&url, ClusterKeys::development());
    config.nats.nkey = Some(secured.host_seed.clone());
    let (host, lattice) = hosts::joined_with_config(hosts::unsigned_allowed(), &config).await;
    hosts::start_fixture(&host, "uppercase", "uppercase").await;
    let seed_file = secured.credentials.path().join("caller.nk");
    std::fs::write(&seed_file, &secured.caller_seed).unwrap();
    let seed_file = seed_file.display().to_string();
    let as_caller = |args: &[&str]| {
        let mut all = vec!["--nats-nkey", seed_file.as_str(), "--timeout", "3"];
        all.extend_from_slice(args);
        lattice_tests::process::ctl_at(&url, &all)
    };

    // No cluster key, no host key: the caller's own NATS key is enough.
    let called = as_caller(&[
        "call",
        "uppercase",
        "example:uppercase/convert.upper",
        "\"hello\"",
    ]);
    assert_eq!(
        lattice_tests::process::succeeded(&called).trim(),
        "\"HELLO\""
    );

    // Anything else is refused by NATS itself.
    let put = as_caller(&[
        "link",
        "put",
        "http",
        "uppercase",
        "wasi:http/incoming-handler",
        "--source-config",
        "address=127.0.0.1:1",
    ]);
    assert!(!put.status.success(), "a caller put a link");
    refused_by_nats(&secured.nats, "Publish", "lattice.default.ctl.v1.link.put");
    let stop = as_caller(&["stop", "actor", "uppercase", "--host", host.id().as_str()]);
    assert!(!stop.status.success(), "a caller stopped an actor");
    refused_by_nats(
        &secured.nats,
        "Publish",
        &format!("lattice.default.ctl.v1.actor.scale.{}", host.id()),
    );
    assert!(
        host.actor(&id("uppercase")).is_some(),
        "the actor still runs"
    );
    hosts::leave(lattice, host).await;
}

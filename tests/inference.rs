//! Inference: `wasi:nn` on ONNX Runtime. The classify example scores four
//! numbers with a model its manifest names (`models = { classifier = … }`)
//! and answers the best class: on the host that runs it (its HTTP server
//! in the same process), and through an HTTP server on another host. A
//! host without ONNX Runtime refuses an actor that imports `wasi:nn`,
//! saying how to give it the library; a host given a file that is not the
//! library does not start. A model pushed to a registry
//! (`lattice-ctl push`) serves by reference, pinned to its digest; a
//! digest the registry does not hold is refused. A malformed model, and
//! tensors the backend cannot take (another type, the wrong size, over
//! the limit), are each refused in one line, and the host goes on
//! serving.

use std::path::PathBuf;

use lattice_host::lattice::{ClusterKeys, Lattice};
use lattice_host::{Host, RuntimeConfig};
use lattice_interfaces::ActorSpec;
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;
use lattice_tests::registry::RegistryServer;
use lattice_tests::{eventually, fixtures};

/// ONNX Runtime's library: `LATTICE_TEST_ONNXRUNTIME`, which
/// `./scripts/test` installs from PyPI.
fn onnxruntime() -> PathBuf {
    std::env::var_os("LATTICE_TEST_ONNXRUNTIME")
        .map(PathBuf::from)
        .filter(|path| path.is_file())
        .expect("no ONNX Runtime: run ./scripts/test, or set LATTICE_TEST_ONNXRUNTIME to libonnxruntime.so (pip install onnxruntime==1.22.1)")
}

/// A development host that serves `wasi:nn`.
fn inference_host() -> Host {
    Host::new(inference_config()).unwrap()
}

/// What [`inference_host`] starts a host with.
fn inference_config() -> lattice_host::HostConfig {
    hosts::config_with(
        hosts::unsigned_allowed(),
        RuntimeConfig {
            cache_dir: None,
            pool_instances: 50,
            onnxruntime: Some(onnxruntime()),
            ..RuntimeConfig::default()
        },
    )
}

/// `host` joined to a lattice of its own on a new NATS server.
async fn in_a_lattice(host: &Host) -> (NatsServer, Lattice) {
    let nats = NatsServer::start();
    let config = hosts::lattice_config(&nats.url(), ClusterKeys::development());
    let lattice = Lattice::join(host.clone(), &config).await.unwrap();
    (nats, lattice)
}

/// The classify example's model.
fn model() -> String {
    fixtures::repo_root()
        .join("examples/classify/model.onnx")
        .display()
        .to_string()
}

/// Actor `id` from `fixture`, loading `models`.
fn spec(id_: &str, fixture: &str, models: &[(&str, &str)]) -> ActorSpec {
    ActorSpec {
        models: models
            .iter()
            .map(|(name, path)| (name.to_string(), path.to_string()))
            .collect(),
        ..hosts::fixture_spec(id_, fixture)
    }
}

/// The class the example answers for `x`, through `url`.
async fn class_of(client: &HttpClient, url: &str, x: &str) -> String {
    let reply = client.get_reply(&format!("{url}?x={x}")).await;
    assert_eq!(reply.status, 200, "{x}: {}", reply.body);
    reply.body
}

/// The example's answers to inputs whose class is plain.
async fn answers_right(client: &HttpClient, url: &str) {
    for (x, class) in [
        ("0.9,0.1,0.2,0", "class 0 (scores 0.90 0.10 0.20)"),
        ("0,1,0,0", "class 1 (scores 0.00 1.00 0.00)"),
        ("0.1,0.2,0.7,0.3", "class 2 (scores 0.10 0.20 0.70)"),
    ] {
        assert_eq!(class_of(client, url, x).await.trim(), class, "x={x}");
    }
    let bad = client.get_reply(&format!("{url}?x=1,2")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_answers_the_right_class_on_its_host_and_across_hosts() {
    let nats = NatsServer::start();
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let keys = || ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[]);
    // East runs the actor; west, with no ONNX Runtime, its HTTP server.
    let east = inference_host();
    let east_lattice = Lattice::join(east.clone(), &hosts::lattice_config(&nats.url(), keys()))
        .await
        .unwrap();
    let (west, west_lattice) =
        hosts::joined_with_keys(&nats.url(), hosts::unsigned_allowed(), keys()).await;
    assert_eq!(
        east.labels().get("nn.onnx").map(String::as_str),
        Some("cpu")
    );
    assert!(!west.labels().contains_key("nn.onnx"));

    east.start_actor(&spec("classify", "classify", &[("classifier", &model())]))
        .await
        .unwrap();
    let client = HttpClient::default();
    let here = hosts::serve_http(&east, &east_lattice, "classify").await;
    answers_right(&client, &here).await;
    assert!(east.routing().of(&id("classify")).remote == 0);

    // Through west's HTTP server: every call crosses to east.
    hosts::start_provider(&west, "edge", "http-server");
    west_lattice
        .put_link(hosts::http_link("edge", "classify", "127.0.0.1:0"))
        .await
        .unwrap();
    let there = eventually("west's HTTP server", async || {
        west.http_endpoints()
            .into_iter()
            .find(|e| e.link.source.as_str() == "edge")
            .map(|e| e.url())
    })
    .await;
    answers_right(&client, &there).await;
    assert!(west.routing().of(&id("classify")).remote >= 4);
    hosts::leave(west_lattice, west).await;
    hosts::leave(east_lattice, east).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_without_onnx_runtime_refuses_an_inference_actor_and_says_how_to_fix_it() {
    let host = hosts::host(hosts::unsigned_allowed(), None);
    for wanted in [
        spec("classify", "classify", &[]),
        spec("classify", "hello", &[("classifier", &model())]),
    ] {
        let refused = host.start_actor(&wanted).await.unwrap_err().to_string();
        assert!(
            refused.contains("this host has no ONNX Runtime")
                && refused.contains("--onnxruntime PATH")
                && refused.contains("onnxruntime==1.22.1"),
            "{refused}"
        );
        assert_eq!(refused.lines().count(), 1, "{refused}");
    }
    // Everything else runs.
    hosts::start_fixture(&host, "hello", "hello").await;

    // A file that is not the library stops the host before it serves.
    let out = lattice_tests::process::lattice_ctl()
        .args(["up", "--allow-unsigned", "--onnxruntime", "/etc/hostname"])
        .arg(fixtures::repo_root().join("examples/hello/hello.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("ONNX Runtime /etc/hostname refused"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_models_and_tensors_are_refused_in_one_line_and_the_host_serves_on() {
    let host = inference_host();
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"\x08\x01garbage, not a model").unwrap();
    let refused = host
        .start_actor(&spec(
            "classify",
            "classify",
            &[("classifier", &garbage.display().to_string())],
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("model \"classifier\"")
            && refused.contains("is not a model ONNX Runtime can load"),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "{refused}");

    let (_nats, lattice) = in_a_lattice(&host).await;
    hosts::start_fixture(&host, "tensors", "nn_misbehaving").await;
    let url = hosts::serve_http(&host, &lattice, "tensors").await;
    let client = HttpClient::default();
    for (path, reason) in [
        (
            "u8",
            "a tensor of u8 is not supported: the ONNX backend takes fp32 tensors",
        ),
        (
            "short",
            "a tensor of dimensions [1, 4] holds 16 bytes of fp32, not 15",
        ),
        (
            "huge",
            "a tensor of dimensions [65536, 65536] is over the limit of 67108864 bytes",
        ),
    ] {
        let reply = client.get_reply(&format!("{url}{path}")).await;
        assert_eq!(reply.status, 500, "{path}: {} {}", reply.status, reply.body);
        assert!(reply.body.contains(reason), "{path}: {}", reply.body);
        assert_eq!(
            reply.body.trim().lines().count(),
            1,
            "{path}: {}",
            reply.body
        );
    }
    let fine = client.get_reply(&format!("{url}fine")).await;
    assert_eq!((fine.status, fine.body.trim()), (200, "made"));
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_pushed_to_a_registry_serves_by_reference_and_a_changed_digest_is_refused() {
    let registry = RegistryServer::start();
    let reference = registry.reference("models/classifier:1");
    let pushed = lattice_tests::process::lattice_ctl()
        .args(["push", &reference, &model(), "-o", "json"])
        .args(["--allow-insecure-registry", &registry.address()])
        .output()
        .unwrap();
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let pushed: serde_json::Value = serde_json::from_slice(&pushed.stdout).unwrap();
    assert_eq!(pushed["kind"], "model", "{pushed}");
    let digest = pushed["digest"].as_str().unwrap().to_string();

    let host = Host::new(lattice_host::HostConfig {
        registries: hosts::plain_http(&registry),
        ..inference_config()
    })
    .unwrap();
    let pinned = format!("{}@{digest}", registry.reference("models/classifier"));
    for by in [reference.as_str(), pinned.as_str()] {
        host.start_actor(&spec("classify", "classify", &[("classifier", by)]))
            .await
            .unwrap();
        assert!(
            host.artifacts_held()
                .iter()
                .any(|held| held.ends_with(&digest)),
            "{:?}",
            host.artifacts_held()
        );
        host.stop_actor(&id("classify")).unwrap();
    }
    let (_nats, lattice) = in_a_lattice(&host).await;
    host.start_actor(&spec("classify", "classify", &[("classifier", &pinned)]))
        .await
        .unwrap();
    let url = hosts::serve_http(&host, &lattice, "classify").await;
    answers_right(&HttpClient::default(), &url).await;

    // Another digest: not what was pushed, so nothing to load.
    let changed = format!(
        "{}@sha256:{}",
        registry.reference("models/classifier"),
        "0".repeat(64)
    );
    let refused = host
        .start_actor(&spec("other", "classify", &[("classifier", &changed)]))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("model \"classifier\""), "{refused}");
    assert_eq!(refused.lines().count(), 1, "{refused}");
    // A component is not a model.
    let component = registry.reference("hello:1");
    let ctl_push = lattice_tests::process::lattice_ctl()
        .args([
            "push",
            &component,
            fixtures::wasm("hello").to_str().unwrap(),
        ])
        .args(["--allow-insecure-registry", &registry.address()])
        .output()
        .unwrap();
    assert!(ctl_push.status.success());
    let refused = host
        .start_actor(&spec("other", "classify", &[("classifier", &component)]))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("model \"classifier\"") && refused.contains("not a model for wasi:nn"),
        "{refused}"
    );
    assert_eq!(refused.lines().count(), 1, "{refused}");
    hosts::leave(lattice, host).await;
}

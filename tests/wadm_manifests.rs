//! wasmCloud's components and wadm manifests, unchanged.
//!
//! Components built the way wasmCloud's examples are (the
//! `wasmcloud-component` 0.2 crate; `wit-bindgen` against wasmCloud's WIT)
//! are deployed by a manifest in wadm's own format, naming wasmCloud's
//! provider images, applied with `lattice-ctl apply -f`: an HTTP hello, a
//! counter that opens its bucket before it picks a named link
//! (`wasmcloud:bus/lattice@2.0.0`) and counts in Redis where wasmCloud's
//! provider would, one reading `wasi:config/runtime` and a secret through
//! `wasmcloud:secrets`, and the echo-messaging handler answering over NATS.
//! The app is written back with `get app -o wadm`, and that applies
//! again; a field Lattice cannot honour is refused in one line naming it.

use std::time::Duration;

use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at, lattice_ctl, succeeded};
use lattice_tests::redis::RedisServer;
use lattice_tests::{eventually, fixtures, free_port, hosts};

/// The manifest, in wadm's format, as a wasmCloud user writes it.
fn manifest(nats: &str, redis: &str, ports: [u16; 3], secret_file: &str) -> String {
    let wasm = |name: &str| format!("file://{}", fixtures::wasm(name).display());
    let [hello, counter, checker] = ports;
    format!(
        r#"apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: from-wasmcloud
  annotations:
    version: v0.0.1
    description: 'wasmCloud components, unchanged'
spec:
  policies:
    - name: files
      type: policy.secret.wasmcloud.dev/v1alpha1
      properties:
        backend: file
  components:
    - name: hello
      type: component
      properties:
        image: {hello_wasm}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
    - name: counter
      type: component
      properties:
        image: {counter_wasm}
        config:
          - name: counter-greeting
            properties:
              greeting: visits
      traits:
        - type: spreadscaler
          properties:
            instances: 2
        - type: link
          properties:
            name: counts
            target:
              name: kvredis
              config:
                - name: redis-url
                  properties:
                    URL: {redis}
            namespace: wasi
            package: keyvalue
            interfaces: [atomics, store]
    - name: checker
      type: component
      properties:
        image: {checker_wasm}
        config:
          - name: checker-greeting
            properties:
              greeting: Hello from wasi:config/runtime
        secrets:
          - name: api_password
            properties:
              policy: files
              key: {secret_file}
      traits:
        - type: spreadscaler
          properties:
            replicas: 1
    - name: echo
      type: component
      properties:
        image: {echo_wasm}
      traits:
        - type: spreadscaler
          properties:
            instances: 1
        - type: link
          properties:
            namespace: wasmcloud
            package: messaging
            interfaces: [consumer]
            target:
              name: nats
              config:
                - name: echo-nats
                  properties:
                    cluster_uris: {nats}
    - name: kvredis
      type: capability
      properties:
        image: ghcr.io/wasmcloud/keyvalue-redis:0.30.0
    - name: nats
      type: capability
      properties:
        image: ghcr.io/wasmcloud/messaging-nats:0.27.0
      traits:
        - type: link
          properties:
            namespace: wasmcloud
            package: messaging
            interfaces: [handler]
            target:
              name: echo
            source:
              name: nats
              config:
                - name: echo-subscriptions
                  properties:
                    subscriptions: wasmcloud.echo
                    cluster_uris: {nats}
    - name: httpserver
      type: capability
      properties:
        image: ghcr.io/wasmcloud/http-server:0.27.0
      traits:
        - type: link
          properties:
            target:
              name: hello
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: hello-http
                  properties:
                    address: 127.0.0.1:{hello}
        - type: link
          properties:
            name: counter
            target:
              name: counter
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: counter-http
                  properties:
                    address: 127.0.0.1:{counter}
        - type: link
          properties:
            name: checker
            target:
              name: checker
            namespace: wasi
            package: http
            interfaces: [incoming-handler]
            source:
              config:
                - name: checker-http
                  properties:
                    address: 127.0.0.1:{checker}
"#,
        hello_wasm = wasm("wasmcloud_hello"),
        counter_wasm = wasm("wasmcloud_counter"),
        checker_wasm = wasm("wasmcloud_config_secrets"),
        echo_wasm = wasm("echo_messaging"),
    )
}

/// The body at `url` once it answers 200.
async fn answered(url: &str) -> String {
    let client = HttpClient::default();
    eventually(&format!("{url} to answer"), async || {
        client
            .get(url)
            .await
            .ok()
            .filter(|reply| reply.status == 200)
            .map(|reply| reply.body)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wasmcloud_components_run_unchanged_from_a_wadm_manifest() {
    let nats = NatsServer::start();
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    // A development host that reads secret files from `dir`.
    let host = lattice_host::Host::new(lattice_host::HostConfig {
        trust: hosts::unsigned_allowed(),
        secret_dirs: vec![dir.path().to_path_buf()],
        ..lattice_host::HostConfig::default()
    })
    .unwrap();
    let lattice = lattice_host::lattice::Lattice::join(
        host.clone(),
        &hosts::lattice_config(
            &nats.url(),
            lattice_host::lattice::ClusterKeys::development(),
        ),
    )
    .await
    .unwrap();
    let secret = dir.path().join("api_password");
    std::fs::write(&secret, "opensesame").unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let file = dir.path().join("app.wadm.yaml");
    std::fs::write(
        &file,
        manifest(
            &nats.url(),
            &redis.url(),
            ports,
            &secret.display().to_string(),
        ),
    )
    .unwrap();

    // Applied as wash would: `apply -f FILE`; each wasmCloud provider
    // image is served by a built-in provider, and says so.
    let applied = ctl_at(&nats.url(), &["apply", "-f", file.to_str().unwrap()]);
    let printed = succeeded(&applied);
    assert!(
        printed.contains("app from-wasmcloud version 1 applied"),
        "{printed}"
    );
    let notices = String::from_utf8_lossy(&applied.stderr);
    for image in [
        "keyvalue-redis:0.30.0",
        "messaging-nats:0.27.0",
        "http-server:0.27.0",
    ] {
        assert!(notices.contains(image), "no notice for {image}: {notices}");
    }

    let [hello, counter, checker] = ports.map(|port| format!("http://127.0.0.1:{port}/"));
    assert_eq!(
        answered(&hello).await,
        "Hello from a wasmCloud component!\n"
    );

    // The counter opened its bucket before choosing the link `counts`, and
    // counts in Redis under the key itself, as wasmCloud's provider does.
    assert_eq!(answered(&format!("{counter}visits")).await, "visits 1\n");
    assert_eq!(answered(&format!("{counter}visits")).await, "visits 2\n");
    let mut redis_client = redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let stored: Option<String> = redis::AsyncCommands::get(&mut redis_client, "visits")
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some("2"));

    // wasi:config/runtime and wasmcloud:secrets.
    assert_eq!(answered(&checker).await, "Hello from wasi:config/runtime\n");
    assert_eq!(
        answered(&format!("{checker}check?opensesame")).await,
        "password ok\n"
    );
    HttpClient::default()
        .get_reply(&format!("{checker}check?guess"))
        .await
        .assert_error(403, "wrong password");

    // The messaging handler answers on wasmCloud's subject.
    let client = nats.client().await;
    let echoed = eventually("the echo handler to answer", async || {
        tokio::time::timeout(
            Duration::from_secs(2),
            client.request("wasmcloud.echo", "ping".into()),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .map(|reply| String::from_utf8_lossy(&reply.payload).into_owned())
    })
    .await;
    assert_eq!(echoed, "echo: ping");

    // Written back as wadm, it is the same app: applied again, it changes
    // nothing.
    let written = succeeded(&ctl_at(
        &nats.url(),
        &["get", "app", "from-wasmcloud", "-o", "wadm"],
    ));
    assert!(
        written.contains("apiVersion: core.oam.dev/v1beta1"),
        "{written}"
    );
    let again = dir.path().join("again.wadm.yaml");
    std::fs::write(&again, &written).unwrap();
    let reapplied = succeeded(&ctl_at(&nats.url(), &["apply", again.to_str().unwrap()]));
    assert!(
        reapplied.contains("app from-wasmcloud unchanged: version 1"),
        "{reapplied}"
    );
    let toml = succeeded(&ctl_at(&nats.url(), &["get", "app", "from-wasmcloud"]));
    assert!(toml.contains("reference = \"keyvalue\""), "{toml}");

    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wadm_field_lattice_cannot_honour_is_refused_in_one_line() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "    - name: hello\n      type: component\n      properties:\n        image: ghcr.io/example/hello:1\n      traits:\n        - type: autoscaler\n          properties: { max: 3 }\n",
            "trait type \"autoscaler\" is not supported",
        ),
        (
            "    - name: hello\n      type: component\n      properties:\n        image: ghcr.io/example/hello:1\n        imagePullPolicy: Always\n",
            "unknown field `imagePullPolicy`",
        ),
    ];
    for (component, expected) in cases {
        let file = dir.path().join("bad.wadm.yaml");
        std::fs::write(
            &file,
            format!("apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata:\n  name: bad\n  annotations: {{}}\nspec:\n  components:\n{component}"),
        )
        .unwrap();
        let output = ctl_at(&nats.url(), &["apply", file.to_str().unwrap()]);
        assert!(!output.status.success());
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.trim();
        assert!(said.contains(expected), "expected {expected:?}: {said}");
        assert_eq!(said.lines().count(), 1, "{said}");
    }
    // Read from standard input too.
    let mut child = lattice_ctl()
        .args(["apply", "-f", "-", "--nats-url", &nats.url()])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(b"apiVersion: core.oam.dev/v1beta1\nkind: Application\nmetadata: { name: bad, labels: { a: b } }\nspec: { components: [] }\n")
            .unwrap();
    }
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("metadata.labels"), "{said}");
}

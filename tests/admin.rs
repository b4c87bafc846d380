//! The operator endpoints of `lattice-host --admin-address`: what a
//! Kubernetes DaemonSet probes and Prometheus scrapes.
//!
//! A real `lattice-host` joined to a real nats-server serves hello. The test
//! reads `/livez`, `/readyz` and `/metrics` over HTTP: ready once joined,
//! not ready (with the reason) while its NATS server is gone and ready again
//! when it is back; call counts that match the calls made; refusals for
//! anything else.

use std::time::Duration;

use lattice_tests::http_client::{raw_exchange, HttpClient};
use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use lattice_tests::{fixtures, hosts, wait_for};

fn host_binary() -> String {
    lattice_tests::fixtures::binary("lattice-host")
}

fn get(runtime: &tokio::runtime::Runtime, url: &str) -> Option<(u16, String)> {
    runtime
        .block_on(HttpClient::default().get(url))
        .ok()
        .map(|reply| (reply.status, reply.body))
}

#[test]
fn admin_endpoints_report_liveness_readiness_and_metrics() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let nats_port = lattice_tests::free_port();
    let nats = NatsServer::start_on(nats_port);
    let admin = format!("127.0.0.1:{}", lattice_tests::free_port());
    let web = format!("127.0.0.1:{}", lattice_tests::free_port());
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("hello.toml");
    std::fs::write(
        &manifest,
        hosts::hello_manifest(&fixtures::wasm("hello"), &web),
    )
    .unwrap();
    let host = HostProcess::start(
        &host_binary(),
        &nats.url(),
        "default",
        &[
            "--admin-address",
            &admin,
            "--manifest",
            manifest.to_str().unwrap(),
        ],
    );

    assert_eq!(
        get(&runtime, &format!("http://{admin}/livez")),
        Some((200, "ok\n".into()))
    );
    wait_for("the host to be ready", Duration::from_secs(20), || {
        get(&runtime, &format!("http://{admin}/readyz")).filter(|(status, _)| *status == 200)
    });

    // Metrics count what happened: three calls to hello, all in-process.
    for _ in 0..3 {
        assert_eq!(get(&runtime, &format!("http://{web}/")).unwrap().0, 200);
    }
    let (status, metrics) = get(&runtime, &format!("http://{admin}/metrics")).unwrap();
    assert_eq!(status, 200);
    for line in [
        "lattice_actor_calls_total{actor=\"hello\"} 3",
        "lattice_actor_call_failures_total{actor=\"hello\"} 0",
        "lattice_routed_calls_total{target=\"hello\",route=\"local\"} 3",
        "lattice_routed_calls_total{target=\"hello\",route=\"remote\"} 0",
        "lattice_provider_running{provider=\"http\",reference=\"http-server\"} 1",
        // The default budget, nothing held between calls.
        "lattice_payload_budget_bytes{} 268435456",
        "lattice_payload_budget_held_bytes{} 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    // Each call's time to its answer is in the actor's latency histogram.
    for line in [
        "lattice_actor_call_duration_seconds_count{actor=\"hello\"} 3",
        "lattice_actor_call_duration_seconds_bucket{le=\"+Inf\",actor=\"hello\"} 3",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("# TYPE lattice_actor_call_duration_seconds histogram")),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"), "{metrics}");

    // Its NATS server goes away: not ready, saying why; back: ready again.
    drop(nats);
    let (_, reason) = wait_for(
        "/readyz to fail without NATS",
        Duration::from_secs(20),
        || get(&runtime, &format!("http://{admin}/readyz")).filter(|(status, _)| *status == 503),
    );
    assert!(reason.contains("not connected to NATS"), "{reason}");
    // The actors still serve: only lattice calls need NATS.
    assert_eq!(get(&runtime, &format!("http://{web}/")).unwrap().0, 200);
    let _nats = NatsServer::start_on(nats_port);
    wait_for(
        "/readyz to pass with NATS back",
        Duration::from_secs(30),
        || get(&runtime, &format!("http://{admin}/readyz")).filter(|(status, _)| *status == 200),
    );

    // Anything else is refused with a reason; garbage does not stop it.
    let reply = runtime
        .block_on(HttpClient::default().request(
            http::Method::POST,
            &format!("http://{admin}/metrics"),
            bytes::Bytes::new(),
        ))
        .unwrap();
    assert_eq!(reply.status, 405);
    let (status, body) = get(&runtime, &format!("http://{admin}/admin/secrets")).unwrap();
    assert_eq!(status, 404);
    assert!(body.contains("try /livez"), "{body}");
    raw_exchange(
        &admin,
        b"\x16\x03\x01 not http at all\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(
        get(&runtime, &format!("http://{admin}/livez")),
        Some((200, "ok\n".into()))
    );

    // SIGTERM: a clean exit.
    host.terminate();
    let mut host = host;
    let status = host.wait_exit(Duration::from_secs(30)).expect("no exit");
    assert!(status.success(), "{status:?}");
}

/// A host whose settings name a file or directory that is not there stops
/// at once with one line naming the setting and the path; an OTLP endpoint
/// that is not a URL is a warning, and the host serves on.
#[test]
fn a_host_with_a_missing_file_in_its_settings_says_which_and_exits() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let garbled = dir.path().join("config.json");
    std::fs::write(&garbled, "{not json").unwrap();
    let garbled = garbled.display().to_string();
    for (args, expected) in [
        (
            vec!["--secret-dir", "/nonexistent/secrets"],
            "--secret-dir /nonexistent/secrets: ",
        ),
        (
            vec!["--registry-config", "/nonexistent/config.json"],
            "registry credentials /nonexistent/config.json: ",
        ),
        (
            vec!["--registry-config", garbled.as_str()],
            "not a Docker config.json",
        ),
        (
            vec!["--cluster-seed", "/nonexistent/seed"],
            "cluster seed: not an nkeys seed (S…) and no file of that name",
        ),
        (
            vec!["--provider-credentials", "/nonexistent/creds"],
            "--provider-credentials /nonexistent/creds: ",
        ),
    ] {
        let output = std::process::Command::new(host_binary())
            .args(["--nats-url", &nats.url(), "--allow-unsigned"])
            .args(&args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
        assert!(errors[0].contains(expected), "{args:?}: {stderr}");
    }

    let mut host = HostProcess::start(
        &host_binary(),
        &nats.url(),
        "default",
        &["--otlp-endpoint", "collector:4318"],
    );
    assert!(host.logged(&[
        "OTLP endpoint \"collector:4318\"",
        "traces are not exported"
    ]));
    assert!(
        host.wait_exit(Duration::from_millis(200)).is_none(),
        "the host stopped"
    );
}

/// A client that sends half a request head, or opens connection after
/// connection, cannot hold the admin endpoint: each connection has
/// `ADMIN_HEADER_TIMEOUT` (5 s) to send its head, and past
/// `MAX_ADMIN_CONNECTIONS` (256) a new one is closed at once, so the probes
/// answer again within seconds (issue 29, finding 11: before, half-sent
/// requests stayed open for good and took the host's descriptors).
#[test]
fn half_sent_requests_and_connection_floods_do_not_hold_the_admin_endpoint() {
    use std::io::{Read as _, Write as _};

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let nats = NatsServer::start();
    let admin = format!("127.0.0.1:{}", lattice_tests::free_port());
    let _host = HostProcess::start(
        &host_binary(),
        &nats.url(),
        "default",
        &["--admin-address", &admin],
    );
    wait_for("the admin endpoint", Duration::from_secs(20), || {
        get(&runtime, &format!("http://{admin}/livez")).filter(|(status, _)| *status == 200)
    });

    let mut open: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&admin).unwrap();
            stream
                .write_all(b"GET /livez HTTP/1.1\r\nHost: admin\r\n")
                .unwrap();
            stream.set_nonblocking(true).unwrap();
            stream
        })
        .collect();
    // Every one of them is closed by the host: the excess at once, the
    // rest when their head is late.
    wait_for(
        "the host to close every half-sent request",
        Duration::from_secs(20),
        || {
            open.retain_mut(|stream| {
                let mut buffer = [0u8; 512];
                match stream.read(&mut buffer) {
                    Ok(0) => false,
                    Ok(_) => true,
                    Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
                }
            });
            open.is_empty().then_some(())
        },
    );
    assert_eq!(
        get(&runtime, &format!("http://{admin}/livez")).map(|(status, _)| status),
        Some(200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoints_serve_https_with_a_certificate_and_refuse_a_wrong_one() {
    use lattice_provider_http_server::tls::TlsFiles;
    let dir = tempfile::tempdir().unwrap();
    let ca = lattice_tests::tls::TestCa::new("admin CA");
    let (cert, key) = ca.leaf("admin");
    let (_, other_key) = ca.leaf("other");
    let paths = ["cert.pem", "key.pem", "other.key"].map(|name| dir.path().join(name));
    for (path, text) in paths.iter().zip([&cert, &key, &other_key]) {
        std::fs::write(path, text).unwrap();
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let bound = lattice_host::admin::serve(
        "127.0.0.1:0".parse().unwrap(),
        lattice_tests::hosts::dev_host(),
        std::sync::Arc::new(|| Ok(())),
        stop.clone(),
        Some(&TlsFiles::new(paths[0].clone(), paths[1].clone())),
    )
    .await
    .unwrap();
    let reply = lattice_tests::tls::https_get(bound.port(), "/livez", &ca.pem, None, &[])
        .await
        .unwrap();
    assert_eq!((reply.status, reply.version), (200, http::Version::HTTP_11));
    assert_eq!(reply.server_cn, "admin");

    let error = lattice_host::admin::serve(
        "127.0.0.1:0".parse().unwrap(),
        lattice_tests::hosts::dev_host(),
        std::sync::Arc::new(|| Ok(())),
        stop.clone(),
        Some(&TlsFiles::new(paths[0].clone(), paths[2].clone())),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(error.contains("does not match the certificate"), "{error}");
    stop.cancel();
}

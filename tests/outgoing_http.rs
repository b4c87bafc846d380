//! Outgoing HTTP is a capability: only over a link to an `http-client`
//! provider, with its timeouts.
//!
//! The `http_fetch` fixture fetches the URL it is given. With the link,
//! whose `allowed_hosts` names the upstream, it reaches a real upstream
//! server on loopback; without the link, or outside `allowed_hosts`, or at
//! a loopback or metadata address a wildcard does not name, the request is
//! denied before anything is sent; an upstream slower than the link's
//! first-byte timeout fails the fetch instead of hanging it. The test reads
//! the fixture's HTTP answers.

use lattice_interfaces::Manifest;
use lattice_tests::hosts;
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::{fixtures, upstream};

/// `fixture` behind HTTP, linked to an HTTP client with `allowed_hosts`
/// (no link: `None`; a link without `allowed_hosts`: `Some("")`).
fn manifest_of(fixture: &str, allowed_hosts: Option<&str>) -> Manifest {
    match allowed_hosts {
        None => ManifestBuilder::new()
            .actor("fetch", &fixtures::wasm(fixture))
            .provider("http", "http-server")
            .http_link("http", "fetch", "127.0.0.1:0")
            .build(),
        Some("") => manifest_with(fixture, &[]),
        Some(allowed) => manifest_with(fixture, &[("allowed_hosts", allowed)]),
    }
}

/// `fixture` behind HTTP, linked to an HTTP client with a 500 ms
/// first-byte timeout and `config`.
fn manifest_with(fixture: &str, config: &[(&str, &str)]) -> Manifest {
    let mut link_config = vec![("first_byte_timeout_ms", "500")];
    link_config.extend_from_slice(config);
    ManifestBuilder::new()
        .actor("fetch", &fixtures::wasm(fixture))
        .provider("http", "http-server")
        .provider("client", "http-client")
        .http_link("http", "fetch", "127.0.0.1:0")
        .link("fetch", "client", "wasi:http/outgoing-handler")
        .target_config(&link_config)
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_to_a_private_ca_speaks_http2_with_its_ca_and_fails_cleanly_without() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ca) = lattice_tests::tls::start_upstream(dir.path()).await;
    let ca = ca.display().to_string();
    let target = format!("https://localhost:{port}/ok");
    let trusting = hosts::applied(&manifest_with(
        "http_fetch",
        &[("allowed_hosts", "localhost"), ("ca_file", &ca)],
    ))
    .await;
    http_client::get(&format!("{}?url={target}", hosts::first_url(&trusting)))
        .await
        .assert_answer(200, "upstream ok over HTTP/2.0");
    trusting.shutdown(std::time::Duration::from_secs(1)).await;

    // The system's roots do not know the private CA: a certificate error,
    // at once rather than a hang.
    let host = hosts::applied(&manifest_with(
        "http_fetch",
        &[("allowed_hosts", "localhost")],
    ))
    .await;
    http_client::get(&format!("{}?url={target}", hosts::first_url(&host)))
        .await
        .assert_error(502, "TlsCertificateError");
    host.shutdown(std::time::Duration::from_secs(1)).await;

    // The host's CA bundle (`--http-ca-file`) is trusted on every link,
    // one without a ca_file of its own included.
    let host = lattice_host::Host::new(lattice_host::HostConfig {
        http_ca_file: Some(ca.clone().into()),
        ..hosts::config_with(hosts::unsigned_allowed(), Default::default())
    })
    .unwrap();
    host.apply(&manifest_with(
        "http_fetch",
        &[("allowed_hosts", "localhost")],
    ))
    .await
    .unwrap();
    http_client::get(&format!("{}?url={target}", hosts::first_url(&host)))
        .await
        .assert_answer(200, "upstream ok over HTTP/2.0");
    host.shutdown(std::time::Duration::from_secs(1)).await;

    // A CA file that is not one is refused when the link is put...
    let manifest = manifest_with("http_fetch", &[("ca_file", "/etc/hostname")]);
    let host = hosts::dev_host();
    let error = host.apply(&manifest).await.unwrap_err().to_string();
    assert!(error.contains("ca_file /etc/hostname"), "{error}");
    host.shutdown(std::time::Duration::from_secs(1)).await;
    // ...and the host's when the host starts, in one line.
    let hello = dir.path().join("hello.toml");
    let text = hosts::hello_manifest(&fixtures::wasm("hello"), "127.0.0.1:0");
    std::fs::write(&hello, text).unwrap();
    let refused = lattice_tests::process::lattice_ctl()
        .args(["up", "--no-cache", "--allow-unsigned"])
        .args(["--http-ca-file", "/etc/hostname"])
        .arg(&hello)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(
        stderr.trim(),
        "error: --http-ca-file /etc/hostname: holds no certificate",
        "{stderr}"
    );
}

/// Components built at the oldest wasi:http a toolchain emits (0.2.0,
/// wit-bindgen from WASI 0.2.0's WIT), at 0.2.4 (the wasi crate 0.14) and
/// at the newest (0.2.12, the wasip2 crate 1.0.4) are served and reach
/// upstream alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wasi_http_0_2_version_serves_and_fetches() {
    let upstream = upstream::start();
    for fixture in ["http_wasi_0_2_0", "http_fetch", "http_fetch_wasi_0_2_12"] {
        let host = hosts::applied(&manifest_of(fixture, Some(&upstream))).await;
        let fetch = upstream::Fetch::new(&hosts::first_url(&host), &upstream);
        HttpClient::default()
            .get_reply(&fetch.url("ok"))
            .await
            .assert_answer(200, "upstream ok");
        host.shutdown(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_actor_reaches_upstream_and_a_slow_one_times_out() {
    let upstream = upstream::start();
    let host = hosts::applied(&manifest_of("http_fetch", Some(&upstream))).await;
    let fetch = upstream::Fetch::new(&hosts::first_url(&host), &upstream);
    let client = HttpClient::default();
    client
        .get_reply(&fetch.url("ok"))
        .await
        .assert_answer(200, "upstream ok");
    fetch.assert_slow_one_times_out(&client).await;
    host.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_link_outgoing_requests_are_denied() {
    let upstream = upstream::start();
    let host = hosts::applied(&manifest_of("http_fetch", None)).await;
    let fetch = upstream::Fetch::new(&hosts::first_url(&host), &upstream);
    http_client::get(&fetch.url("ok"))
        .await
        .assert_error(502, "HttpRequestDenied");
    host.shutdown(std::time::Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn egress_goes_only_where_allowed_hosts_names() {
    let upstream = upstream::start();
    let port = upstream.rsplit(':').next().unwrap();
    let denied = |fixture: &str, url: &str| format!("{fixture}?url={url}");
    for (allowed, url) in [
        // A link without allowed_hosts: the provider's default, deny.
        ("", format!("http://{upstream}/ok")),
        // Outside the list.
        ("example.com", format!("http://{upstream}/ok")),
        // A wildcard does not reach loopback or the metadata address...
        ("*", format!("http://{upstream}/ok")),
        ("*", "http://169.254.169.254/latest/meta-data/".to_string()),
        // ...nor does a name that resolves to loopback.
        ("*.localhost, *", format!("http://localhost:{port}/ok")),
        // The scheme is part of a rule.
        (
            &format!("https://{upstream}"),
            format!("http://{upstream}/ok"),
        ),
    ] {
        let host = hosts::applied(&manifest_of("http_fetch", Some(allowed))).await;
        http_client::get(&denied(&hosts::first_url(&host), &url))
            .await
            .assert_error(502, "HttpRequestDenied");
        host.shutdown(std::time::Duration::from_secs(1)).await;
    }
    // Named, the same upstream answers: by address, or by a name
    // resolving to it.
    for allowed in [format!("127.0.0.1:{port}"), "localhost".to_string()] {
        let host = hosts::applied(&manifest_of("http_fetch", Some(&allowed))).await;
        let target = if allowed == "localhost" {
            format!("localhost:{port}")
        } else {
            upstream.clone()
        };
        let url = denied(&hosts::first_url(&host), &format!("http://{target}/ok"));
        http_client::get(&url)
            .await
            .assert_answer(200, "upstream ok");
        host.shutdown(std::time::Duration::from_secs(1)).await;
    }
    // Redirects are not followed for the actor: each hop it follows is a
    // request of its own, checked like the first. Within the list a hop
    // goes through; out of it, to the metadata address or to a name not
    // listed, it is refused.
    let host = hosts::applied(&manifest_of("http_fetch", Some(&upstream))).await;
    let via = |to: &str| {
        let fixture = hosts::first_url(&host);
        format!("{fixture}?url=http://{upstream}/redirect?to={to}")
    };
    http_client::get(&via(&format!("http://{upstream}/ok")))
        .await
        .assert_answer(200, "upstream ok");
    for out in [
        "http://169.254.169.254/latest/meta-data/",
        "http://example.com/",
    ] {
        http_client::get(&via(out))
            .await
            .assert_error(502, "HttpRequestDenied");
    }
    host.shutdown(std::time::Duration::from_secs(1)).await;
    // A bad rule is refused when the link is put, naming it.
    let manifest = manifest_of("http_fetch", Some("ftp://files.example.com"));
    let host = hosts::dev_host();
    let error = host.apply(&manifest).await.unwrap_err().to_string();
    assert!(error.contains("ftp://files.example.com"), "{error}");
    host.shutdown(std::time::Duration::from_secs(1)).await;
}

//! Outgoing HTTP is a capability: only over a link to an `http-client`
//! provider, with its timeouts.
//!
//! The `http_fetch` fixture fetches the URL it is given. With the link it
//! reaches a real upstream server on loopback; without it the request is
//! denied; an upstream slower than the link's first-byte timeout fails the
//! fetch instead of hanging it. The test reads the fixture's HTTP answers.

use lattice_interfaces::Manifest;
use lattice_tests::hosts;
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::{fixtures, upstream};

fn manifest(with_link: bool) -> Manifest {
    manifest_of("http_fetch", with_link)
}

fn manifest_of(fixture: &str, with_link: bool) -> Manifest {
    let manifest = ManifestBuilder::new()
        .actor("fetch", &fixtures::wasm(fixture))
        .provider("http", "http-server")
        .provider("client", "http-client")
        .http_link("http", "fetch", "127.0.0.1:0");
    match with_link {
        true => manifest
            .link("fetch", "client", "wasi:http/outgoing-handler")
            .target_config(&[("first_byte_timeout_ms", "500")]),
        false => manifest,
    }
    .build()
}

/// Components built at the oldest wasi:http a toolchain emits (0.2.0,
/// wit-bindgen from WASI 0.2.0's WIT), at 0.2.4 (the wasi crate 0.14) and
/// at the newest (0.2.12, the wasip2 crate 1.0.4) are served and reach
/// upstream alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wasi_http_0_2_version_serves_and_fetches() {
    let upstream = upstream::start();
    for fixture in ["http_wasi_0_2_0", "http_fetch", "http_fetch_wasi_0_2_12"] {
        let host = hosts::applied(&manifest_of(fixture, true)).await;
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
    let host = hosts::applied(&manifest(true)).await;
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
    let host = hosts::applied(&manifest(false)).await;
    let fetch = upstream::Fetch::new(&hosts::first_url(&host), &upstream);
    http_client::get(&fetch.url("ok"))
        .await
        .assert_error(502, "HttpRequestDenied");
    host.shutdown(std::time::Duration::from_secs(1)).await;
}

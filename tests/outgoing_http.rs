//! Outgoing HTTP is a capability: only over a link to an `http-client`
//! provider, with its timeouts.
//!
//! The `http_fetch` fixture fetches the URL it is given. With the link it
//! reaches a real upstream server on loopback; without it the request is
//! denied; an upstream slower than the link's first-byte timeout fails the
//! fetch instead of hanging it. The test reads the fixture's HTTP answers.

use std::time::Duration;

use lattice_interfaces::Manifest;
use lattice_tests::http_client::HttpClient;
use lattice_tests::{fixtures, hosts};

fn manifest(with_link: bool) -> Manifest {
    let mut text = format!(
        r#"
[[actors]]
id = "fetch"
path = "{}"

[[providers]]
id = "http"
kind = "http-server"

[[providers]]
id = "client"
kind = "http-client"

[[links]]
source = "http"
target = "fetch"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#,
        fixtures::wasm("http_fetch").display()
    );
    if with_link {
        text.push_str("\n[[links]]\nsource = \"fetch\"\ntarget = \"client\"\ninterface = \"wasi:http/outgoing-handler\"\ntarget_config = { first_byte_timeout_ms = \"500\" }\n");
    }
    Manifest::from_toml(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_actor_reaches_upstream_and_a_slow_one_times_out() {
    let upstream = lattice_tests::upstream::start();
    let host = hosts::dev_host();
    host.apply(&manifest(true)).await.unwrap();
    let url = host.http_endpoints()[0].url();
    let client = HttpClient::default();

    let reply = client
        .get(&format!("{url}?url=http://{upstream}/ok"))
        .await
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "upstream ok"));

    let started = std::time::Instant::now();
    let reply = client
        .get(&format!("{url}?url=http://{upstream}/slow"))
        .await
        .unwrap();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.contains("Timeout"), "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        started.elapsed()
    );
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_link_outgoing_requests_are_denied() {
    let upstream = lattice_tests::upstream::start();
    let host = hosts::dev_host();
    host.apply(&manifest(false)).await.unwrap();
    let url = host.http_endpoints()[0].url();
    let reply = HttpClient::default()
        .get(&format!("{url}?url=http://{upstream}/ok"))
        .await
        .unwrap();
    assert_eq!(reply.status, 502, "{}", reply.body);
    assert!(reply.body.contains("HttpRequestDenied"), "{}", reply.body);
    host.shutdown(Duration::from_secs(1)).await;
}

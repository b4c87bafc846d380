//! Actors call each other over custom WIT interfaces, only over links.
//!
//! `greeter` imports `example:uppercase/convert`, which `uppercase`
//! exports; a link joins them. On one host the call stays in-process (the
//! routing counters say so); without the link the call is refused and the
//! caller's request fails with the reason. The tests read HTTP answers and
//! the host's routing counters.

use std::time::Duration;

use lattice_interfaces::{ComponentId, Manifest};
use lattice_tests::http_client::HttpClient;
use lattice_tests::{fixtures, hosts};

fn manifest(with_link: bool) -> Manifest {
    let mut text = format!(
        r#"
[[actors]]
id = "greeter"
path = "{}"

[[actors]]
id = "uppercase"
path = "{}"

[[providers]]
id = "http"
kind = "http-server"

[[links]]
source = "http"
target = "greeter"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#,
        fixtures::wasm("greeter").display(),
        fixtures::wasm("uppercase").display()
    );
    if with_link {
        text.push_str("\n[[links]]\nsource = \"greeter\"\ntarget = \"uppercase\"\ninterface = \"example:uppercase/convert\"\n");
    }
    Manifest::from_toml(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeter_calls_uppercase_in_process_over_its_link() {
    let host = hosts::dev_host();
    host.apply(&manifest(true)).await.unwrap();
    let url = host.http_endpoints()[0].url();
    let reply = HttpClient::default()
        .get(&format!("{url}lattice"))
        .await
        .unwrap();
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (200, "HELLO, LATTICE! (15 chars, 2 words)\n")
    );
    let uppercase = ComponentId::new("uppercase").unwrap();
    let counts = host.routing().of(&uppercase);
    // Two calls per request (upper, analyze), both in-process.
    assert_eq!((counts.local, counts.remote), (2, 0));
    assert_eq!(host.actor(&uppercase).unwrap().stats().calls, 2);
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_link_the_call_is_refused_with_the_reason() {
    let host = hosts::dev_host();
    host.apply(&manifest(false)).await.unwrap();
    let url = host.http_endpoints()[0].url();
    let reply = HttpClient::default().get(&url).await.unwrap();
    assert_eq!(reply.status, 500, "{}", reply.body);
    assert!(
        reply
            .body
            .contains("no link from greeter for example:uppercase/convert"),
        "{}",
        reply.body
    );
    assert_eq!(
        host.actor(&ComponentId::new("uppercase").unwrap())
            .unwrap()
            .stats()
            .calls,
        0
    );
    host.shutdown(Duration::from_secs(1)).await;
}

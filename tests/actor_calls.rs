//! Actors call each other over custom WIT interfaces, only over links.
//!
//! `greeter` imports `example:uppercase/convert`, which `uppercase`
//! exports; a link joins them. On one host the call stays in-process (the
//! routing counters say so); without the link the call is refused and the
//! caller's request fails with the reason. The tests read HTTP answers and
//! the host's routing counters.

use std::time::Duration;

use lattice_interfaces::Manifest;
use lattice_tests::hosts::{self, id};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::{fixtures, http_client};

fn manifest(with_link: bool) -> Manifest {
    let manifest = ManifestBuilder::new()
        .actor("greeter", &fixtures::wasm("greeter"))
        .actor("uppercase", &fixtures::wasm("uppercase"))
        .provider("http", "http-server")
        .http_link("http", "greeter", "127.0.0.1:0");
    match with_link {
        true => manifest.link("greeter", "uppercase", "example:uppercase/convert"),
        false => manifest,
    }
    .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greeter_calls_uppercase_in_process_over_its_link() {
    let host = hosts::applied(&manifest(true)).await;
    let url = hosts::first_url(&host);
    http_client::get(&format!("{url}lattice"))
        .await
        .assert_answer(200, "HELLO, LATTICE! (15 chars, 2 words)\n");
    let counts = host.routing().of(&id("uppercase"));
    // Two calls per request (upper, analyze), both in-process.
    assert_eq!((counts.local, counts.remote), (2, 0));
    assert_eq!(host.actor(&id("uppercase")).unwrap().stats().calls, 2);
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_link_the_call_is_refused_with_the_reason() {
    let host = hosts::applied(&manifest(false)).await;
    http_client::get(&hosts::first_url(&host))
        .await
        .assert_error(500, "no link from greeter for example:uppercase/convert");
    assert_eq!(host.actor(&id("uppercase")).unwrap().stats().calls, 0);
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_an_actor_keeps_its_call_counters() {
    let host = hosts::applied(&manifest(true)).await;
    http_client::get(&hosts::first_url(&host))
        .await
        .assert_status(200);
    let uppercase = id("uppercase");
    let reference = host.actor(&uppercase).unwrap().origin().to_string();
    host.scale_actor(&uppercase, &reference, 3, Default::default(), None)
        .await
        .unwrap();
    let scaled = host.actor(&uppercase).unwrap();
    assert_eq!(
        (scaled.limits().max_instances, scaled.stats().calls),
        (3, 2)
    );
    host.shutdown(Duration::from_secs(1)).await;
}

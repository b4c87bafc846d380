//! Links that cannot work are refused when they are put, with one line.
//!
//! A link whose HTTP address and path another link already serves used to
//! be accepted by the lattice and refused later, in the log of whichever
//! host binds it; a messaging handler link to an actor without the handler
//! export failed only when the first message came. Both are now refused at
//! put time (`link.put`, and a manifest before anything serves), naming the
//! link and the reason. The tests read control replies and the error of
//! applying a manifest.

use lattice_interfaces::protocol::control::op;
use lattice_tests::hosts::{dev_lattice, http_link};
use lattice_tests::lattice::Control;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::{fixtures, free_port};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_clashes_with_another_address_and_path_is_refused_at_put() {
    let nats = NatsServer::start();
    let (host, lattice) = dev_lattice(&nats.url()).await;
    let control = Control::connect(&nats.url(), "default").await;
    let address = format!("127.0.0.1:{}", free_port());
    control
        .ok::<op::PutLink>(None, http_link("http", "hello", &address))
        .await;

    // Another link of the same provider, same address and path: refused.
    let mut clash = http_link("http", "other", &address);
    clash.name = "second".into();
    let refused = control.refused::<op::PutLink>(None, clash.clone()).await;
    assert!(
        refused.contains("is already served by link http -> hello"),
        "{refused}"
    );
    assert!(!refused.contains('\n'), "{refused}");
    // Another path on the same address is fine.
    clash.source_config.insert("path".into(), "/api".into());
    control.ok::<op::PutLink>(None, clash).await;
    lattice_tests::hosts::leave(lattice, host).await;
}

#[tokio::test]
async fn a_handler_link_to_an_actor_without_the_handler_is_refused_by_the_manifest_check() {
    let manifest = ManifestBuilder::new()
        .actor("hello", &fixtures::wasm("hello"))
        .provider("messages", "messaging-nats")
        .link("messages", "hello", "wasmcloud:messaging/handler")
        .source_config(&[("subscriptions", "orders.>")])
        .build();
    let host = lattice_tests::hosts::dev_host();
    let error = host.apply(&manifest).await.unwrap_err().to_string();
    assert_eq!(
        error,
        "link messages -> hello wasmcloud:messaging/handler: actor \"hello\" does not export wasmcloud:messaging/handler, which this link needs"
    );
}

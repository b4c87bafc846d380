//! The HTTP server provider runs as its own process on the lattice.
//!
//! A real nats-server, a host joined to it running `hello` and `http_echo`,
//! and `lattice-provider-http-server` started and supervised by that host.
//! Requests to the process's listener reach the actors as signed
//! invocations; a 5 MiB body crosses both ways intact; stopping the
//! provider closes the listener.

use std::time::Duration;

use lattice_interfaces::Link;
use lattice_tests::hosts::{self, http_link, id, start_fixture};
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;
use lattice_tests::wait_for;

fn serve(target: &str, address: &str, path: &str) -> Link {
    let mut link = http_link("web", target, address);
    link.source_config.insert("path".into(), path.into());
    // One link per name from a source and contract: name each route.
    link.name = target.to_string();
    link
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_process_serves_actors_over_the_lattice() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    start_fixture(&host, "hello", "hello").await;
    start_fixture(&host, "echo", "http_echo").await;
    hosts::start_provider_process(&lattice, "web", "lattice-provider-http-server", &[]).await;
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    for (target, path) in [("hello", "/"), ("echo", "/echo")] {
        lattice
            .put_link(serve(target, &address, path))
            .await
            .unwrap();
    }

    // The process starts and binds in the background: poll until it answers.
    let client = HttpClient::default();
    let reply = client
        .get_until_ok(&format!("http://{address}/"), Duration::from_secs(30))
        .await;
    assert_eq!(reply.body, "Hello from Lattice!\n");

    // 5 MiB each way: over the inline limit, pulled in chunks, intact.
    let body: Vec<u8> = (0..5 << 20).map(|i: u32| (i % 251) as u8).collect();
    let until = tokio::time::Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let reply = client
            .request(
                http::Method::POST,
                &format!("http://{address}/echo"),
                body.clone().into(),
            )
            .await
            .unwrap();
        // The echo link may land a moment after the hello link.
        if reply.status == 200 || tokio::time::Instant::now() > until {
            break reply;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        reply.status,
        200,
        "{}",
        &reply.body[..reply.body.len().min(200)]
    );
    assert!(reply.bytes == body, "the body changed on the way");

    // Stopping the provider closes its listener.
    host.stop_provider(&id("web"), Duration::from_secs(1))
        .await
        .unwrap();
    wait_for("the listener to close", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&address)
            .is_err()
            .then_some(())
    });
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_server_process_holds_bodies_within_its_hosts_payload_budget() {
    let nats = NatsServer::start();
    // A host with a 1 MiB budget: its provider processes get the same.
    let host = lattice_host::Host::new(lattice_host::HostConfig {
        trust: hosts::unsigned_allowed(),
        payload_budget: Some(1 << 20),
        ..Default::default()
    })
    .unwrap();
    let keys = lattice_host::lattice::ClusterKeys::development();
    let lattice = lattice_host::lattice::Lattice::join(
        host.clone(),
        &hosts::lattice_config(&nats.url(), keys),
    )
    .await
    .unwrap();
    start_fixture(&host, "echo", "http_echo").await;
    hosts::start_provider_process(&lattice, "web", "lattice-provider-http-server", &[]).await;
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    lattice
        .put_link(serve("echo", &address, "/"))
        .await
        .unwrap();
    let client = HttpClient::default();
    client
        .get_until_ok(&format!("http://{address}/"), Duration::from_secs(30))
        .await;

    // 300 KiB fits (600 KiB held while it crosses); 700 KiB never can.
    let post = async |kib: usize| {
        client
            .request(
                http::Method::POST,
                &format!("http://{address}/"),
                vec![b'x'; kib << 10].into(),
            )
            .await
            .unwrap()
    };
    let fits = post(300).await;
    assert_eq!((fits.status, fits.bytes.len()), (200, 300 << 10));
    let refused = post(700).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused
            .body
            .contains("the request body for echo would hold")
            && refused
                .body
                .contains("more than this host's payload budget of 1.0 MiB"),
        "{}",
        refused.body
    );
    lattice.leave().await;
}

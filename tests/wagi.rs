//! WAGI: an `http-server` link to a WASI command component (`wasi:cli/run`,
//! no `wasi:http`). Each request runs the program once, the request in CGI
//! variables and stdin, the response read from stdout. A program that
//! writes no headers, writes garbage headers or exits non-zero gets a 502
//! naming the reason; one that never exits, a 504 at its deadline; and the
//! host serves on.

use bytes::Bytes;
use lattice_tests::fixtures;
use lattice_tests::hosts;
use lattice_tests::http_client::HttpClient;
use lattice_tests::manifest::ManifestBuilder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_command_serves_http_through_cgi() {
    let manifest = ManifestBuilder::new()
        .actor("wagi", &fixtures::wasm("wagi"))
        .provider("http", "http-server")
        .http_link("http", "wagi", "127.0.0.1:0")
        .build();
    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    let client = HttpClient::default();

    let hello = client.get_reply(&format!("{url}hi?lang=en")).await;
    hello.assert_answer(200, "Hello from WAGI! GET /hi?lang=en\n");
    let echoed = client
        .request(
            http::Method::POST,
            &format!("{url}echo"),
            Bytes::from("quiet please"),
        )
        .await
        .unwrap();
    echoed.assert_answer(200, "QUIET PLEASE");
    let missing = client.get_reply(&format!("{url}missing")).await;
    missing.assert_answer(404, "no such page: /missing\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misbehaving_wagi_program_gets_a_502_or_a_504_and_the_host_serves_on() {
    let manifest = ManifestBuilder::new()
        .actor("bad", &fixtures::wasm("wagi_misbehaving"))
        .set("timeout_ms", 1500)
        .provider("http", "http-server")
        .http_link("http", "bad", "127.0.0.1:0")
        .build();
    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    let client = HttpClient::default();

    for (path, status, reason) in [
        ("no-headers", 502, "wrote no CGI headers"),
        (
            "garbage",
            502,
            "bad CGI header line \"this is not a header\"",
        ),
        // WASI 0.2 carries only success or failure: the exit(3) arrives as 1.
        ("exit", 502, "exited with status 1"),
        ("forever", 504, "deadline"),
    ] {
        let reply = client.get_reply(&format!("{url}{path}")).await;
        assert_eq!(reply.status, status, "/{path}: {}", reply.body);
        assert!(reply.body.contains(reason), "/{path}: {}", reply.body);
        assert!(
            reply.body.contains("actor \"bad\""),
            "/{path}: {}",
            reply.body
        );
    }
    // The same program, well-behaved, still serves.
    client
        .get_reply(&format!("{url}fine"))
        .await
        .assert_answer(200, "fine\n");
}

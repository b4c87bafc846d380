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

/// A WAGI request body must arrive within the actor's deadline and fit in
/// its memory limit (issue 29, finding 6): a body trickled a byte at a
/// time used to be waited for without end, held outside any limit before
/// an instance was even free; now the client gets a 504 at the deadline,
/// a body larger than the memory limit a 400, and the host serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_or_oversized_wagi_body_is_refused_within_the_deadline() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let manifest = ManifestBuilder::new()
        .actor("wagi", &fixtures::wasm("wagi"))
        .set("timeout_ms", 1500)
        .set("memory_limit_mib", 2)
        .provider("http", "http-server")
        .http_link("http", "wagi", "127.0.0.1:0")
        .build();
    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    let socket = tokio::net::TcpStream::connect(&address).await.unwrap();
    let (mut reader, mut writer) = socket.into_split();
    writer
        .write_all(b"POST /echo HTTP/1.1\r\nhost: wagi\r\ncontent-length: 1000\r\n\r\n")
        .await
        .unwrap();
    // A byte every 200 ms would take 200 s to finish the body.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b"x").await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let mut answer = Vec::new();
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match reader.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    trickle.abort();
    assert!(read.is_ok(), "no answer while the body trickled in");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 504"), "{answer}");

    let client = HttpClient::default();
    let oversized = client
        .request(
            http::Method::POST,
            &format!("{url}echo"),
            Bytes::from(vec![b'x'; 3 << 20]),
        )
        .await
        .unwrap();
    assert_eq!(oversized.status, 400, "{}", oversized.body);
    assert!(
        oversized.body.contains("does not fit in its memory limit"),
        "{}",
        oversized.body
    );
    // On a connection of its own: the server closes the refused upload's
    // connection (its body was never read), and a pooled client may try
    // to reuse it as it closes.
    HttpClient::default()
        .get_reply(&format!("{url}hi"))
        .await
        .assert_answer(200, "Hello from WAGI! GET /hi\n");
}

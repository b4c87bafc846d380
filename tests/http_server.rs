//! The HTTP server provider serves actors over links, and only over links.
//!
//! The walk-through of the README's quick start, in code: a manifest with
//! `hello`, the `http-server` provider and a link makes `Hello from Lattice!`
//! answer on the link's address. Several links share an address by path
//! prefix; a path no link serves gets 404; deleting the link stops the
//! serving; garbage on the socket gets an error and the server keeps going.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use lattice_host::Host;
use lattice_interfaces::{Link, Manifest, ProviderSpec};
use lattice_tests::fixtures;
use lattice_tests::hosts::{self, id, start_fixture};
use lattice_tests::http_client::{self, raw_exchange, HttpClient};

fn http_link(target: &str, name: &str, address: &str, path: Option<&str>) -> Link {
    let mut link = hosts::http_link("http", target, address);
    link.name = name.into();
    if let Some(path) = path {
        link.source_config.insert("path".into(), path.into());
    }
    link
}

/// The link `default` from `http` to `hello` on a free port.
fn hello_link() -> Link {
    http_link("hello", "default", "127.0.0.1:0", None)
}

async fn host_with_http_and(actors: &[(&str, &str)]) -> Host {
    let host = hosts::dev_host();
    for (actor, fixture) in actors {
        start_fixture(&host, actor, fixture).await;
    }
    hosts::start_provider(&host, "http", "http-server");
    host
}

/// A host serving `actor` (fixture `fixture`) over an HTTP server provider
/// configured with `setting` (`(key, value)`); the host and its address.
async fn served_with(actor: &str, fixture: &str, setting: (&str, &str)) -> (Host, SocketAddr) {
    served_with_all(actor, fixture, &[setting]).await
}

/// As [`served_with`], with several settings.
async fn served_with_all(
    actor: &str,
    fixture: &str,
    settings: &[(&str, &str)],
) -> (Host, SocketAddr) {
    let host = hosts::dev_host();
    start_fixture(&host, actor, fixture).await;
    host.start_provider(&ProviderSpec {
        id: id("http"),
        reference: "http-server".into(),
        config: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        placement: None,
    })
    .unwrap();
    host.put_link(http_link(actor, "default", "127.0.0.1:0", None))
        .unwrap();
    let address = host.http_endpoints()[0].address;
    (host, address)
}

/// A host serving `hello` over [`hello_link`]; the address it listens on.
async fn serving_hello() -> (Host, SocketAddr) {
    let host = host_with_http_and(&[("hello", "hello")]).await;
    host.put_link(hello_link()).unwrap();
    let address = host.http_endpoints()[0].address;
    (host, address)
}

/// Fails the test unless `GET /` on `address` answers 200.
async fn assert_serves(address: SocketAddr) {
    assert_eq!(
        http_client::get(&format!("http://{address}/")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hello_manifest_answers_hello_from_lattice() {
    let manifest_path = fixtures::repo_root().join("examples/hello/hello.toml");
    let mut manifest = Manifest::load(&manifest_path).unwrap();
    assert_eq!(
        manifest.links[0].config("address"),
        Some("127.0.0.1:8080"),
        "the README's URL"
    );
    // The test may not own port 8080; serve the same manifest on a free port.
    manifest.links[0]
        .source_config
        .insert("address".into(), "127.0.0.1:0".into());
    fixtures::wasm("hello");

    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    http_client::get(&format!("{url}anything?x=1"))
        .await
        .assert_answer(200, "Hello from Lattice!\n");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_share_an_address_by_path_prefix_and_unrouted_paths_get_404() {
    let host = host_with_http_and(&[("hello", "hello"), ("oops", "http_panic")]).await;
    host.put_link(http_link("oops", "oops", "127.0.0.1:0", Some("/oops")))
        .unwrap();
    let address = host.http_endpoints()[0].address.to_string();
    host.put_link(http_link("hello", "hello", &address, Some("/hello")))
        .unwrap();
    assert_eq!(host.http_endpoints().len(), 2);
    let client = HttpClient::default();
    let get = async |path: &str| client.get_reply(&format!("http://{address}{path}")).await;

    get("/hello/world").await.assert_status(200);
    get("/oops").await.assert_status(500);
    get("/hellox")
        .await
        .assert_answer(404, "no link serves path /hellox\n");

    // A second link on the same address and prefix is refused, naming the holder.
    let e = host
        .put_link(http_link("oops", "other", &address, Some("/hello/")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("is already served by link http -> hello"), "{e}");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_the_last_link_on_an_address_closes_it() {
    let (host, address) = serving_hello().await;
    assert_serves(address).await;

    assert!(host.delete_link(&hello_link().key()).is_some());
    assert!(host.http_endpoints().is_empty());
    lattice_tests::wait_for("the address to close", Duration::from_secs(10), || {
        TcpStream::connect(address).is_err().then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_moved_to_another_address_leaves_the_old_one() {
    let (host, old) = serving_hello().await;
    assert_serves(old).await;

    let moved = format!("127.0.0.1:{}", lattice_tests::free_port());
    host.put_link(http_link("hello", "default", &moved, None))
        .unwrap();
    let endpoints = host.http_endpoints();
    assert_eq!(endpoints.len(), 1, "{endpoints:?}");
    assert_eq!(endpoints[0].address.to_string(), moved);
    assert_serves(endpoints[0].address).await;
    lattice_tests::wait_for("the old address to close", Duration::from_secs(10), || {
        TcpStream::connect(old).is_err().then_some(())
    });
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_in_use_is_refused_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let host = host_with_http_and(&[("hello", "hello")]).await;
    let refusal = |address: &str| {
        host.put_link(http_link("hello", "default", address, None))
            .unwrap_err()
            .to_string()
    };
    let e = refusal(&address);
    assert!(
        e.starts_with(&format!(
            "link http -> hello wasi:http/incoming-handler: cannot listen on {address}: "
        )),
        "{e}"
    );
    assert!(host.links().is_empty());
    for bad in ["localhost", "127.0.0.1", "300.1.1.1:80", ""] {
        let e = refusal(bad);
        assert!(e.contains("is not IP:PORT"), "{bad}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_socket_gets_an_error_and_the_server_keeps_serving() {
    let (host, address) = serving_hello().await;

    let garbage: [&[u8]; 4] = [
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: \x01\r\n\r\n",
    ];
    for bytes in garbage {
        let answer = tokio::task::spawn_blocking(move || {
            raw_exchange(address, bytes, Duration::from_secs(10)).answer
        })
        .await
        .unwrap();
        assert!(
            answer.is_empty()
                || answer.starts_with("HTTP/1.1 4")
                || answer.starts_with("HTTP/1.0 4"),
            "{:?} got {answer:?}",
            String::from_utf8_lossy(bytes)
        );
    }
    assert_serves(address).await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_at_once_and_a_freed_slot_serves_again() {
    use std::io::Read as _;
    let (host, address) = served_with("hello", "hello", ("max_connections", "2")).await;

    // Two idle clients hold both slots.
    let first = TcpStream::connect(address).unwrap();
    let second = TcpStream::connect(address).unwrap();
    // A third is accepted by the kernel, then closed by the server with
    // nothing said, long before its own read limit.
    let closed = tokio::task::spawn_blocking(move || {
        raw_exchange(
            address,
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap();
    assert!(
        !closed.timed_out,
        "the server held a connection past its limit"
    );
    assert!(closed.answer.is_empty(), "{:?}", closed.answer);

    // A slot freed (once the server has seen the close): served again.
    drop(first);
    let client = HttpClient::default();
    let url = format!("http://{address}/");
    lattice_tests::eventually("a request served in the freed slot", async || {
        let reply = client.get(&url).await.ok()?;
        (reply.status == 200).then_some(())
    })
    .await;
    let mut still_open = second;
    still_open
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        still_open.read(&mut byte).is_err(),
        "a connection within the limit is left alone"
    );
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (host, address) = served_with("hello", "hello", ("header_read_timeout_ms", "300")).await;

    // Half a request, then silence: the server ends the connection itself,
    // well before this client's own 20 s read limit.
    let cut = tokio::task::spawn_blocking(move || {
        raw_exchange(
            address,
            b"GET / HTTP/1.1\r\nHost: x\r\n",
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap();
    assert!(!cut.timed_out, "the server never cut the connection off");
    let (closed_after, answer) = (cut.closed_after, cut.answer);
    assert!(closed_after < Duration::from_secs(15), "{closed_after:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    // Whole requests are served as before.
    assert_serves(address).await;
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_mid_upload_is_answered_and_let_go() {
    let (host, address) = served_with("echo", "http_echo", ("body_idle_timeout_ms", "300")).await;

    // A body promised 100 bytes long, 5 sent, then silence: the echo actor
    // reading it sees the body fail after 300 ms instead of waiting out its
    // 30 s deadline with the connection held.
    let stalled = tokio::task::spawn_blocking(move || {
        raw_exchange(
            address,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhello",
            Duration::from_secs(20),
        )
    })
    .await
    .unwrap();
    assert!(!stalled.timed_out, "the server waited for the body");
    assert!(
        stalled.closed_after < Duration::from_secs(15),
        "{:?}",
        stalled.closed_after
    );
    // What the actor makes of a body cut short is its own affair (echo
    // answers with what came); the connection is closed after it.
    assert!(
        stalled.answer.is_empty() || stalled.answer.starts_with("HTTP/1.1 "),
        "{:?}",
        stalled.answer
    );
    // A whole body is echoed as before.
    let client = HttpClient::default();
    let reply = client
        .request(
            http::Method::POST,
            &format!("http://{address}/"),
            bytes::Bytes::from_static(b"whole"),
        )
        .await
        .unwrap();
    reply.assert_answer(200, "whole");
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_peer_that_goes_silent_is_dropped() {
    let (host, address) = served_with("echo", "http_echo", ("header_read_timeout_ms", "300")).await;

    // The HTTP/2 preface and an empty SETTINGS frame, then silence: no
    // settings acknowledgement, no answer to the server's pings. The
    // server pings after 300 ms and closes when no answer comes in 300 ms
    // more, instead of holding the connection for as long as the peer
    // keeps its socket open.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let silent =
        tokio::task::spawn_blocking(move || raw_exchange(address, &hello, Duration::from_secs(20)))
            .await
            .unwrap();
    assert!(
        !silent.timed_out,
        "the server held a silent HTTP/2 peer for 20 s"
    );
    // HTTP/1 clients are served as before.
    assert_serves(address).await;
    host.shutdown(Duration::from_secs(1)).await;
}

/// One client cannot take every connection slot (issue 29, finding 5): a
/// peer address holds at most `max_connections_per_peer` of them, so while
/// 127.0.0.1 holds all it may, 127.0.0.2 is still served. Before, the
/// greedy peer took all four slots and the other was closed unserved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_cannot_hold_every_connection_slot() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let (host, address) = served_with_all(
        "hello",
        "hello",
        &[("max_connections", "4"), ("max_connections_per_peer", "2")],
    )
    .await;
    // The greedy peer opens as many connections as there are slots; it
    // keeps the ones the server does not close.
    let greedy: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(address).unwrap())
        .collect();
    let client = HttpClient::default();
    let url = format!("http://{address}/");
    lattice_tests::eventually(
        "the greedy peer's extra connections to be closed",
        async || {
            // A request from the greedy address gets no slot while it holds two.
            client.get(&url).await.err().map(drop)
        },
    )
    .await;
    // Another peer address is served all the same.
    let other = tokio::net::TcpSocket::new_v4().unwrap();
    other.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let mut other = other.connect(address).await.unwrap();
    other
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), other.read_to_string(&mut answer))
        .await
        .expect("the other peer is answered")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(answer.contains("Hello from Lattice!"), "{answer:?}");
    drop(greedy);
    host.shutdown(Duration::from_secs(1)).await;
}

/// An HTTP/2 connection with nothing in flight is closed after
/// `idle_timeout_ms`, although its peer answers every ping (issue 29,
/// finding 5): before, such a peer kept its connection, and its slot, for
/// as long as it liked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_though_it_answers_pings() {
    let (host, address) = served_with_all(
        "hello",
        "hello",
        &[
            ("idle_timeout_ms", "500"),
            ("header_read_timeout_ms", "200"),
        ],
    )
    .await;
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{address}/"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    drop(response);
    // The client's connection task answers the server's pings (every
    // 200 ms) while it waits; the server ends the connection anyway.
    tokio::time::timeout(Duration::from_secs(20), connection)
        .await
        .expect("the idle HTTP/2 connection is closed by the server")
        .unwrap()
        .unwrap();
    host.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updating_an_actor_under_load_drops_no_call() {
    let (host, _) = serving_hello().await;
    let url = hosts::first_url(&host);
    // The new component: a copy under another path, so the swap is visible.
    let dir = tempfile::tempdir().unwrap();
    let v2 = dir.path().join("hello-v2.wasm");
    std::fs::copy(fixtures::wasm("hello"), &v2).unwrap();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (url.clone(), stop.clone());
            tokio::spawn(async move {
                let client = HttpClient::default();
                let (mut ok, mut failed) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    match client.get(&url).await {
                        Ok(reply) if reply.status == 200 => ok += 1,
                        other => failed.push(format!("{other:?}")),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    let id = id("hello");
    lattice_tests::wait_for("calls to flow", Duration::from_secs(20), || {
        (host.actor(&id)?.stats().calls >= 50).then_some(())
    });
    host.update_actor(&id, v2.to_str().unwrap()).await.unwrap();
    let after_update = host.actor(&id).unwrap();
    assert_eq!(after_update.origin(), v2.to_str().unwrap());
    lattice_tests::wait_for(
        "calls on the new component",
        Duration::from_secs(20),
        || (after_update.stats().calls >= 50).then_some(()),
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for client in clients {
        let (ok, failed) = client.await.unwrap();
        assert!(failed.is_empty(), "dropped calls: {failed:?}");
        total += ok;
    }
    assert!(total >= 100, "{total}");
    host.shutdown(Duration::from_secs(1)).await;
}

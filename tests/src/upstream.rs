//! A tiny upstream HTTP server on loopback for outgoing-HTTP tests:
//! `/ok` answers `upstream ok` at once, `/slow` after 3 s, `/big` with
//! 2 MiB of `x`, `/redirect?to=URL` with a 302 to `URL`.

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpListener;
use std::time::Duration;

/// Size of the `/big` answer.
pub const BIG_BYTES: usize = 2 << 20;

/// Starts the server on a free port; returns `HOST:PORT`. It serves until
/// the test process exits.
pub fn start() -> String {
    // Test support: a failure to bind loopback fails the test that asked.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let mut stream = stream;
                if let Some((_, to)) = request_line.split_once("/redirect?to=") {
                    let to = to.split_whitespace().next().unwrap_or_default();
                    let head = format!(
                        "HTTP/1.1 302 Found\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(head.as_bytes());
                    return;
                }
                let body = if request_line.contains("/slow") {
                    std::thread::sleep(Duration::from_secs(3));
                    b"upstream ok".to_vec()
                } else if request_line.contains("/big") {
                    vec![b'x'; BIG_BYTES]
                } else {
                    b"upstream ok".to_vec()
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            });
        }
    });
    address
}

/// The `http_fetch` fixture served at a URL, fetching from an upstream.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// The fixture's base URL (ending in `/`).
    pub fixture: String,
    /// The upstream's `HOST:PORT`, as [`start`] returns it.
    pub upstream: String,
}

impl Fetch {
    /// The fixture at `fixture` fetching from `upstream`.
    pub fn new(fixture: &str, upstream: &str) -> Self {
        Self {
            fixture: fixture.to_string(),
            upstream: upstream.to_string(),
        }
    }

    /// The URL that has the fixture fetch `path` (`ok`, `slow`, `big`)
    /// from the upstream.
    pub fn url(&self, path: &str) -> String {
        format!("{}?url=http://{}/{path}", self.fixture, self.upstream)
    }

    /// Fails the test unless fetching `/slow` (3 s) through a link with a
    /// 500 ms first-byte timeout fails as a timeout (502) well before the
    /// upstream would have answered.
    pub async fn assert_slow_one_times_out(&self, client: &crate::http_client::HttpClient) {
        let started = std::time::Instant::now();
        let reply = client.get_reply(&self.url("slow")).await;
        reply.assert_error(502, "Timeout");
        assert!(
            started.elapsed() < Duration::from_millis(2500),
            "took {:?}",
            started.elapsed()
        );
    }
}

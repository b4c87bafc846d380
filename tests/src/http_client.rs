//! A minimal HTTP/1.1 client for tests, on hyper.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Body as text (lossy).
    pub body: String,
    /// Body as bytes.
    pub bytes: Bytes,
}

impl Reply {
    /// Fails the test unless the answer is `status` with exactly `body`.
    pub fn assert_answer(&self, status: u16, body: &str) {
        assert_eq!((self.status, self.body.as_str()), (status, body));
    }

    /// Fails the test unless the answer is `status`, showing the body.
    pub fn assert_status(&self, status: u16) {
        assert_eq!(self.status, status, "{}", self.body);
    }

    /// Fails the test unless the answer is `status` with a body that holds
    /// `part` (the body is shown either way).
    pub fn assert_error(&self, status: u16, part: &str) {
        self.assert_status(status);
        assert!(self.body.contains(part), "{}", self.body);
    }
}

/// What one raw exchange on a socket got: see [`raw_exchange`].
#[derive(Debug)]
pub struct RawExchange {
    /// How long the server took to close the connection after the write.
    pub closed_after: std::time::Duration,
    /// Whether the read gave up waiting (the server never closed).
    pub timed_out: bool,
    /// What came back, as text (lossy).
    pub answer: String,
}

/// Connects to `address`, writes `bytes` as they are (garbage, half a
/// request...) and reads until the server closes the connection or
/// `patience` passes.
pub fn raw_exchange(
    address: impl std::net::ToSocketAddrs,
    bytes: &[u8],
    patience: std::time::Duration,
) -> RawExchange {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(address).expect("the server accepts");
    stream
        .set_read_timeout(Some(patience))
        .expect("a read timeout");
    stream.write_all(bytes).expect("the server reads");
    let started = std::time::Instant::now();
    let mut answer = Vec::new();
    let read = stream.read_to_end(&mut answer);
    let timed_out = read.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        )
    });
    RawExchange {
        closed_after: started.elapsed(),
        timed_out,
        answer: String::from_utf8_lossy(&answer).into_owned(),
    }
}

/// GETs `url` with a new client, failing the test if nothing answers.
pub async fn get(url: &str) -> Reply {
    HttpClient::default().get_reply(url).await
}

/// A pooled client; clone freely.
#[derive(Clone)]
pub struct HttpClient {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl HttpClient {
    /// GETs `url` until it answers 200 (a target that starts in the
    /// background), failing the test after `deadline` with the last answer.
    pub async fn get_until_ok(&self, url: &str, deadline: std::time::Duration) -> Reply {
        let until = tokio::time::Instant::now() + deadline;
        loop {
            let last = match self.get(url).await {
                Ok(reply) if reply.status == 200 => return reply,
                Ok(reply) => format!("{} {}", reply.status, reply.body),
                Err(e) => e.to_string(),
            };
            assert!(
                tokio::time::Instant::now() < until,
                "{url} did not answer 200 within {deadline:?}; last: {last}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// GETs `url` `count` times, at most `parallel` at once, and returns the
    /// answers' bodies as numbers, sorted (a counter's values). Every answer
    /// must be 200 with a number.
    pub async fn counted_gets(&self, url: &str, count: usize, parallel: usize) -> Vec<u64> {
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
        let requests: Vec<_> = (0..count)
            .map(|_| {
                let (client, url, limit) = (self.clone(), url.to_string(), limit.clone());
                tokio::spawn(async move {
                    let _permit = limit.acquire_owned().await.expect("the limit stays open");
                    client.get(&url).await.expect("the server answers")
                })
            })
            .collect();
        let mut seen = Vec::with_capacity(count);
        for request in requests {
            let reply = request.await.expect("the request task ends");
            assert_eq!(reply.status, 200, "{}", reply.body);
            seen.push(
                reply
                    .body
                    .trim()
                    .parse::<u64>()
                    .unwrap_or_else(|e| panic!("{:?} is not a count: {e}", reply.body)),
            );
        }
        seen.sort_unstable();
        seen
    }

    /// GETs `url` and reads the whole body, failing the test if nothing
    /// answers.
    pub async fn get_reply(&self, url: &str) -> Reply {
        self.get(url)
            .await
            .unwrap_or_else(|e| panic!("GET {url} got no answer: {e}"))
    }

    /// GETs `url` and reads the whole body.
    pub async fn get(&self, url: &str) -> anyhow::Result<Reply> {
        self.request(http::Method::GET, url, Bytes::new()).await
    }

    /// GETs `url` with `headers` and reads the whole body.
    pub async fn get_with_headers(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Reply> {
        self.request_with(http::Method::GET, url, headers, Bytes::new())
            .await
    }

    /// Sends `method` to `url` with `body` and reads the whole response.
    pub async fn request(
        &self,
        method: http::Method,
        url: &str,
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        self.request_with(method, url, &[], body).await
    }

    /// Like [`Self::request`], with `headers` too (a `Host` among them
    /// replaces the URL's).
    pub async fn request_with(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        let mut request = http::Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(body))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
            bytes: body,
        })
    }
}

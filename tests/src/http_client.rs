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

    /// GETs `url` and reads the whole body.
    pub async fn get(&self, url: &str) -> anyhow::Result<Reply> {
        self.request(http::Method::GET, url, Bytes::new()).await
    }

    /// Sends `method` to `url` with `body` and reads the whole response.
    pub async fn request(
        &self,
        method: http::Method,
        url: &str,
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        let request = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(body))?;
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

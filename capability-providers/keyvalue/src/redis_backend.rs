//! The Redis backend: key `bucket:key`, counters with INCRBY.

use lattice_interfaces::keyvalue::{page, KeyValue, KvError, KvFuture};
use redis::aio::ConnectionManager;
use redis::AsyncCommands as _;

/// How long the first connection may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A Redis server, reconnecting by itself.
pub struct RedisStore {
    connection: ConnectionManager,
}

fn other(e: redis::RedisError) -> KvError {
    KvError::Other(format!("redis: {e}"))
}

fn full_key(bucket: &str, key: &str) -> String {
    format!("{bucket}:{key}")
}

impl RedisStore {
    /// Connects to `url` (`redis://HOST:PORT[/DB]`).
    pub async fn connect(url: &str) -> Result<Self, KvError> {
        let client = redis::Client::open(url)
            .map_err(|e| KvError::Other(format!("bad redis url {url:?}: {e}")))?;
        // The connection manager retries with backoff; a caller waits at most
        // CONNECT_TIMEOUT for the first connection.
        let connection = tokio::time::timeout(CONNECT_TIMEOUT, ConnectionManager::new(client))
            .await
            .map_err(|_| {
                KvError::Other(format!(
                    "cannot reach redis at {url}: no answer within {CONNECT_TIMEOUT:?}"
                ))
            })?
            .map_err(|e| KvError::Other(format!("cannot reach redis at {url}: {e}")))?;
        Ok(Self { connection })
    }
}

impl KeyValue for RedisStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        let mut c = self.connection.clone();
        Box::pin(async move { c.get(full_key(bucket, key)).await.map_err(other) })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        let mut c = self.connection.clone();
        Box::pin(async move { c.set(full_key(bucket, key), value).await.map_err(other) })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        let mut c = self.connection.clone();
        Box::pin(async move { c.del::<_, ()>(full_key(bucket, key)).await.map_err(other) })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        let mut c = self.connection.clone();
        Box::pin(async move { c.exists(full_key(bucket, key)).await.map_err(other) })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        let mut c = self.connection.clone();
        Box::pin(async move {
            let prefix = format!("{bucket}:");
            let mut keys: Vec<String> = Vec::new();
            {
                let mut scan = c
                    .scan_match::<_, String>(format!("{prefix}*"))
                    .await
                    .map_err(other)?;
                while let Some(key) = futures::StreamExt::next(&mut scan).await {
                    if let Some(stripped) = key.strip_prefix(&prefix) {
                        keys.push(stripped.to_string());
                    }
                }
            }
            Ok(page(keys, cursor))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        let mut c = self.connection.clone();
        Box::pin(async move {
            let delta =
                i64::try_from(delta).map_err(|_| KvError::Other("delta too large".into()))?;
            let value: i64 = c.incr(full_key(bucket, key), delta).await.map_err(other)?;
            u64::try_from(value).map_err(|_| KvError::Other("counter is negative".into()))
        })
    }
}

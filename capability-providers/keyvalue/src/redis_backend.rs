//! The Redis backend: key `bucket:key`, counters with INCRBY.
//!
//! One multiplexed connection, made on first use and dropped when it
//! breaks: while Redis is down every call fails at once with `cannot reach
//! redis at URL: …` (a refused connection is refused at once; a silent one
//! waits at most [`CONNECT_TIMEOUT`]), and the first call after Redis is
//! back connects afresh and succeeds. No call waits on a background
//! reconnect schedule.

use std::future::Future;
use std::time::Duration;

use lattice_interfaces::keyvalue::{page, KeyValue, KvError, KvFuture};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands as _;

/// How long a connection may take to be made.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Redis may take to answer one command.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// A Redis server.
pub struct RedisStore {
    url: String,
    client: redis::Client,
    /// The connection, when one is up. Held while connecting so that calls
    /// arriving meanwhile share the one attempt.
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Where a bucket's keys live.
    layout: KeyLayout,
}

/// How a bucket's keys are stored in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyLayout {
    /// `BUCKET:KEY`: buckets are kept apart (the default).
    #[default]
    Prefixed,
    /// `KEY` as the actor wrote it, whatever the bucket: as wasmCloud's
    /// keyvalue-redis provider stores them (link setting `key_prefix=none`).
    Plain,
}

impl KeyLayout {
    /// The layout a link's `key_prefix` setting names: `bucket` (or unset)
    /// or `none`.
    ///
    /// # Errors
    ///
    /// Any other value, named.
    pub fn from_setting(setting: Option<&str>) -> Result<Self, KvError> {
        match setting.map(str::trim) {
            None | Some("bucket") => Ok(Self::Prefixed),
            Some("none") => Ok(Self::Plain),
            Some(other) => Err(KvError::Other(format!(
                "link config key_prefix={other:?} is not \"bucket\" or \"none\""
            ))),
        }
    }

    /// Where `key` of `bucket` is stored.
    fn key(self, bucket: &str, key: &str) -> String {
        match self {
            Self::Prefixed => format!("{bucket}:{key}"),
            Self::Plain => key.to_string(),
        }
    }

    /// What every stored key of `bucket` starts with.
    fn prefix(self, bucket: &str) -> String {
        match self {
            Self::Prefixed => format!("{bucket}:"),
            Self::Plain => String::new(),
        }
    }
}

/// Whether `error` means the connection itself is gone.
fn connection_lost(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
}

impl RedisStore {
    /// A store on `url` (`redis://HOST:PORT[/DB]`), connected now so that a
    /// link to a Redis nobody runs is reported at once.
    ///
    /// # Errors
    ///
    /// A URL that is not a Redis URL, or a server that cannot be reached.
    pub async fn connect(url: &str, layout: KeyLayout) -> Result<Self, KvError> {
        // Messages name the server, never its credentials.
        let client = redis::Client::open(url).map_err(|e| {
            KvError::Other(lattice_interfaces::redacted_in(
                &format!("bad redis url {url}: {e}"),
                url,
            ))
        })?;
        let store = Self {
            url: url.to_string(),
            client,
            connection: tokio::sync::Mutex::new(None),
            layout,
        };
        store.connection().await?;
        Ok(store)
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> KvError {
        KvError::Other(lattice_interfaces::redacted_in(
            &format!("cannot reach redis at {}: {reason}", self.url),
            &self.url,
        ))
    }

    /// The connection, made now if there is none.
    async fn connection(&self) -> Result<MultiplexedConnection, KvError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT);
        let connected = tokio::time::timeout(
            CONNECT_TIMEOUT,
            self.client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|_| self.unreachable(format!("no answer within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| self.unreachable(e))?;
        *slot = Some(connected.clone());
        Ok(connected)
    }

    /// Runs `command` on the connection; a connection that broke is
    /// dropped, so the next call connects again.
    async fn run<T, F>(
        &self,
        command: impl FnOnce(MultiplexedConnection) -> F,
    ) -> Result<T, KvError>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        match command(connection).await {
            Ok(value) => Ok(value),
            Err(e) if connection_lost(&e) => {
                self.connection.lock().await.take();
                Err(self.unreachable(e))
            }
            Err(e) => Err(KvError::Other(format!("redis: {e}"))),
        }
    }
}

impl KeyValue for RedisStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(self.run(move |mut c| async move { c.get(self.layout.key(bucket, key)).await }))
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        Box::pin(
            self.run(move |mut c| async move { c.set(self.layout.key(bucket, key), value).await }),
        )
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(
            self.run(
                move |mut c| async move { c.del::<_, ()>(self.layout.key(bucket, key)).await },
            ),
        )
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(self.run(move |mut c| async move { c.exists(self.layout.key(bucket, key)).await }))
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        Box::pin(async move {
            let prefix = self.layout.prefix(bucket);
            let keys = self
                .run(|mut c| {
                    let prefix = prefix.clone();
                    async move {
                        let mut keys: Vec<String> = Vec::new();
                        let mut scan = c.scan_match::<_, String>(format!("{prefix}*")).await?;
                        while let Some(key) = futures::StreamExt::next(&mut scan).await {
                            if let Some(stripped) = key.strip_prefix(&prefix) {
                                keys.push(stripped.to_string());
                            }
                        }
                        Ok(keys)
                    }
                })
                .await?;
            Ok(page(keys, cursor))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        Box::pin(async move {
            let delta =
                i64::try_from(delta).map_err(|_| KvError::Other("delta too large".into()))?;
            let value: i64 = self
                .run(move |mut c| async move { c.incr(self.layout.key(bucket, key), delta).await })
                .await?;
            u64::try_from(value).map_err(|_| KvError::Other("counter is negative".into()))
        })
    }
}

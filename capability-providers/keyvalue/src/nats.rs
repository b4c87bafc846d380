//! The NATS JetStream KV backend: one KV bucket per link (`bucket=`), keys
//! `<wasi bucket>.<key>`, counters by compare-and-set.

use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use futures::StreamExt as _;
use lattice_interfaces::keyvalue::{page, parse_counter, KeyValue, KvError, KvFuture};

/// A JetStream KV bucket.
pub struct NatsKvStore {
    kv: Store,
}

fn other(e: impl std::fmt::Display) -> KvError {
    KvError::Other(format!("nats kv: {e}"))
}

/// JetStream keys allow `[-/_=.a-zA-Z0-9]`; anything else is escaped.
fn full_key(bucket: &str, key: &str) -> String {
    let escape = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'-' | b'/' | b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => {
                    (b as char).to_string()
                }
                other => format!("={other:02X}"),
            })
            .collect::<String>()
    };
    format!("{}.{}", escape(bucket), escape(key))
}

fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'=' {
            if let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl NatsKvStore {
    /// Opens (or creates) KV bucket `bucket` on the NATS server at `url`.
    pub async fn connect(url: &str, bucket: &str) -> Result<Self, KvError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(|e| {
                KvError::Other(lattice_interfaces::redacted_in(
                    &format!("cannot reach nats at {url}: {e}"),
                    url,
                ))
            })?;
        let mut js = async_nats::jetstream::new(client);
        // JetStream's 5 s default fails an increment that waits behind a
        // thousand others for its compare-and-set; the actor's own call
        // deadline (30 s by default) is what should end it.
        js.set_timeout(Duration::from_secs(20));
        if let Ok(kv) = js.get_key_value(bucket).await {
            return Ok(Self { kv });
        }
        let _ = js
            .create_stream(async_nats::jetstream::stream::Config {
                name: format!("KV_{bucket}"),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: async_nats::jetstream::stream::DiscardPolicy::New,
                ..Default::default()
            })
            .await;
        js.get_key_value(bucket)
            .await
            .map(|kv| Self { kv })
            .map_err(|e| other(format!("cannot open bucket {bucket}: {e}")))
    }
}

impl KeyValue for NatsKvStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match self.kv.entry(full_key(bucket, key)).await.map_err(other)? {
                Some(entry) if entry.operation == Operation::Put => Ok(Some(entry.value.to_vec())),
                _ => Ok(None),
            }
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> KvFuture<'a, ()> {
        Box::pin(async move {
            self.kv
                .put(full_key(bucket, key), value.into())
                .await
                .map(drop)
                .map_err(other)
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, ()> {
        Box::pin(async move { self.kv.delete(full_key(bucket, key)).await.map_err(other) })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, bool> {
        Box::pin(async move { Ok(self.get(bucket, key).await?.is_some()) })
    }

    fn list_keys<'a>(
        &'a self,
        bucket: &'a str,
        cursor: Option<u64>,
    ) -> KvFuture<'a, (Vec<String>, Option<u64>)> {
        Box::pin(async move {
            let prefix = full_key(bucket, "");
            let mut keys = Vec::new();
            // An empty bucket has no keys stream at all.
            if let Ok(mut stream) = self.kv.keys().await {
                while let Some(key) = stream.next().await {
                    let key = key.map_err(other)?;
                    if let Some(rest) = key.strip_prefix(&prefix) {
                        keys.push(unescape(rest));
                    }
                }
            }
            Ok(page(keys, cursor))
        })
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: u64) -> KvFuture<'a, u64> {
        Box::pin(async move {
            let key = full_key(bucket, key);
            // Compare-and-set: a concurrent writer makes us re-read, never overwrite.
            for _ in 0..1000 {
                let entry = self.kv.entry(key.clone()).await.map_err(other)?;
                let (current, revision) = match &entry {
                    Some(e) if e.operation == Operation::Put => {
                        (parse_counter(&e.value)?, Some(e.revision))
                    }
                    Some(e) => (0, Some(e.revision)),
                    None => (0, None),
                };
                let next = current.saturating_add(delta);
                let value = next.to_string().into_bytes().into();
                let written = match revision {
                    Some(revision) => self.kv.update(&key, value, revision).await.is_ok(),
                    None => self.kv.create(&key, value).await.is_ok(),
                };
                if written {
                    return Ok(next);
                }
            }
            Err(KvError::Other(format!("counter {key} is too contended")))
        })
    }
}

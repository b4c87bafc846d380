//! The NATS JetStream KV backend: one KV bucket per link (`bucket=`), keys
//! `<wasi bucket>.<key>`, counters by compare-and-set.

use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::kv::{Entry, EntryErrorKind, Operation, Store};
use async_nats::jetstream::Context;
use futures::StreamExt as _;
use lattice_interfaces::keyvalue::{page, parse_counter, KeyValue, KvError, KvFuture};

/// A JetStream KV bucket.
pub struct NatsKvStore {
    kv: Store,
    /// The JetStream context counters are written through (with headers
    /// `Store::update` does not set).
    js: Context,
    /// Increments of one key from this process wait their turn here, so the
    /// compare-and-set below races only writers in other processes. Without
    /// it, a hundred concurrent increments of one counter cost thousands of
    /// failed compare-and-sets (each two JetStream requests), enough to time
    /// requests out on a busy nats-server 2.9.
    counter_turns: CounterTurns,
}

/// A fixed set of locks; a key takes the one its hash picks. Two keys may
/// share a lock (they then wait for each other), but memory stays fixed
/// however many keys a guest invents.
struct CounterTurns([tokio::sync::Mutex<()>; COUNTER_TURNS]);

const COUNTER_TURNS: usize = 64;

impl CounterTurns {
    fn new() -> Self {
        Self(std::array::from_fn(|_| tokio::sync::Mutex::new(())))
    }

    fn of(&self, key: &str) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher as _, RandomState};
        static SEED: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let hash = SEED.get_or_init(RandomState::new).hash_one(key);
        let [first, ..] = &self.0;
        // The remainder is below COUNTER_TURNS: `get` always finds it.
        self.0
            .get((hash % COUNTER_TURNS as u64) as usize)
            .unwrap_or(first)
    }
}

/// How long JetStream has to answer one request, and how many times a read
/// or an id-stamped write is asked before it fails: 20 s in all, inside the
/// actor's own call deadline (30 s by default).
const ATTEMPT: Duration = Duration::from_secs(5);
const ATTEMPTS: usize = 4;

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
    fn over(js: Context, kv: Store) -> Self {
        Self {
            kv,
            js,
            counter_turns: CounterTurns::new(),
        }
    }

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
        js.set_timeout(ATTEMPT);
        if let Ok(kv) = js.get_key_value(bucket).await {
            return Ok(Self::over(js, kv));
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
            .map(|kv| Self::over(js.clone(), kv))
            .map_err(|e| other(format!("cannot open bucket {bucket}: {e}")))
    }
}

impl NatsKvStore {
    /// The entry of `key`, asked again when JetStream does not answer in
    /// time: nats-server 2.9, when busy, can leave a direct get unanswered.
    async fn entry(&self, key: &str) -> Result<Option<Entry>, KvError> {
        let mut attempts = 0;
        loop {
            match self.kv.entry(key).await {
                Err(e) if e.kind() == EntryErrorKind::TimedOut && attempts + 1 < ATTEMPTS => {
                    attempts += 1;
                    tracing::debug!(
                        key,
                        attempts,
                        "nats kv: a read went unanswered; asking again"
                    );
                }
                result => return result.map_err(other),
            }
        }
    }

    /// Writes `value` to `key` if its last revision is still `revision` (0:
    /// the key was never written). `Ok(false)` when another writer came
    /// first. The write carries an id of its own and a write that went
    /// unanswered is sent again with the same id: JetStream's duplicate
    /// window then answers for the first if it landed, so a lost
    /// acknowledgement never applies an increment twice.
    async fn compare_and_set(
        &self,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<bool, KvError> {
        use async_nats::header::{NATS_EXPECTED_LAST_SUBJECT_SEQUENCE, NATS_MESSAGE_ID};
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            revision.to_string().as_str(),
        );
        headers.insert(NATS_MESSAGE_ID, nuid::next().as_str());
        let subject = format!(
            "{}{key}",
            self.kv.put_prefix.as_ref().unwrap_or(&self.kv.prefix)
        );
        let value = bytes::Bytes::from(value);
        let mut attempts = 0;
        loop {
            let acked = match self
                .js
                .publish_with_headers(subject.clone(), headers.clone(), value.clone())
                .await
            {
                Ok(ack) => ack.await,
                Err(e) => Err(e),
            };
            match acked {
                Ok(_) => return Ok(true),
                Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => return Ok(false),
                Err(e) if e.kind() == PublishErrorKind::TimedOut && attempts + 1 < ATTEMPTS => {
                    attempts += 1;
                    tracing::debug!(
                        key,
                        attempts,
                        "nats kv: a write went unanswered; sending it again"
                    );
                }
                Err(e) => return Err(other(e)),
            }
        }
    }
}

impl KeyValue for NatsKvStore {
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> KvFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match self.entry(&full_key(bucket, key)).await? {
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
            let _turn = self.counter_turns.of(&key).lock().await;
            // Compare-and-set: a writer elsewhere makes us re-read, never overwrite.
            for _ in 0..1000 {
                let (current, revision) = match self.entry(&key).await? {
                    Some(e) if e.operation == Operation::Put => {
                        (parse_counter(&e.value)?, e.revision)
                    }
                    Some(e) => (0, e.revision),
                    None => (0, 0),
                };
                let next = current.saturating_add(delta);
                if self
                    .compare_and_set(&key, next.to_string().into_bytes(), revision)
                    .await?
                {
                    return Ok(next);
                }
            }
            Err(KvError::Other(format!("counter {key} is too contended")))
        })
    }
}

//! The key-value capability provider: `wasi:keyvalue/{store,atomics,batch}`
//! for actors, on one of three backends chosen by the link's config:
//! - `url=redis://HOST:PORT[/DB]` (or wasmCloud's `URL`): Redis, keys
//!   stored `BUCKET:KEY`, or as written with `key_prefix=none` (as
//!   wasmCloud's keyvalue-redis provider stores them);
//! - `bucket=NAME` (with `nats_url=...`, or wasmCloud's `cluster_uri`;
//!   default `nats://127.0.0.1:4222`): NATS JetStream KV, bucket `NAME`;
//! - neither: in memory, the embedded default: a store per link, at most
//!   64 MiB, lost when the link goes or the host stops.
//!
//! Keys, values and errors behave the same on all three; counters are
//! decimal ASCII. A backend is connected on first use of a link and kept
//! until the link is deleted.

mod memory;
mod nats;
mod redis_backend;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lattice_interfaces::capability::{
    Capability, CapabilityFuture, ContractClient, ContractClientFuture, ProviderCalls,
    ProviderContext,
};
use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::keyvalue::{KeyValue, KvError};
use lattice_interfaces::{standard, Interface, InvocationError, Link, LinkKey};

pub use memory::MemoryStore;
pub use nats::NatsKvStore;
pub use redis_backend::{KeyLayout, RedisStore};

/// The provider kind manifests name to run this provider.
pub const KIND: &str = "keyvalue";

/// The link settings a backend is made from, each under Lattice's name
/// and then wasmCloud's providers' names.
const URL: &[&str] = &["url", "URL"];
const BUCKET: &[&str] = &["bucket"];
const NATS_URL: &[&str] = &["nats_url", "cluster_uri"];
const KEY_PREFIX: &[&str] = &["key_prefix"];

/// What a link's backend is made from: its `url`, `bucket`, `nats_url` and
/// `key_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BackendConfig([Option<String>; 4]);

impl BackendConfig {
    fn of(link: &Link) -> Self {
        Self(
            [URL, BUCKET, NATS_URL, KEY_PREFIX]
                .map(|keys| link.config_of(keys).map(str::to_string)),
        )
    }
}

/// Each link's backend and the config it was made from.
type Backends = HashMap<LinkKey, (BackendConfig, Arc<dyn KeyValue>)>;

/// The key-value provider: a backend per link.
pub struct KeyValueProvider {
    calls: Arc<dyn ProviderCalls>,
    /// Each link's backend, with the config it was made from: a link whose
    /// config changed gets a new one.
    backends: tokio::sync::Mutex<Backends>,
    links: Mutex<HashMap<LinkKey, Link>>,
}

impl KeyValueProvider {
    /// A provider with nothing linked yet; it reports unreachable backends
    /// through `context`'s calls.
    pub fn new(context: ProviderContext) -> Self {
        Self {
            calls: context.calls,
            backends: tokio::sync::Mutex::default(),
            links: Mutex::default(),
        }
    }

    /// Serves `link`; its backend connects on first use.
    fn serve_link(&self, link: Link) {
        self.links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(link.key(), link);
    }

    /// Stops serving the link with `key`; its backend is dropped when no
    /// call holds it any more.
    fn forget_link(&self, key: &LinkKey) {
        self.links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
        if let Ok(mut backends) = self.backends.try_lock() {
            backends.remove(key);
        }
    }

    /// The backend of `link`, connecting it on first use.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may drop a half-made connection; the next call
    /// connects again.
    pub async fn backend(&self, link: &Link) -> Result<Arc<dyn KeyValue>, KvError> {
        self.connect(link).await.inspect_err(|e| {
            // Operators hear of a broken backend, not only the actor.
            self.calls.report_error(link, &e.to_string());
        })
    }

    async fn connect(&self, link: &Link) -> Result<Arc<dyn KeyValue>, KvError> {
        let key = link.key();
        let config = BackendConfig::of(link);
        if let Some((made_from, backend)) = self.backends.lock().await.get(&key) {
            if *made_from == config {
                return Ok(backend.clone());
            }
        }
        // Connect without holding the table: one unreachable backend must
        // not stall the calls of every other link.
        let backend: Arc<dyn KeyValue> = if let Some(url) = link.config_of(URL) {
            let layout = KeyLayout::from_setting(link.config_of(KEY_PREFIX))?;
            Arc::new(RedisStore::connect(url, layout).await?)
        } else if let Some(bucket) = link.config_of(BUCKET) {
            let url = link.config_of(NATS_URL).unwrap_or("nats://127.0.0.1:4222");
            Arc::new(NatsKvStore::connect(url, bucket).await?)
        } else {
            // Each link its own: actors do not share keys unless they share
            // a Redis or a NATS bucket.
            Arc::new(MemoryStore::default())
        };
        // Two first calls may both connect: the first to finish is kept,
        // unless it was made from another config (the link changed).
        let mut backends = self.backends.lock().await;
        match backends.get(&key) {
            Some((made_from, kept)) if *made_from == config => Ok(kept.clone()),
            _ => {
                backends.insert(key, (config, backend.clone()));
                Ok(backend)
            }
        }
    }

    /// Serves one operation that arrived over the lattice on `link`; a
    /// failed operation is a [`KvReply::Error`] naming it.
    ///
    /// # Errors
    ///
    /// The link's backend cannot be reached: the caller replies with it
    /// and tells the lattice (a `provider_error` event).
    ///
    /// # Cancel safety
    ///
    /// As [`Self::backend`]; an operation the backend already took is done.
    pub async fn serve(&self, link: &Link, op: KvOp) -> Result<KvReply, KvError> {
        let store = self.backend(link).await?;
        let result = match op {
            KvOp::Get { bucket, key } => store
                .get(&bucket, &key)
                .await
                .map(|v| KvReply::Value(v.map(serde_bytes::ByteBuf::from))),
            KvOp::Set { bucket, key, value } => store
                .set(&bucket, &key, value)
                .await
                .map(|()| KvReply::Done),
            KvOp::Delete { bucket, key } => {
                store.delete(&bucket, &key).await.map(|()| KvReply::Done)
            }
            KvOp::Exists { bucket, key } => store.exists(&bucket, &key).await.map(KvReply::Bool),
            KvOp::ListKeys { bucket, cursor } => store
                .list_keys(&bucket, cursor)
                .await
                .map(|(k, c)| KvReply::Keys(k, c)),
            KvOp::Increment { bucket, key, delta } => store
                .increment(&bucket, &key, delta)
                .await
                .map(KvReply::Number),
        };
        Ok(result.unwrap_or_else(|e| KvReply::Error(e.to_string())))
    }
}

impl Capability for KeyValueProvider {
    fn put_link(&self, link: &Link) -> Result<(), String> {
        if link.namespace == standard::KEYVALUE_STORE.namespace
            && link.package == standard::KEYVALUE_STORE.package
        {
            self.serve_link(link.clone());
        }
        Ok(())
    }

    fn delete_link(&self, link: &Link) {
        self.forget_link(&link.key());
    }

    fn serves(&self, interface: Interface<'_>) -> bool {
        [
            standard::KEYVALUE_STORE,
            standard::KEYVALUE_ATOMICS,
            standard::KEYVALUE_BATCH,
        ]
        .contains(&interface)
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> CapabilityFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let op: KvOp = lattice_interfaces::wire::decode(&payload, "key-value")?;
            let reply = self
                .serve(&link, op)
                .await
                .unwrap_or_else(|e| KvReply::Error(e.to_string()));
            lattice_interfaces::wire::encode(&reply)
        })
    }

    fn client(&self, interface: Interface<'_>, link: &Link) -> Option<ContractClientFuture<'_>> {
        if interface != standard::KEYVALUE_STORE {
            return None;
        }
        let link = link.clone();
        Some(Box::pin(async move {
            let store = self.backend(&link).await?;
            Ok(ContractClient::new(store))
        }))
    }
}

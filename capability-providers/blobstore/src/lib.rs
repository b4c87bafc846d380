//! The blob storage capability provider: `wasi:blobstore` for actors, on
//! the backend each link's config chooses:
//! - `root=DIR` (or wasmCloud's `ROOT`): the filesystem, a directory per container under `DIR`
//!   (made if missing);
//! - `bucket=NAME` (with `nats_url` or wasmCloud's `cluster_uri`, default
//!   `nats://127.0.0.1:4222`, and
//!   optionally `js_domain` and `replicas`): a NATS JetStream object
//!   store, made if missing;
//! - neither: in memory, the embedded default: a store per link, at most
//!   `memory_quota` bytes (64 MiB unless set), lost when the link goes or
//!   the host stops.
//!
//! On any backend a link may set `max_object_bytes`, `max_container_bytes`
//! and `max_objects` ([`usage`]). Objects stream through in chunks both
//! ways: in-process through [`BlobStore`] directly, across processes as
//! read and write sessions ([`lattice_contract_blobstore::serve`]).

mod fs;
mod memory;
mod nats;
pub mod usage;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use lattice_contract_blobstore::serve::{serve, Sessions};
use lattice_contract_blobstore::{BlobError, BlobStore, BLOBSTORE};
use lattice_interfaces::capability::{
    Capability, CapabilityFuture, ContractClient, ContractClientFuture, ProviderCalls,
    ProviderContext,
};
use lattice_interfaces::{Interface, InvocationError, Link, LinkKey};

pub use fs::FsStore;
pub use memory::{MemoryStore, DEFAULT_QUOTA};
pub use nats::NatsStore;

/// The provider reference manifests name to run this provider.
pub const KIND: &str = "blobstore";

/// What a link's backend is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BackendConfig([Option<String>; 11]);

impl BackendConfig {
    fn of(link: &Link) -> Self {
        Self(
            [
                "root",
                "ROOT",
                "bucket",
                "nats_url",
                "cluster_uri",
                "js_domain",
                "replicas",
                "memory_quota",
                "max_object_bytes",
                "max_container_bytes",
                "max_objects",
            ]
            .map(|key| link.config(key).map(str::to_string)),
        )
    }
}

type Backends = HashMap<LinkKey, (BackendConfig, Arc<dyn BlobStore>)>;

/// The blob storage provider: a backend per link.
pub struct BlobstoreProvider {
    calls: Arc<dyn ProviderCalls>,
    backends: tokio::sync::Mutex<Backends>,
    sessions: Sessions,
}

impl BlobstoreProvider {
    /// A provider with nothing linked yet.
    pub fn new(context: ProviderContext) -> Self {
        Self {
            calls: context.calls,
            backends: tokio::sync::Mutex::default(),
            sessions: Sessions::new(),
        }
    }

    /// The store of `link`, made on first use.
    ///
    /// # Errors
    ///
    /// The link's config is wrong, or its backend cannot be opened; the
    /// lattice hears of it too (a `provider_error` event).
    pub async fn store(&self, link: &Link) -> Result<Arc<dyn BlobStore>, BlobError> {
        self.open(link).await.inspect_err(|e| {
            self.calls.report_error(link, &e.to_string());
        })
    }

    async fn open(&self, link: &Link) -> Result<Arc<dyn BlobStore>, BlobError> {
        let key = link.key();
        let config = BackendConfig::of(link);
        if let Some((made_from, store)) = self.backends.lock().await.get(&key) {
            if *made_from == config {
                return Ok(store.clone());
            }
        }
        let limits = usage::Limits::of(link).map_err(BlobError::Invalid)?;
        let backend: Arc<dyn usage::Backend> = if let Some(root) = link.config_of(&["root", "ROOT"])
        {
            Arc::new(FsStore::open(Path::new(root)).await?)
        } else if let Some(bucket) = link.config("bucket") {
            let url = link
                .config_of(&["nats_url", "cluster_uri"])
                .unwrap_or("nats://127.0.0.1:4222");
            let replicas = match link.config("replicas") {
                Some(text) => text.trim().parse::<usize>().map_err(|_| {
                    BlobError::Invalid(format!(
                        "link config replicas={text:?} is not a whole number"
                    ))
                })?,
                None => 1,
            };
            Arc::new(NatsStore::open(url, bucket, link.config("js_domain"), replicas).await?)
        } else {
            let quota = match link.config("memory_quota") {
                Some(text) => text.trim().parse::<u64>().map_err(|_| {
                    BlobError::Invalid(format!(
                        "link config memory_quota={text:?} is not a whole number of bytes"
                    ))
                })?,
                None => DEFAULT_QUOTA,
            };
            Arc::new(MemoryStore::with_quota(quota))
        };
        let store = usage::limited(backend, limits);
        let mut backends = self.backends.lock().await;
        match backends.get(&key) {
            Some((made_from, kept)) if *made_from == config => Ok(kept.clone()),
            _ => {
                backends.insert(key, (config, store.clone()));
                Ok(store)
            }
        }
    }

    /// The open read and write sessions of calls from other processes.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }
}

/// Whether `link` is one of this contract's.
fn is_blobstore(link: &Link) -> bool {
    link.namespace == BLOBSTORE.namespace && link.package == BLOBSTORE.package
}

impl Capability for BlobstoreProvider {
    fn put_link(&self, link: &Link) -> Result<(), String> {
        // A link's limits are checked when it comes; its store is made on
        // first use.
        if is_blobstore(link) {
            usage::Limits::of(link)?;
        }
        Ok(())
    }

    fn delete_link(&self, link: &Link) {
        if let Ok(mut backends) = self.backends.try_lock() {
            backends.remove(&link.key());
        }
    }

    fn serves(&self, interface: Interface<'_>) -> bool {
        interface == BLOBSTORE
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> CapabilityFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let store = match self.store(&link).await {
                Ok(store) => store,
                Err(error) => {
                    let reply = lattice_contract_blobstore::wire::BlobReply::Error(error);
                    return lattice_contract_blobstore::wire::encode(&reply).map_err(|e| {
                        InvocationError::new(lattice_interfaces::ErrorKind::Failed, e.to_string())
                    });
                }
            };
            // A session belongs to the link it was opened over.
            let owner = format!("{}/{}", link.source, link.name);
            Ok(serve(store.as_ref(), &self.sessions, &owner, &payload).await)
        })
    }

    fn client(&self, interface: Interface<'_>, link: &Link) -> Option<ContractClientFuture<'_>> {
        if interface != BLOBSTORE {
            return None;
        }
        let link = link.clone();
        Some(Box::pin(async move {
            let store = self.store(&link).await?;
            Ok(ContractClient::new(store))
        }))
    }
}

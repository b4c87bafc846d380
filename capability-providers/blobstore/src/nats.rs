//! The NATS JetStream object store backend: the link's `bucket` is one
//! object store (made if missing, with `replicas` copies, in the JetStream
//! `js_domain` when set, so the data can live in a hub that outlives a
//! leaf cluster). A container is the prefix `CONTAINER/` of object names,
//! and exists while its marker object `CONTAINER/` does (no object name
//! ends with `/`).
//!
//! Objects are written in the object store's own format (chunks under
//! `$O.BUCKET.C.NUID`, then the object's info under `$O.BUCKET.M.NAME`
//! with its SHA-256), so `nats object get` and every NATS client read them.
//! They are written here rather than by `async-nats`' `put` for one reason:
//! a write that fails or is abandoned must leave nothing, and only the
//! writer knows which chunks to purge. Until its info is published an
//! object's chunks are invisible. An overwrite's old chunks are purged
//! [`REPLACED_KEPT`] after it, so a read already under way (here or in any
//! other client) finishes with what it started reading; a read that waits
//! [`READ_STALL`] for a chunk that is gone (the object deleted under it)
//! fails instead of hanging.

use std::collections::HashMap;

use async_nats::jetstream::{self, object_store};
use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use lattice_contract_blobstore::{
    container_named, object_named, BlobError, BlobFuture, BlobStore, ContainerInfo, ObjectInfo,
    ObjectPage, ObjectRead, ObjectWriter, CHUNK,
};
use lattice_interfaces::redacted;
use sha2::Digest as _;
use tokio::io::AsyncReadExt as _;

use crate::usage::{Backend, Usage};

/// The size of the chunks objects are stored in: the object store's own
/// default, so every client reads them alike.
const STORED_CHUNK: usize = 128 * 1024;

/// How long an overwrite keeps the chunks it replaced.
pub const REPLACED_KEPT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a read waits for its next chunk before it fails.
pub const READ_STALL: std::time::Duration = std::time::Duration::from_secs(30);

/// Containers and objects in one JetStream object store.
#[derive(Clone)]
pub struct NatsStore {
    js: jetstream::Context,
    store: object_store::ObjectStore,
    stream: jetstream::stream::Stream,
    bucket: String,
    replaced_kept: std::time::Duration,
}

fn backend(what: &str, error: impl std::fmt::Display) -> BlobError {
    BlobError::Backend(format!("{what}: {error}"))
}

fn marker(container: &str) -> String {
    format!("{container}/")
}

fn key(container: &str, name: &str) -> String {
    format!("{container}/{name}")
}

fn seconds(info: &object_store::ObjectInfo) -> u64 {
    info.modified
        .map_or(0, |at| u64::try_from(at.unix_timestamp()).unwrap_or(0))
}

impl NatsStore {
    /// The object store `bucket` at `url`, made if missing.
    ///
    /// # Errors
    ///
    /// The bucket name is not one NATS accepts, the server cannot be
    /// reached, or it has no JetStream.
    pub async fn open(
        url: &str,
        bucket: &str,
        domain: Option<&str>,
        replicas: usize,
    ) -> Result<Self, BlobError> {
        if bucket.is_empty()
            || !bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(BlobError::Invalid(format!(
                "link config bucket={bucket:?}: a NATS object store is named with A-Z, a-z, 0-9, '_' and '-'"
            )));
        }
        let shown = redacted(url);
        let client = async_nats::ConnectOptions::new()
            .name("lattice-provider-blobstore")
            .connect(url)
            .await
            .map_err(|e| BlobError::Backend(format!("cannot reach NATS at {shown}: {e}")))?;
        let js = match domain {
            Some(domain) => jetstream::with_domain(client, domain),
            None => jetstream::new(client),
        };
        let what = format!("object store {bucket:?} at {shown}");
        let store = match js.get_object_store(bucket).await {
            Ok(store) => store,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.to_string(),
                    num_replicas: replicas.max(1),
                    ..Default::default()
                })
                .await
                .map_err(|e| backend(&what, e))?,
        };
        let stream = js
            .get_stream(format!("OBJ_{bucket}"))
            .await
            .map_err(|e| backend(&what, e))?;
        Ok(Self {
            js,
            store,
            stream,
            bucket: bucket.to_string(),
            replaced_kept: REPLACED_KEPT,
        })
    }

    /// This store, keeping the chunks an overwrite replaced for `kept`
    /// rather than [`REPLACED_KEPT`].
    pub fn keeping_replaced_for(mut self, kept: std::time::Duration) -> Self {
        self.replaced_kept = kept;
        self
    }

    /// The info of object `name` (a full key), if there is one.
    async fn info(&self, name: &str) -> Result<Option<object_store::ObjectInfo>, BlobError> {
        match self.store.info(name).await {
            Ok(info) if !info.deleted => Ok(Some(info)),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == object_store::InfoErrorKind::NotFound => Ok(None),
            Err(e) => Err(backend(&format!("object store {:?}", self.bucket), e)),
        }
    }

    async fn require_container(&self, container: &str) -> Result<ContainerInfo, BlobError> {
        match self.info(&marker(container)).await? {
            Some(info) => Ok(ContainerInfo {
                name: container.to_string(),
                created_at: seconds(&info),
            }),
            None => Err(BlobError::NotFound(container_named(container))),
        }
    }

    /// Every object of `container` (its names without the prefix), sorted,
    /// with its info.
    async fn objects(
        &self,
        container: &str,
    ) -> Result<Vec<(String, object_store::ObjectInfo)>, BlobError> {
        self.require_container(container).await?;
        let prefix = marker(container);
        let what = format!("object store {:?}", self.bucket);
        let list = self.store.list().await.map_err(|e| backend(&what, e))?;
        let infos: Vec<object_store::ObjectInfo> =
            list.try_collect().await.map_err(|e| backend(&what, e))?;
        let mut objects: Vec<(String, object_store::ObjectInfo)> = infos
            .into_iter()
            .filter_map(|info| {
                let name = info.name.strip_prefix(&prefix)?.to_string();
                (!name.is_empty()).then_some((name, info))
            })
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(objects)
    }

    async fn delete_key(&self, name: &str) -> Result<(), BlobError> {
        match self.store.delete(name).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == object_store::DeleteErrorKind::NotFound => Ok(()),
            Err(e) => Err(backend(&format!("object store {:?}", self.bucket), e)),
        }
    }
}

impl BlobStore for NatsStore {
    fn create_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            if self.info(&marker(name)).await?.is_some() {
                return Err(BlobError::Exists(container_named(name)));
            }
            let mut writer = NatsWrite::new(self.clone(), marker(name), container_named(name));
            writer.publish_info().await?;
            writer.finished = true;
            self.require_container(name).await
        })
    }

    fn container_info<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(self.require_container(name))
    }

    fn delete_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            if self.info(&marker(name)).await?.is_none() {
                return Ok(());
            }
            for (object, _) in self.objects(name).await? {
                self.delete_key(&key(name, &object)).await?;
            }
            self.delete_key(&marker(name)).await
        })
    }

    fn container_exists<'a>(&'a self, name: &'a str) -> BlobFuture<'a, bool> {
        Box::pin(async move { Ok(self.info(&marker(name)).await?.is_some()) })
    }

    fn list_objects<'a>(
        &'a self,
        container: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> BlobFuture<'a, ObjectPage> {
        Box::pin(async move {
            let objects = self.objects(container).await?;
            Ok(ObjectPage::after(
                objects.into_iter().map(|(name, _)| name),
                after,
                limit,
            ))
        })
    }

    fn object_info<'a>(&'a self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move {
            match self.info(&key(container, name)).await? {
                Some(info) => Ok(ObjectInfo {
                    name: name.to_string(),
                    container: container.to_string(),
                    created_at: seconds(&info),
                    size: info.size as u64,
                }),
                None => {
                    self.require_container(container).await?;
                    Err(BlobError::NotFound(object_named(container, name)))
                }
            }
        })
    }

    fn delete_objects<'a>(&'a self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            self.require_container(container).await?;
            for name in names {
                self.delete_key(&key(container, name)).await?;
            }
            Ok(())
        })
    }

    fn clear<'a>(&'a self, container: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            for (object, _) in self.objects(container).await? {
                self.delete_key(&key(container, &object)).await?;
            }
            Ok(())
        })
    }

    fn read<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
        start: u64,
        end: u64,
    ) -> BlobFuture<'a, ObjectRead> {
        Box::pin(async move {
            let what = object_named(container, name);
            let object = match self.store.get(key(container, name)).await {
                Ok(object) => object,
                Err(e) if e.kind() == object_store::GetErrorKind::NotFound => {
                    self.require_container(container).await?;
                    return Err(BlobError::NotFound(what));
                }
                Err(e) => return Err(backend(&what, e)),
            };
            let size = object.info.size as u64;
            let from = start.min(size);
            let to = end.saturating_add(1).min(size).max(from);
            // The object store reads from the start: skip to the range.
            let mut object = object;
            let mut skipped = (&mut object).take(from);
            tokio::io::copy(&mut skipped, &mut tokio::io::sink())
                .await
                .map_err(|e| backend(&what, e))?;
            let reader = tokio_util::io::ReaderStream::with_capacity(object.take(to - from), CHUNK);
            let chunks = futures::stream::unfold(Some(reader), move |reader| {
                let what = what.clone();
                async move {
                    let mut reader = reader?;
                    match tokio::time::timeout(READ_STALL, reader.next()).await {
                        Ok(Some(Ok(chunk))) => Some((Ok(chunk), Some(reader))),
                        Ok(Some(Err(e))) => Some((Err(backend(&what, e)), None)),
                        Ok(None) => None,
                        Err(_) => Some((
                            Err(BlobError::Backend(format!(
                                "{what}: no chunk for {}s: it was deleted or replaced while it was read",
                                READ_STALL.as_secs()
                            ))),
                            None,
                        )),
                    }
                }
            });
            Ok(ObjectRead {
                size: to - from,
                chunks: Box::pin(chunks),
            })
        })
    }

    fn write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
        Box::pin(async move {
            self.require_container(container).await?;
            Ok(Box::new(NatsWrite::new(
                self.clone(),
                key(container, name),
                object_named(container, name),
            )) as Box<dyn ObjectWriter>)
        })
    }
}

/// An object being written: its chunks go out as they come, its info last.
struct NatsWrite {
    store: NatsStore,
    name: String,
    what: String,
    nuid: String,
    chunks: usize,
    size: usize,
    sha256: sha2::Sha256,
    /// Bytes not yet a whole stored chunk.
    pending: Vec<u8>,
    finished: bool,
}

impl NatsWrite {
    fn new(store: NatsStore, name: String, what: String) -> Self {
        Self {
            store,
            name,
            what,
            nuid: nuid::next().to_string(),
            chunks: 0,
            size: 0,
            sha256: sha2::Sha256::new(),
            pending: Vec::new(),
            finished: false,
        }
    }

    fn chunk_subject(&self) -> String {
        format!("$O.{}.C.{}", self.store.bucket, self.nuid)
    }

    async fn publish_chunk(&mut self, chunk: Bytes) -> Result<(), BlobError> {
        self.sha256.update(&chunk);
        self.size += chunk.len();
        self.chunks += 1;
        self.store
            .js
            .publish(self.chunk_subject(), chunk)
            .await
            .map_err(|e| backend(&self.what, e))?
            .await
            .map_err(|e| backend(&self.what, e))?;
        Ok(())
    }

    /// Publishes the object's info: from now on it is the object.
    async fn publish_info(&mut self) -> Result<object_store::ObjectInfo, BlobError> {
        let digest = std::mem::take(&mut self.sha256).finalize();
        let info = object_store::ObjectInfo {
            name: self.name.clone(),
            description: None,
            metadata: HashMap::new(),
            headers: None,
            options: Some(object_store::ObjectOptions {
                link: None,
                max_chunk_size: Some(STORED_CHUNK),
            }),
            bucket: self.store.bucket.clone(),
            nuid: self.nuid.clone(),
            size: self.size,
            chunks: self.chunks,
            modified: Some(async_nats::datetime::now()),
            digest: Some(format!(
                "SHA-256={}",
                data_encoding::BASE64URL.encode(&digest)
            )),
            deleted: false,
        };
        let payload = serde_json::to_vec(&info).map_err(|e| backend(&self.what, e))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(async_nats::header::NATS_ROLLUP, "sub");
        let subject = format!(
            "$O.{}.M.{}",
            self.store.bucket,
            data_encoding::BASE64URL.encode(self.name.as_bytes())
        );
        self.store
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| backend(&self.what, e))?
            .await
            .map_err(|e| backend(&self.what, e))?;
        Ok(info)
    }
}

impl ObjectWriter for NatsWrite {
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.pending.extend_from_slice(&chunk);
            while self.pending.len() >= STORED_CHUNK {
                let rest = self.pending.split_off(STORED_CHUNK);
                let whole = std::mem::replace(&mut self.pending, rest);
                self.publish_chunk(Bytes::from(whole)).await?;
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ObjectInfo> {
        Box::pin(async move {
            if !self.pending.is_empty() {
                let last = Bytes::from(std::mem::take(&mut self.pending));
                self.publish_chunk(last).await?;
            }
            let replaced = self.store.info(&self.name).await?;
            let info = self.publish_info().await?;
            self.finished = true;
            if let Some(old) = replaced.filter(|old| old.nuid != info.nuid && old.chunks > 0) {
                // Later: a read of the old object may be under way.
                let old_chunks = format!("$O.{}.C.{}", self.store.bucket, old.nuid);
                let (stream, kept, what) = (
                    self.store.stream.clone(),
                    self.store.replaced_kept,
                    self.what.clone(),
                );
                tokio::spawn(async move {
                    tokio::time::sleep(kept).await;
                    if let Err(error) = stream.purge().filter(old_chunks).await {
                        tracing::warn!(object = %what, %error, "cannot purge the chunks an overwrite replaced");
                    }
                });
            }
            let (container, name) = self
                .name
                .split_once('/')
                .map_or((String::new(), self.name.clone()), |(c, n)| {
                    (c.to_string(), n.to_string())
                });
            Ok(ObjectInfo {
                name,
                container,
                created_at: seconds(&info),
                size: info.size as u64,
            })
        })
    }
}

impl Drop for NatsWrite {
    fn drop(&mut self) {
        if self.finished || self.chunks == 0 {
            return;
        }
        // Abandoned: its chunks are nobody's. Purged in the background.
        let stream = self.store.stream.clone();
        let subject = self.chunk_subject();
        let what = self.what.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = stream.purge().filter(subject).await {
                    tracing::warn!(object = %what, %error, "cannot purge an abandoned write's chunks");
                }
            });
        }
    }
}

impl Backend for NatsStore {
    fn usage<'a>(&'a self, container: &'a str) -> BlobFuture<'a, Usage> {
        Box::pin(async move {
            let objects = self.objects(container).await?;
            Ok(Usage {
                bytes: objects.iter().map(|(_, info)| info.size as u64).sum(),
                objects: objects.len() as u64,
            })
        })
    }
}

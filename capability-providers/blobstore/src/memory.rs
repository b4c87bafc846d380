//! The in-memory backend: the embedded default. Each link has a store of
//! its own, holding at most its quota (the link's `memory_quota` bytes,
//! [`DEFAULT_QUOTA`] unless set) of object bytes, counted while objects are
//! written: a write that would pass it fails and leaves nothing.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use lattice_contract_blobstore::{
    container_named, now_seconds, object_named, BlobError, BlobFuture, BlobStore, ContainerInfo,
    ObjectInfo, ObjectPage, ObjectRead, ObjectWriter, CHUNK,
};

use crate::usage::{Backend, Usage};

/// Most object bytes one in-memory store holds unless its link says.
pub const DEFAULT_QUOTA: u64 = 64 << 20;

struct Object {
    bytes: Bytes,
    created_at: u64,
}

struct Container {
    created_at: u64,
    objects: BTreeMap<String, Object>,
}

#[derive(Default)]
struct State {
    containers: HashMap<String, Container>,
    /// Bytes of stored objects, plus bytes of writes in progress.
    used: u64,
}

/// Containers and objects in memory.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    quota: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::with_quota(DEFAULT_QUOTA)
    }
}

impl MemoryStore {
    /// An empty store of at most `quota` object bytes.
    pub fn with_quota(quota: u64) -> Self {
        Self {
            state: Arc::default(),
            quota,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn missing(container: &str) -> BlobError {
    BlobError::NotFound(container_named(container))
}

impl BlobStore for MemoryStore {
    fn create_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            let mut state = self.lock();
            if state.containers.contains_key(name) {
                return Err(BlobError::Exists(container_named(name)));
            }
            let created_at = now_seconds();
            state.containers.insert(
                name.to_string(),
                Container {
                    created_at,
                    objects: BTreeMap::new(),
                },
            );
            Ok(ContainerInfo {
                name: name.to_string(),
                created_at,
            })
        })
    }

    fn container_info<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            let state = self.lock();
            let container = state.containers.get(name).ok_or_else(|| missing(name))?;
            Ok(ContainerInfo {
                name: name.to_string(),
                created_at: container.created_at,
            })
        })
    }

    fn delete_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            if let Some(container) = state.containers.remove(name) {
                let freed: u64 = container
                    .objects
                    .values()
                    .map(|o| o.bytes.len() as u64)
                    .sum();
                state.used = state.used.saturating_sub(freed);
            }
            Ok(())
        })
    }

    fn container_exists<'a>(&'a self, name: &'a str) -> BlobFuture<'a, bool> {
        Box::pin(async move { Ok(self.lock().containers.contains_key(name)) })
    }

    fn list_objects<'a>(
        &'a self,
        container: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> BlobFuture<'a, ObjectPage> {
        Box::pin(async move {
            let state = self.lock();
            let objects = &state
                .containers
                .get(container)
                .ok_or_else(|| missing(container))?
                .objects;
            Ok(ObjectPage::after(objects.keys(), after, limit))
        })
    }

    fn object_info<'a>(&'a self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move {
            let state = self.lock();
            let object = state
                .containers
                .get(container)
                .ok_or_else(|| missing(container))?
                .objects
                .get(name)
                .ok_or_else(|| BlobError::NotFound(object_named(container, name)))?;
            Ok(ObjectInfo {
                name: name.to_string(),
                container: container.to_string(),
                created_at: object.created_at,
                size: object.bytes.len() as u64,
            })
        })
    }

    fn delete_objects<'a>(&'a self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let objects = &mut state
                .containers
                .get_mut(container)
                .ok_or_else(|| missing(container))?
                .objects;
            let freed: u64 = names
                .iter()
                .filter_map(|name| objects.remove(name))
                .map(|o| o.bytes.len() as u64)
                .sum();
            state.used = state.used.saturating_sub(freed);
            Ok(())
        })
    }

    fn clear<'a>(&'a self, container: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.lock();
            let objects = std::mem::take(
                &mut state
                    .containers
                    .get_mut(container)
                    .ok_or_else(|| missing(container))?
                    .objects,
            );
            let freed: u64 = objects.values().map(|o| o.bytes.len() as u64).sum();
            state.used = state.used.saturating_sub(freed);
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
            // The bytes are shared, not copied: a later delete or overwrite
            // leaves this read as it was.
            let bytes = {
                let state = self.lock();
                state
                    .containers
                    .get(container)
                    .ok_or_else(|| missing(container))?
                    .objects
                    .get(name)
                    .ok_or_else(|| BlobError::NotFound(object_named(container, name)))?
                    .bytes
                    .clone()
            };
            let len = bytes.len() as u64;
            let (from, to) = (start.min(len), end.saturating_add(1).min(len));
            let range = bytes.slice(from as usize..to.max(from) as usize);
            let chunks: Vec<Result<Bytes, BlobError>> = (0..range.len())
                .step_by(CHUNK)
                .map(|at| Ok(range.slice(at..(at + CHUNK).min(range.len()))))
                .collect();
            Ok(ObjectRead {
                size: range.len() as u64,
                chunks: Box::pin(futures::stream::iter(chunks)),
            })
        })
    }

    fn write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
        Box::pin(async move {
            if !self.lock().containers.contains_key(container) {
                return Err(missing(container));
            }
            Ok(Box::new(MemoryWrite {
                store: self.clone(),
                container: container.to_string(),
                name: name.to_string(),
                body: BytesMut::new(),
            }) as Box<dyn ObjectWriter>)
        })
    }
}

/// A write in progress: its bytes count against the quota as they come.
struct MemoryWrite {
    store: MemoryStore,
    container: String,
    name: String,
    body: BytesMut,
}

impl ObjectWriter for MemoryWrite {
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            {
                let mut state = self.store.lock();
                let used = state.used.saturating_add(chunk.len() as u64);
                if used > self.store.quota {
                    return Err(BlobError::OverQuota(format!(
                        "{}: the in-memory store holds at most {} bytes (its link's memory_quota); nothing was written",
                        object_named(&self.container, &self.name),
                        self.store.quota
                    )));
                }
                state.used = used;
            }
            self.body.extend_from_slice(&chunk);
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ObjectInfo> {
        Box::pin(async move {
            let bytes = std::mem::take(&mut self.body).freeze();
            let size = bytes.len() as u64;
            let created_at = now_seconds();
            let mut state = self.store.lock();
            let Some(container) = state.containers.get_mut(&self.container) else {
                // Deleted while written: nothing to publish into, and the
                // bytes counted for the write are given back.
                state.used = state.used.saturating_sub(size);
                drop(state);
                let error = missing(&self.container);
                self.finished();
                return Err(error);
            };
            let replaced = container
                .objects
                .insert(self.name.clone(), Object { bytes, created_at });
            let freed = replaced.map_or(0, |old| old.bytes.len() as u64);
            state.used = state.used.saturating_sub(freed);
            drop(state);
            // Published: no longer a write in progress.
            let info = ObjectInfo {
                name: std::mem::take(&mut self.name),
                container: std::mem::take(&mut self.container),
                created_at,
                size,
            };
            self.finished();
            Ok(info)
        })
    }
}

impl MemoryWrite {
    /// Marks the bytes as published: dropping no longer releases them.
    fn finished(&mut self) {
        self.body = BytesMut::new();
        self.container.clear();
    }
}

impl Drop for MemoryWrite {
    fn drop(&mut self) {
        // An abandoned write gives its bytes back.
        if !self.container.is_empty() {
            let mut state = self.store.lock();
            state.used = state.used.saturating_sub(self.body.len() as u64);
        }
    }
}

impl Backend for MemoryStore {
    fn usage<'a>(&'a self, container: &'a str) -> BlobFuture<'a, Usage> {
        Box::pin(async move {
            let state = self.lock();
            let objects = &state
                .containers
                .get(container)
                .ok_or_else(|| missing(container))?
                .objects;
            Ok(Usage {
                bytes: objects.values().map(|o| o.bytes.len() as u64).sum(),
                objects: objects.len() as u64,
            })
        })
    }
}

//! `wasi:blobstore` (`blobstore`, `container`, `types`, version
//! `0.2.0-draft`, as wasmCloud's components import it) as a contract of the
//! Lattice host: the whole contract in one crate.
//!
//! - [`BlobStore`]: what a blob storage provider implements once, for every
//!   backend: containers, and objects read and written as streams of
//!   chunks, never whole.
//! - [`names`]: which container and object names every backend accepts.
//! - [`wire`]: the operations as invocation payloads, for a provider in
//!   another process or on another host; [`serve`]: the provider's side of
//!   them, with the read and write sessions that carry a stream across.
//! - With the `host` feature: the bindings actors call
//!   (`wasi:blobstore/*`, the body streams as `wasi:io` streams) and the
//!   contract the host registers with one line,
//!   `&lattice_contract_blobstore::BlobstoreContract`.
//!
//! An actor reaches a blob store only through a link that carries
//! `wasi:blobstore/blobstore`; no link, no storage.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use futures::stream::BoxStream;
use lattice_interfaces::Interface;
use serde::{Deserialize, Serialize};

pub mod names;
pub mod serve;
pub mod wire;

#[cfg(feature = "host")]
mod bindings;
#[cfg(feature = "host")]
mod contract;
#[cfg(feature = "host")]
mod remote;

#[cfg(feature = "host")]
pub use contract::BlobstoreContract;

/// The interface links to blob storage providers carry.
pub const BLOBSTORE: Interface<'static> = Interface::new("wasi", "blobstore", "blobstore");

/// The most bytes one chunk of a stream carries (and one invocation, across
/// processes).
pub const CHUNK: usize = 256 * 1024;

/// Why a blob store operation failed. Its text is what the guest reads:
/// one line naming the container or object and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum BlobError {
    /// The container or object does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The container exists already.
    #[error("{0} exists already")]
    Exists(String),
    /// A name or argument is not accepted.
    #[error("{0}")]
    Invalid(String),
    /// A limit of the link would be passed; nothing was written.
    #[error("{0}")]
    OverQuota(String),
    /// The backend failed.
    #[error("{0}")]
    Backend(String),
}

/// The future of a blob store operation.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, BlobError>> + Send + 'a>>;

/// A container, as `info` tells of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// Its name.
    pub name: String,
    /// When it was made, seconds since the Unix epoch.
    pub created_at: u64,
}

/// An object, as `object-info` tells of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    /// Its name.
    pub name: String,
    /// Its container.
    pub container: String,
    /// When it was written, seconds since the Unix epoch.
    pub created_at: u64,
    /// Its size in bytes.
    pub size: u64,
}

/// An object named by its container and its name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    /// The container.
    pub container: String,
    /// The object.
    pub object: String,
}

/// One page of a container's object names, sorted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ObjectPage {
    /// The names.
    pub names: Vec<String>,
    /// Whether more follow the last one.
    pub more: bool,
}

/// An object (or a range of one) being read.
pub struct ObjectRead {
    /// How many bytes the chunks add up to.
    pub size: u64,
    /// The bytes, in order, each chunk at most [`CHUNK`] bytes.
    pub chunks: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl ObjectPage {
    /// The page of `limit` names after `after` from `sorted` names.
    pub fn after<S: AsRef<str>>(
        sorted: impl IntoIterator<Item = S>,
        after: Option<&str>,
        limit: u32,
    ) -> Self {
        let mut rest = sorted
            .into_iter()
            .filter(|name| after.is_none_or(|after| name.as_ref() > after));
        let names = rest
            .by_ref()
            .take(limit as usize)
            .map(|name| name.as_ref().to_string())
            .collect();
        Self {
            names,
            more: rest.next().is_some(),
        }
    }
}

impl std::fmt::Debug for ObjectRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRead")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// An object being written. Nothing is visible until [`finish`] returns;
/// a writer dropped before that leaves nothing behind.
///
/// [`finish`]: ObjectWriter::finish
pub trait ObjectWriter: Send + 'static {
    /// Appends `chunk`.
    ///
    /// # Errors
    ///
    /// A limit of the link passed (the object is abandoned), or the backend
    /// failed.
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()>;

    /// Publishes the object under its name, replacing any before it.
    ///
    /// # Errors
    ///
    /// The backend failed; nothing was published.
    fn finish(self: Box<Self>) -> BlobFuture<'static, ObjectInfo>;
}

/// A blob store: the containers behind one link, and their objects.
///
/// Names reach it checked by [`names`]; an implementation may rely on that
/// and checks only what its backend adds.
pub trait BlobStore: Send + Sync + 'static {
    /// Makes an empty container.
    fn create_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo>;
    /// The container, if it exists ([`BlobError::NotFound`] if not).
    fn container_info<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo>;
    /// Deletes a container and every object in it; a missing one is not an
    /// error.
    fn delete_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ()>;
    /// Whether the container exists.
    fn container_exists<'a>(&'a self, name: &'a str) -> BlobFuture<'a, bool>;
    /// Up to `limit` object names after `after` (sorted).
    fn list_objects<'a>(
        &'a self,
        container: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> BlobFuture<'a, ObjectPage>;
    /// What the object is ([`BlobError::NotFound`] if missing).
    fn object_info<'a>(&'a self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo>;
    /// Deletes objects; missing ones are not an error.
    fn delete_objects<'a>(&'a self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()>;
    /// Deletes every object of the container, keeping it.
    fn clear<'a>(&'a self, container: &'a str) -> BlobFuture<'a, ()>;
    /// Reads bytes `start` to `end` (both included, `end` past the object
    /// cut to its last byte) of an object.
    fn read<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
        start: u64,
        end: u64,
    ) -> BlobFuture<'a, ObjectRead>;
    /// Starts writing an object of an existing container.
    fn write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>>;

    /// Copies an object, replacing the destination. By default a stream from
    /// one to the other; a backend may do better.
    fn copy_object<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        streamed_copy(self, src, dest)
    }

    /// Moves an object, replacing the destination: a copy, then the source
    /// deleted. A backend may do better.
    fn move_object<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            if src == dest {
                return self
                    .object_info(&src.container, &src.object)
                    .await
                    .map(drop);
            }
            self.copy_object(src, dest).await?;
            self.delete_objects(&src.container, std::slice::from_ref(&src.object))
                .await
        })
    }
}

/// Copies an object by reading it from `store` and writing it back through
/// `store`'s own writer (so whatever `store` keeps to, its limits say, holds
/// for the copy): the default of [`BlobStore::copy_object`].
pub fn streamed_copy<'a, S: BlobStore + ?Sized>(
    store: &'a S,
    src: &'a ObjectId,
    dest: &'a ObjectId,
) -> BlobFuture<'a, ()> {
    Box::pin(async move {
        let mut read = store.read(&src.container, &src.object, 0, u64::MAX).await?;
        let mut writer = store.write(&dest.container, &dest.object).await?;
        while let Some(chunk) = futures::StreamExt::next(&mut read.chunks).await {
            writer.write(chunk?).await?;
        }
        writer.finish().await.map(drop)
    })
}

/// Seconds since the Unix epoch, now.
pub fn now_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `container "photos"`, for messages.
pub fn container_named(name: &str) -> String {
    format!("container {name:?}")
}

/// `object "a.png" in container "photos"`, for messages.
pub fn object_named(container: &str, name: &str) -> String {
    format!("object {name:?} in container {container:?}")
}

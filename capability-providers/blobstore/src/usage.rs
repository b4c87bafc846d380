//! A link's limits, kept on any backend: `max_object_bytes`,
//! `max_container_bytes` and `max_objects` (per container) from the link's
//! config. A write is counted as its chunks come: the chunk that would pass
//! a limit fails the write, and nothing of it is published. Limits are
//! checked against the container as it was when the write began, so two
//! writes at once may together pass `max_container_bytes` by less than one
//! object.

use std::sync::Arc;

use bytes::Bytes;
use lattice_contract_blobstore::{
    object_named, BlobError, BlobFuture, BlobStore, ContainerInfo, ObjectId, ObjectInfo,
    ObjectPage, ObjectRead, ObjectWriter,
};
use lattice_interfaces::Link;

/// What a container holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Object bytes.
    pub bytes: u64,
    /// Objects.
    pub objects: u64,
}

/// A backend: a blob store that can tell what a container holds.
pub trait Backend: BlobStore {
    /// What `container` holds now.
    fn usage<'a>(&'a self, container: &'a str) -> BlobFuture<'a, Usage>;
}

/// A link's limits; `None`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Limits {
    /// The largest object.
    pub object_bytes: Option<u64>,
    /// The most object bytes in one container.
    pub container_bytes: Option<u64>,
    /// The most objects in one container.
    pub objects: Option<u64>,
}

impl Limits {
    /// The limits `link`'s config sets.
    ///
    /// # Errors
    ///
    /// A limit that is not a whole number, naming it.
    pub fn of(link: &Link) -> Result<Self, String> {
        let read = |key: &str| -> Result<Option<u64>, String> {
            link.config(key)
                .map(|text| {
                    text.trim().parse::<u64>().map_err(|_| {
                        format!(
                            "link config {key}={text:?} is not a whole number of bytes or objects"
                        )
                    })
                })
                .transpose()
        };
        Ok(Self {
            object_bytes: read("max_object_bytes")?,
            container_bytes: read("max_container_bytes")?,
            objects: read("max_objects")?,
        })
    }

    fn any(&self) -> bool {
        *self != Self::default()
    }
}

/// `backend` within `limits`: what the provider hands out for a link.
pub fn limited(backend: Arc<dyn Backend>, limits: Limits) -> Arc<dyn BlobStore> {
    if limits.any() {
        Arc::new(Limited { backend, limits })
    } else {
        Arc::new(Unlimited(backend))
    }
}

/// A backend with no limits of its link's (its own may still apply).
struct Unlimited(Arc<dyn Backend>);

/// A backend within limits.
struct Limited {
    backend: Arc<dyn Backend>,
    limits: Limits,
}

macro_rules! forward {
    ($ty:ty, |$self:ident| $backend:expr) => {
        impl BlobStore for $ty {
            fn create_container<'a>(&'a $self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
                $backend.create_container(name)
            }
            fn container_info<'a>(&'a $self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
                $backend.container_info(name)
            }
            fn delete_container<'a>(&'a $self, name: &'a str) -> BlobFuture<'a, ()> {
                $backend.delete_container(name)
            }
            fn container_exists<'a>(&'a $self, name: &'a str) -> BlobFuture<'a, bool> {
                $backend.container_exists(name)
            }
            fn list_objects<'a>(
                &'a $self,
                container: &'a str,
                after: Option<&'a str>,
                limit: u32,
            ) -> BlobFuture<'a, ObjectPage> {
                $backend.list_objects(container, after, limit)
            }
            fn object_info<'a>(&'a $self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo> {
                $backend.object_info(container, name)
            }
            fn delete_objects<'a>(&'a $self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()> {
                $backend.delete_objects(container, names)
            }
            fn clear<'a>(&'a $self, container: &'a str) -> BlobFuture<'a, ()> {
                $backend.clear(container)
            }
            fn read<'a>(
                &'a $self,
                container: &'a str,
                name: &'a str,
                start: u64,
                end: u64,
            ) -> BlobFuture<'a, ObjectRead> {
                $backend.read(container, name, start, end)
            }
            fn write<'a>(
                &'a $self,
                container: &'a str,
                name: &'a str,
            ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
                $self.open_write(container, name)
            }
            fn copy_object<'a>(&'a $self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
                $self.copy(src, dest)
            }
            fn move_object<'a>(&'a $self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
                $backend.move_object(src, dest)
            }
        }
    };
}

forward!(Unlimited, |self| self.0);
forward!(Limited, |self| self.backend);

impl Unlimited {
    fn open_write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
        self.0.write(container, name)
    }

    fn copy<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        self.0.copy_object(src, dest)
    }
}

impl Limited {
    fn open_write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
        Box::pin(async move {
            let usage = self.backend.usage(container).await?;
            let replaced = match self.backend.object_info(container, name).await {
                Ok(info) => Some(info.size),
                Err(BlobError::NotFound(_)) => None,
                Err(error) => return Err(error),
            };
            let object = object_named(container, name);
            if replaced.is_none()
                && self
                    .limits
                    .objects
                    .is_some_and(|most| usage.objects >= most)
            {
                return Err(BlobError::OverQuota(format!(
                    "{object}: container {container:?} holds {} objects, its link's max_objects; nothing was written",
                    usage.objects
                )));
            }
            let inner = self.backend.write(container, name).await?;
            // Room: the smaller of what one object and what the container
            // may still take (the replaced object's bytes count as free).
            let container_room = self
                .limits
                .container_bytes
                .map(|most| most.saturating_sub(usage.bytes.saturating_sub(replaced.unwrap_or(0))));
            Ok(Box::new(CountedWrite {
                inner,
                object,
                written: 0,
                object_room: self.limits.object_bytes,
                container_room,
            }) as Box<dyn ObjectWriter>)
        })
    }

    /// A copy through this store's own writer ([`Self::open_write`]), so
    /// the destination's limits hold.
    fn copy<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        lattice_contract_blobstore::streamed_copy(self, src, dest)
    }
}

/// A write counted against its link's limits.
struct CountedWrite {
    inner: Box<dyn ObjectWriter>,
    object: String,
    written: u64,
    object_room: Option<u64>,
    container_room: Option<u64>,
}

impl ObjectWriter for CountedWrite {
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            let written = self.written.saturating_add(chunk.len() as u64);
            if let Some(most) = self.object_room.filter(|most| written > *most) {
                return Err(BlobError::OverQuota(format!(
                    "{}: larger than {most} bytes, its link's max_object_bytes; nothing was written",
                    self.object
                )));
            }
            if let Some(room) = self.container_room.filter(|room| written > *room) {
                return Err(BlobError::OverQuota(format!(
                    "{}: its container has room for {room} more bytes under its link's max_container_bytes; nothing was written",
                    self.object
                )));
            }
            self.inner.write(chunk).await?;
            self.written = written;
            Ok(())
        })
    }

    fn finish(self: Box<Self>) -> BlobFuture<'static, ObjectInfo> {
        self.inner.finish()
    }
}

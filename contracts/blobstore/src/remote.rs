//! A blob store behind a provider that is not in this process (a provider
//! process, or another host), reached with one invocation per operation and
//! per chunk ([`crate::wire`]). A read asks for the next chunk only when the
//! one before is taken, and a write sends the next chunk only when the one
//! before is stored: one chunk in flight each way, whatever the object's
//! size.

use std::sync::Arc;

use bytes::Bytes;
use lattice_contract::RemoteInvoke;
use lattice_interfaces::Link;

use crate::wire::{self, BlobOp, BlobReply, FUNCTION};
use crate::{
    BlobError, BlobFuture, BlobStore, ContainerInfo, ObjectId, ObjectInfo, ObjectPage, ObjectRead,
    ObjectWriter,
};

/// The interface blob store calls travel as.
const INTERFACE: &str = "wasi:blobstore/blobstore";

/// A blob store provider elsewhere, as a [`BlobStore`].
#[derive(Clone)]
pub(crate) struct RemoteBlobStore {
    pub(crate) remote: Arc<dyn RemoteInvoke>,
    pub(crate) link: Link,
}

impl RemoteBlobStore {
    async fn call(&self, op: &BlobOp) -> Result<BlobReply, BlobError> {
        let payload = wire::encode(op)?;
        let answer = self
            .remote
            .call_raw(
                self.link.clone(),
                INTERFACE.to_string(),
                FUNCTION.to_string(),
                payload,
            )
            .await
            .map_err(|e| BlobError::Backend(e.message))?;
        match wire::decode::<BlobReply>(&answer) {
            Ok(BlobReply::Error(error)) => Err(error),
            Ok(reply) => Ok(reply),
            Err(e) => Err(BlobError::Backend(format!(
                "malformed answer from provider {:?}: {e}",
                self.link.target.as_str()
            ))),
        }
    }

    async fn done(&self, op: BlobOp) -> Result<(), BlobError> {
        match self.call(&op).await? {
            BlobReply::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(reply: &BlobReply) -> BlobError {
    BlobError::Backend(format!("unexpected answer from the blob store: {reply:?}"))
}

impl BlobStore for RemoteBlobStore {
    fn create_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            match self
                .call(&BlobOp::CreateContainer { name: name.into() })
                .await?
            {
                BlobReply::Container(info) => Ok(info),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn container_info<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            match self
                .call(&BlobOp::ContainerInfo { name: name.into() })
                .await?
            {
                BlobReply::Container(info) => Ok(info),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn delete_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(self.done(BlobOp::DeleteContainer { name: name.into() }))
    }

    fn container_exists<'a>(&'a self, name: &'a str) -> BlobFuture<'a, bool> {
        Box::pin(async move {
            match self
                .call(&BlobOp::ContainerExists { name: name.into() })
                .await?
            {
                BlobReply::Bool(exists) => Ok(exists),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn list_objects<'a>(
        &'a self,
        container: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> BlobFuture<'a, ObjectPage> {
        Box::pin(async move {
            let op = BlobOp::ListObjects {
                container: container.into(),
                after: after.map(str::to_string),
                limit,
            };
            match self.call(&op).await? {
                BlobReply::Page(page) => Ok(page),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn object_info<'a>(&'a self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move {
            let op = BlobOp::ObjectInfo {
                container: container.into(),
                name: name.into(),
            };
            match self.call(&op).await? {
                BlobReply::Object(info) => Ok(info),
                other => Err(unexpected(&other)),
            }
        })
    }

    fn delete_objects<'a>(&'a self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()> {
        Box::pin(self.done(BlobOp::DeleteObjects {
            container: container.into(),
            names: names.to_vec(),
        }))
    }

    fn clear<'a>(&'a self, container: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(self.done(BlobOp::Clear {
            container: container.into(),
        }))
    }

    fn copy_object<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        Box::pin(self.done(BlobOp::CopyObject {
            src: src.clone(),
            dest: dest.clone(),
        }))
    }

    fn move_object<'a>(&'a self, src: &'a ObjectId, dest: &'a ObjectId) -> BlobFuture<'a, ()> {
        Box::pin(self.done(BlobOp::MoveObject {
            src: src.clone(),
            dest: dest.clone(),
        }))
    }

    fn read<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
        start: u64,
        end: u64,
    ) -> BlobFuture<'a, ObjectRead> {
        Box::pin(async move {
            let op = BlobOp::ReadOpen {
                container: container.into(),
                name: name.into(),
                start,
                end,
            };
            let (session, size) = match self.call(&op).await? {
                BlobReply::Session { session, size } => (session, size),
                other => return Err(unexpected(&other)),
            };
            let reader = RemoteRead {
                store: self.clone(),
                session,
                open: true,
            };
            let chunks = futures::stream::unfold(reader, |mut reader| async move {
                if !reader.open {
                    return None;
                }
                match reader
                    .store
                    .call(&BlobOp::ReadNext {
                        session: reader.session,
                    })
                    .await
                {
                    Ok(BlobReply::Chunk(bytes)) if bytes.is_empty() => {
                        // The provider closed the session at its end.
                        reader.open = false;
                        drop(reader);
                        None
                    }
                    Ok(BlobReply::Chunk(bytes)) => Some((Ok(Bytes::from(bytes)), reader)),
                    Ok(other) => {
                        reader.open = false;
                        Some((Err(unexpected(&other)), reader))
                    }
                    Err(error) => {
                        reader.open = false;
                        Some((Err(error), reader))
                    }
                }
            });
            Ok(ObjectRead {
                size,
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
            let op = BlobOp::WriteOpen {
                container: container.into(),
                name: name.into(),
            };
            match self.call(&op).await? {
                BlobReply::Session { session, .. } => Ok(Box::new(RemoteWrite {
                    store: self.clone(),
                    session,
                    seq: 0,
                    finished: false,
                })
                    as Box<dyn ObjectWriter>),
                other => Err(unexpected(&other)),
            }
        })
    }
}

/// A read session at the provider; closed there when dropped unfinished.
struct RemoteRead {
    store: RemoteBlobStore,
    session: u64,
    open: bool,
}

impl Drop for RemoteRead {
    fn drop(&mut self) {
        if self.open {
            close_later(
                &self.store,
                BlobOp::ReadClose {
                    session: self.session,
                },
            );
        }
    }
}

/// A write session at the provider; abandoned there when dropped
/// unfinished.
struct RemoteWrite {
    store: RemoteBlobStore,
    session: u64,
    seq: u64,
    finished: bool,
}

impl ObjectWriter for RemoteWrite {
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            for piece in chunk.chunks(crate::CHUNK) {
                let op = BlobOp::WriteChunk {
                    session: self.session,
                    seq: self.seq,
                    bytes: piece.to_vec(),
                };
                self.store.done(op).await?;
                self.seq += 1;
            }
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ObjectInfo> {
        self.finished = true;
        Box::pin(async move {
            match self
                .store
                .call(&BlobOp::WriteFinish {
                    session: self.session,
                })
                .await?
            {
                BlobReply::Object(info) => Ok(info),
                other => Err(unexpected(&other)),
            }
        })
    }
}

impl Drop for RemoteWrite {
    fn drop(&mut self) {
        if !self.finished {
            close_later(
                &self.store,
                BlobOp::WriteAbort {
                    session: self.session,
                },
            );
        }
    }
}

/// Tells the provider a session is over, without waiting; the provider
/// drops it after its idle time anyway if this is lost.
fn close_later(store: &RemoteBlobStore, op: BlobOp) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let store = store.clone();
        runtime.spawn(async move {
            if let Err(error) = store.call(&op).await {
                tracing::debug!(%error, "closing a blob store stream");
            }
        });
    }
}

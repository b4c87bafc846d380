//! The provider's side of [`crate::wire`]: one call decoded, its names
//! checked, served by a [`BlobStore`], answered. Streams are kept between
//! calls as [`Sessions`], each owned by the link that opened it, each at
//! most [`IDLE`] without a call, at most [`MAX_SESSIONS`] at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt as _;

use crate::wire::{self, BlobOp, BlobReply};
use crate::{names, BlobError, BlobStore, ObjectId, ObjectWriter};

/// How long a session may go without a call before it is dropped (a write
/// then publishes nothing).
pub const IDLE: Duration = Duration::from_secs(30);

/// The most sessions open at once, over every link.
pub const MAX_SESSIONS: usize = 256;

/// The most names one `ListObjects` call returns.
pub const MAX_PAGE: u32 = 1000;

enum Stream {
    Read(BoxStream<'static, Result<Bytes, BlobError>>),
    Write {
        writer: Box<dyn ObjectWriter>,
        next_seq: u64,
    },
}

struct Session {
    owner: String,
    stream: Stream,
    used: Instant,
}

/// The open read and write sessions of one provider.
pub struct Sessions {
    open: Mutex<HashMap<u64, Session>>,
    next: AtomicU64,
    idle: Duration,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("open", &self.len())
            .finish()
    }
}

impl Sessions {
    /// No session open; one is dropped after [`IDLE`] without a call.
    pub fn new() -> Self {
        Self::with_idle(IDLE)
    }

    /// No session open; one is dropped after `idle` without a call.
    pub fn with_idle(idle: Duration) -> Self {
        Self {
            open: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            idle,
        }
    }

    /// How many are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Session>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every session idle for its idle time or more. Dropping a write
    /// session abandons its object.
    pub fn sweep(&self) {
        let idle: Vec<Session> = {
            let mut open = self.lock();
            let stale: Vec<u64> = open
                .iter()
                .filter(|(_, s)| s.used.elapsed() >= self.idle)
                .map(|(id, _)| *id)
                .collect();
            stale.iter().filter_map(|id| open.remove(id)).collect()
        };
        // Dropped outside the lock: a writer's drop may clean up files.
        drop(idle);
    }

    fn open(&self, owner: &str, stream: Stream) -> Result<u64, BlobError> {
        self.sweep();
        let mut open = self.lock();
        if open.len() >= MAX_SESSIONS {
            return Err(BlobError::Backend(format!(
                "the provider has {MAX_SESSIONS} streams open already: try again later"
            )));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        open.insert(
            id,
            Session {
                owner: owner.to_string(),
                stream,
                used: Instant::now(),
            },
        );
        Ok(id)
    }

    /// Takes the session out for one call; `put_back` returns it.
    fn take(&self, owner: &str, id: u64) -> Result<Session, BlobError> {
        let mut open = self.lock();
        match open.get(&id) {
            Some(session) if session.owner == owner => {}
            _ => {
                return Err(BlobError::NotFound(format!(
                    "stream {id} (it ended, was idle for {} ms, or is another link's)",
                    self.idle.as_millis()
                )))
            }
        }
        open.remove(&id)
            .ok_or_else(|| BlobError::NotFound(format!("stream {id}")))
    }

    fn put_back(&self, id: u64, mut session: Session) {
        session.used = Instant::now();
        self.lock().insert(id, session);
    }
}

/// Serves one invocation `payload` from `owner` (the link's caller) with
/// `store`; the reply, encoded. Never fails: errors are replies.
pub async fn serve(
    store: &dyn BlobStore,
    sessions: &Sessions,
    owner: &str,
    payload: &[u8],
) -> Vec<u8> {
    let reply = match wire::decode::<BlobOp>(payload) {
        Ok(op) => match answer(store, sessions, owner, op).await {
            Ok(reply) => reply,
            Err(error) => BlobReply::Error(error),
        },
        Err(error) => BlobReply::Error(error),
    };
    wire::encode(&reply).unwrap_or_default()
}

fn object_id(id: &ObjectId) -> Result<(), BlobError> {
    names::container(&id.container)?;
    names::object(&id.object)
}

async fn answer(
    store: &dyn BlobStore,
    sessions: &Sessions,
    owner: &str,
    op: BlobOp,
) -> Result<BlobReply, BlobError> {
    Ok(match op {
        BlobOp::CreateContainer { name } => {
            names::container(&name)?;
            BlobReply::Container(store.create_container(&name).await?)
        }
        BlobOp::ContainerInfo { name } => {
            names::container(&name)?;
            BlobReply::Container(store.container_info(&name).await?)
        }
        BlobOp::DeleteContainer { name } => {
            names::container(&name)?;
            store.delete_container(&name).await?;
            BlobReply::Done
        }
        BlobOp::ContainerExists { name } => {
            names::container(&name)?;
            BlobReply::Bool(store.container_exists(&name).await?)
        }
        BlobOp::ListObjects {
            container,
            after,
            limit,
        } => {
            names::container(&container)?;
            let page = store
                .list_objects(&container, after.as_deref(), limit.clamp(1, MAX_PAGE))
                .await?;
            BlobReply::Page(page)
        }
        BlobOp::ObjectInfo { container, name } => {
            names::container(&container)?;
            names::object(&name)?;
            BlobReply::Object(store.object_info(&container, &name).await?)
        }
        BlobOp::DeleteObjects { container, names } => {
            names::container(&container)?;
            for name in &names {
                names::object(name)?;
            }
            store.delete_objects(&container, &names).await?;
            BlobReply::Done
        }
        BlobOp::Clear { container } => {
            names::container(&container)?;
            store.clear(&container).await?;
            BlobReply::Done
        }
        BlobOp::CopyObject { src, dest } => {
            object_id(&src)?;
            object_id(&dest)?;
            store.copy_object(&src, &dest).await?;
            BlobReply::Done
        }
        BlobOp::MoveObject { src, dest } => {
            object_id(&src)?;
            object_id(&dest)?;
            store.move_object(&src, &dest).await?;
            BlobReply::Done
        }
        BlobOp::ReadOpen {
            container,
            name,
            start,
            end,
        } => {
            names::container(&container)?;
            names::object(&name)?;
            let read = store.read(&container, &name, start, end).await?;
            let session = sessions.open(owner, Stream::Read(read.chunks))?;
            BlobReply::Session {
                session,
                size: read.size,
            }
        }
        BlobOp::ReadNext { session: id } => {
            let mut session = sessions.take(owner, id)?;
            let Stream::Read(chunks) = &mut session.stream else {
                sessions.put_back(id, session);
                return Err(BlobError::Invalid(format!("stream {id} is a write")));
            };
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    sessions.put_back(id, session);
                    BlobReply::Chunk(chunk.to_vec())
                }
                // The end, or a failed read: either way the session is over.
                Some(Err(error)) => return Err(error),
                None => BlobReply::Chunk(Vec::new()),
            }
        }
        BlobOp::ReadClose { session: id } | BlobOp::WriteAbort { session: id } => {
            drop(sessions.take(owner, id)?);
            BlobReply::Done
        }
        BlobOp::WriteOpen { container, name } => {
            names::container(&container)?;
            names::object(&name)?;
            let writer = store.write(&container, &name).await?;
            let session = sessions.open(
                owner,
                Stream::Write {
                    writer,
                    next_seq: 0,
                },
            )?;
            BlobReply::Session { session, size: 0 }
        }
        BlobOp::WriteChunk {
            session: id,
            seq,
            bytes,
        } => {
            let mut session = sessions.take(owner, id)?;
            let Stream::Write { writer, next_seq } = &mut session.stream else {
                sessions.put_back(id, session);
                return Err(BlobError::Invalid(format!("stream {id} is a read")));
            };
            if seq != *next_seq {
                let expected = *next_seq;
                sessions.put_back(id, session);
                return Err(BlobError::Invalid(format!(
                    "stream {id}: chunk {seq} sent where chunk {expected} was expected"
                )));
            }
            if bytes.len() > crate::CHUNK {
                return Err(BlobError::Invalid(format!(
                    "stream {id}: a chunk of {} bytes, over {} (the write is abandoned)",
                    bytes.len(),
                    crate::CHUNK
                )));
            }
            // A failed write abandons the object: the session is not put back.
            writer.write(Bytes::from(bytes)).await?;
            *next_seq += 1;
            sessions.put_back(id, session);
            BlobReply::Done
        }
        BlobOp::WriteFinish { session: id } => {
            let session = sessions.take(owner, id)?;
            let Stream::Write { writer, .. } = session.stream else {
                return Err(BlobError::Invalid(format!("stream {id} is a read")));
            };
            BlobReply::Object(writer.finish().await?)
        }
    })
}

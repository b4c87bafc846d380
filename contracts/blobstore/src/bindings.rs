//! The bindings of `wasi:blobstore/{types,container,blobstore}`, on a
//! [`ContractView`].
//!
//! Every call that names a container resolves the actor's link for
//! `wasi:blobstore` (no link, no storage) and keeps the provider's store in
//! the container resource. Object bodies are streams:
//!
//! - writing: `outgoing-value-write-body` hands the guest an
//!   `output-stream` whose writes go into a small queue ([`QUEUED`] writes of
//!   at most [`MAX_WRITE`] bytes); `write-data` names the object and starts a
//!   task that gathers the queue into chunks of up to [`crate::CHUNK`] bytes
//!   for the provider's writer; `finish` waits for the last chunk and
//!   publishes the object. A guest that writes faster than the store takes
//!   waits (its stream reports no room); dropping the value unfinished
//!   abandons the object.
//! - reading: `get-data` opens the range at the provider; the
//!   `input-stream` of `incoming-value-consume-async` holds one chunk at a
//!   time.
//!
//! What the host holds for the guest (each stream's queue, a whole body
//! read at once) counts against the actor's memory limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt as _;
use lattice_contract::ContractView;
use tokio::sync::mpsc;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, StreamError, StreamResult};

use crate::{names, BlobError, BlobStore, ObjectId, ObjectInfo, ObjectWriter, BLOBSTORE, CHUNK};

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "wit",
        world: "wasi:blobstore/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:io": wasmtime_wasi_io::bindings::wasi::io,
            "wasi:blobstore/types.outgoing-value": super::OutgoingValue,
            "wasi:blobstore/types.incoming-value": super::IncomingValue,
            "wasi:blobstore/container.container": super::Container,
            "wasi:blobstore/container.stream-object-names": super::ObjectNames,
        },
        require_store_data_send: true,
    });
}

use generated::wasi::blobstore::{blobstore, container, types};

/// The most bytes one write of a body stream may carry.
pub const MAX_WRITE: usize = 64 * 1024;

/// How many writes a body stream queues before the guest must wait.
pub const QUEUED: usize = 8;

/// What the host holds for one body stream at most: its queue, the chunk
/// being gathered and the one being stored.
const STREAM_HELD: usize = QUEUED * MAX_WRITE + 2 * CHUNK;

/// The most names one `read-stream-object-names` call returns.
const MAX_NAMES: u64 = 10_000;

/// [`HasData`] for the blob store bindings.
pub struct WasiBlobstore;

impl HasData for WasiBlobstore {
    type Data<'a> = ContractView<'a>;
}

type BlobResult<T> = wasmtime::Result<Result<T, String>>;

/// A container the guest holds: its name and the store behind the link.
pub struct Container {
    name: String,
    store: Arc<dyn BlobStore>,
}

/// A listing the guest pages through.
pub struct ObjectNames {
    container: String,
    store: Arc<dyn BlobStore>,
    after: Option<String>,
    ended: bool,
}

/// What a body's writes reach once `write-data` names the object.
struct Pump {
    task: tokio::task::JoinHandle<Result<Box<dyn ObjectWriter>, BlobError>>,
    object: ObjectId,
}

/// An object being written.
pub struct OutgoingValue {
    /// The queue's receiving end, until `write-data` hands it to the pump.
    queue: Option<mpsc::Receiver<Bytes>>,
    /// The sending end, until `outgoing-value-write-body` hands it out.
    sender: Option<mpsc::Sender<Bytes>>,
    /// Whether the guest still holds the body stream.
    stream_open: Arc<AtomicBool>,
    /// Why the object cannot be written, once the pump failed.
    failed: Arc<Mutex<Option<String>>>,
    pump: Option<Pump>,
    /// Whether [`STREAM_HELD`] is held against the guest's allowance.
    held: bool,
}

impl Drop for OutgoingValue {
    fn drop(&mut self) {
        if let Some(pump) = self.pump.take() {
            // Unfinished: the writer is dropped, and so is the object.
            pump.task.abort();
        }
    }
}

/// An object, or a range of one, being read.
pub struct IncomingValue {
    size: u64,
    chunks: Option<BoxStream<'static, Result<Bytes, BlobError>>>,
}

fn text(error: BlobError) -> String {
    error.to_string()
}

/// The store behind the actor's `wasi:blobstore` link. The future
/// borrows nothing of the store.
fn store_of(
    view: &ContractView<'_>,
) -> impl std::future::Future<Output = Result<Arc<dyn BlobStore>, String>> + Send + 'static {
    let actor = view.actor.clone();
    let made = view.client::<Arc<dyn BlobStore>>(BLOBSTORE);
    async move {
        made.await.map_err(|error| {
            tracing::warn!(%actor, %error, "blob store refused");
            error.message
        })
    }
}

fn container_of(
    view: &ContractView<'_>,
    container: &Resource<Container>,
) -> wasmtime::Result<(String, Arc<dyn BlobStore>)> {
    let container = view.table.get(container)?;
    Ok((container.name.clone(), container.store.clone()))
}

fn object_id(id: &types::ObjectId) -> Result<ObjectId, String> {
    names::container(&id.container).map_err(text)?;
    names::object(&id.object).map_err(text)?;
    Ok(ObjectId {
        container: id.container.clone(),
        object: id.object.clone(),
    })
}

fn object_metadata(info: ObjectInfo) -> types::ObjectMetadata {
    types::ObjectMetadata {
        name: info.name,
        container: info.container,
        created_at: info.created_at,
        size: info.size,
    }
}

fn push_container(
    view: &mut ContractView<'_>,
    name: String,
    store: Arc<dyn BlobStore>,
) -> wasmtime::Result<Resource<Container>> {
    Ok(view.table.push(Container { name, store })?)
}

/// `name` checked as a container name, then the store behind the link.
/// The future borrows nothing of the store.
fn checked_store(
    view: &ContractView<'_>,
    name: &str,
) -> impl std::future::Future<Output = Result<Arc<dyn BlobStore>, String>> + Send + 'static {
    let checked = names::container(name).map_err(text);
    let store = store_of(view);
    async move {
        checked?;
        store.await
    }
}

/// Both ids checked, then the store behind the link.
fn checked_pair(
    view: &ContractView<'_>,
    src: &types::ObjectId,
    dest: &types::ObjectId,
) -> impl std::future::Future<Output = Result<(Arc<dyn BlobStore>, ObjectId, ObjectId), String>>
       + Send
       + 'static {
    let ids = object_id(src).and_then(|src| Ok((src, object_id(dest)?)));
    let store = store_of(view);
    async move {
        let (src, dest) = ids?;
        Ok((store.await?, src, dest))
    }
}

impl blobstore::Host for ContractView<'_> {
    async fn create_container(&mut self, name: String) -> BlobResult<Resource<Container>> {
        let store = checked_store(self, &name);
        let made = async {
            let store = store.await?;
            store.create_container(&name).await.map_err(text)?;
            Ok(store)
        };
        match made.await {
            Ok(store) => Ok(Ok(push_container(self, name, store)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn get_container(&mut self, name: String) -> BlobResult<Resource<Container>> {
        let store = checked_store(self, &name);
        let found = async {
            let store = store.await?;
            store.container_info(&name).await.map_err(text)?;
            Ok(store)
        };
        match found.await {
            Ok(store) => Ok(Ok(push_container(self, name, store)?)),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn delete_container(&mut self, name: String) -> BlobResult<()> {
        let store = checked_store(self, &name);
        Ok(async { store.await?.delete_container(&name).await.map_err(text) }.await)
    }

    async fn container_exists(&mut self, name: String) -> BlobResult<bool> {
        let store = checked_store(self, &name);
        Ok(async { store.await?.container_exists(&name).await.map_err(text) }.await)
    }

    async fn copy_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> BlobResult<()> {
        let pair = checked_pair(self, &src, &dest);
        Ok(async {
            let (store, src, dest) = pair.await?;
            store.copy_object(&src, &dest).await.map_err(text)
        }
        .await)
    }

    async fn move_object(&mut self, src: types::ObjectId, dest: types::ObjectId) -> BlobResult<()> {
        let pair = checked_pair(self, &src, &dest);
        Ok(async {
            let (store, src, dest) = pair.await?;
            store.move_object(&src, &dest).await.map_err(text)
        }
        .await)
    }
}

impl container::Host for ContractView<'_> {}

impl container::HostContainer for ContractView<'_> {
    async fn name(&mut self, container: Resource<Container>) -> BlobResult<String> {
        Ok(Ok(self.table.get(&container)?.name.clone()))
    }

    async fn info(
        &mut self,
        container: Resource<Container>,
    ) -> BlobResult<types::ContainerMetadata> {
        let (name, store) = container_of(self, &container)?;
        Ok(store
            .container_info(&name)
            .await
            .map(|info| types::ContainerMetadata {
                name: info.name,
                created_at: info.created_at,
            })
            .map_err(text))
    }

    async fn get_data(
        &mut self,
        container: Resource<Container>,
        name: String,
        start: u64,
        end: u64,
    ) -> BlobResult<Resource<IncomingValue>> {
        if let Err(error) = names::object(&name) {
            return Ok(Err(text(error)));
        }
        if end < start {
            return Ok(Err(format!(
                "get-data of object {name:?}: the range {start}..={end} ends before it starts"
            )));
        }
        let (container, store) = container_of(self, &container)?;
        match store.read(&container, &name, start, end).await {
            Ok(read) => Ok(Ok(self.table.push(IncomingValue {
                size: read.size,
                chunks: Some(read.chunks),
            })?)),
            Err(error) => Ok(Err(text(error))),
        }
    }

    async fn write_data(
        &mut self,
        container: Resource<Container>,
        name: String,
        data: Resource<OutgoingValue>,
    ) -> BlobResult<()> {
        if let Err(error) = names::object(&name) {
            return Ok(Err(text(error)));
        }
        let (container, store) = container_of(self, &container)?;
        let value = self.table.get_mut(&data)?;
        if let Some(pump) = &value.pump {
            return Ok(Err(format!(
                "this value is being written as object {:?} in container {:?} already",
                pump.object.object, pump.object.container
            )));
        }
        let Some(queue) = value.queue.take() else {
            return Ok(Err("this value was written already".into()));
        };
        let writer = match store.write(&container, &name).await {
            Ok(writer) => writer,
            Err(error) => {
                // Put the queue back: the guest may try another name.
                self.table.get_mut(&data)?.queue = Some(queue);
                return Ok(Err(text(error)));
            }
        };
        let value = self.table.get_mut(&data)?;
        let failed = value.failed.clone();
        let task = tokio::spawn(pump(queue, writer, failed));
        value.pump = Some(Pump {
            task,
            object: ObjectId {
                container,
                object: name,
            },
        });
        Ok(Ok(()))
    }

    async fn list_objects(
        &mut self,
        container: Resource<Container>,
    ) -> BlobResult<Resource<ObjectNames>> {
        let (container, store) = container_of(self, &container)?;
        // The container must exist, as in every other store.
        if let Err(error) = store.container_info(&container).await {
            return Ok(Err(text(error)));
        }
        Ok(Ok(self.table.push(ObjectNames {
            container,
            store,
            after: None,
            ended: false,
        })?))
    }

    async fn delete_object(
        &mut self,
        container: Resource<Container>,
        name: String,
    ) -> BlobResult<()> {
        self.delete_objects(container, vec![name]).await
    }

    async fn delete_objects(
        &mut self,
        container: Resource<Container>,
        names: Vec<String>,
    ) -> BlobResult<()> {
        if let Some(error) = names.iter().find_map(|n| names::object(n).err()) {
            return Ok(Err(text(error)));
        }
        let (container, store) = container_of(self, &container)?;
        Ok(store.delete_objects(&container, &names).await.map_err(text))
    }

    async fn has_object(
        &mut self,
        container: Resource<Container>,
        name: String,
    ) -> BlobResult<bool> {
        if let Err(error) = names::object(&name) {
            return Ok(Err(text(error)));
        }
        let (container, store) = container_of(self, &container)?;
        match store.object_info(&container, &name).await {
            Ok(_) => Ok(Ok(true)),
            Err(BlobError::NotFound(_)) => {
                // Missing object, or missing container: tell them apart.
                match store.container_info(&container).await {
                    Ok(_) => Ok(Ok(false)),
                    Err(error) => Ok(Err(text(error))),
                }
            }
            Err(error) => Ok(Err(text(error))),
        }
    }

    async fn object_info(
        &mut self,
        container: Resource<Container>,
        name: String,
    ) -> BlobResult<types::ObjectMetadata> {
        if let Err(error) = names::object(&name) {
            return Ok(Err(text(error)));
        }
        let (container, store) = container_of(self, &container)?;
        Ok(store
            .object_info(&container, &name)
            .await
            .map(object_metadata)
            .map_err(text))
    }

    async fn clear(&mut self, container: Resource<Container>) -> BlobResult<()> {
        let (container, store) = container_of(self, &container)?;
        Ok(store.clear(&container).await.map_err(text))
    }

    async fn drop(&mut self, container: Resource<Container>) -> wasmtime::Result<()> {
        self.table.delete(container)?;
        Ok(())
    }
}

impl container::HostStreamObjectNames for ContractView<'_> {
    async fn read_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        len: u64,
    ) -> BlobResult<(Vec<String>, bool)> {
        let listing = self.table.get_mut(&names)?;
        let wanted = len.min(MAX_NAMES);
        let mut read = Vec::new();
        while !listing.ended && (read.len() as u64) < wanted {
            let limit = u32::try_from(wanted - read.len() as u64).unwrap_or(u32::MAX);
            let page = match listing
                .store
                .list_objects(&listing.container, listing.after.as_deref(), limit)
                .await
            {
                Ok(page) => page,
                Err(error) => return Ok(Err(text(error))),
            };
            listing.ended = !page.more || page.names.is_empty();
            if let Some(last) = page.names.last() {
                listing.after = Some(last.clone());
            }
            read.extend(page.names);
        }
        Ok(Ok((read, listing.ended)))
    }

    async fn skip_stream_object_names(
        &mut self,
        names: Resource<ObjectNames>,
        num: u64,
    ) -> BlobResult<(u64, bool)> {
        match self.read_stream_object_names(names, num).await? {
            Ok((skipped, ended)) => Ok(Ok((skipped.len() as u64, ended))),
            Err(error) => Ok(Err(error)),
        }
    }

    async fn drop(&mut self, names: Resource<ObjectNames>) -> wasmtime::Result<()> {
        self.table.delete(names)?;
        Ok(())
    }
}

impl types::Host for ContractView<'_> {}

impl types::HostOutgoingValue for ContractView<'_> {
    async fn new_outgoing_value(&mut self) -> wasmtime::Result<Resource<OutgoingValue>> {
        let (sender, queue) = mpsc::channel(QUEUED);
        Ok(self.table.push(OutgoingValue {
            queue: Some(queue),
            sender: Some(sender),
            stream_open: Arc::new(AtomicBool::new(false)),
            failed: Arc::new(Mutex::new(None)),
            pump: None,
            held: false,
        })?)
    }

    async fn outgoing_value_write_body(
        &mut self,
        value: Resource<OutgoingValue>,
    ) -> wasmtime::Result<Result<Resource<DynOutputStream>, ()>> {
        let outgoing = self.table.get_mut(&value)?;
        let Some(sender) = outgoing.sender.take() else {
            return Ok(Err(()));
        };
        let stream_open = outgoing.stream_open.clone();
        let failed = outgoing.failed.clone();
        if self.allowance.hold(STREAM_HELD).is_err() {
            // Over the actor's memory limit: no stream.
            self.table.get_mut(&value)?.sender = Some(sender);
            return Ok(Err(()));
        }
        self.table.get_mut(&value)?.held = true;
        stream_open.store(true, Ordering::Release);
        let body: DynOutputStream = Box::new(BodyStream {
            sender: Some(sender),
            stream_open,
            failed,
        });
        Ok(Ok(self.table.push(body)?))
    }

    async fn finish(&mut self, value: Resource<OutgoingValue>) -> BlobResult<()> {
        let mut outgoing = self.table.delete(value)?;
        if outgoing.held {
            self.allowance.release(STREAM_HELD);
            outgoing.held = false;
        }
        if outgoing.stream_open.load(Ordering::Acquire) {
            return Ok(Err(
                "finish: drop the body's output-stream first (the object is abandoned)".into(),
            ));
        }
        let Some(pump) = outgoing.pump.take() else {
            return Ok(Err(
                "finish: the value was never given to write-data, so it names no object".into(),
            ));
        };
        // The stream is gone, so is the queue's sender: the pump ends.
        outgoing.sender = None;
        let writer = match pump.task.await {
            Ok(Ok(writer)) => writer,
            Ok(Err(error)) => return Ok(Err(text(error))),
            Err(error) => return Ok(Err(format!("the write of the object stopped: {error}"))),
        };
        Ok(writer.finish().await.map(drop).map_err(text))
    }

    async fn drop(&mut self, value: Resource<OutgoingValue>) -> wasmtime::Result<()> {
        let outgoing = self.table.delete(value)?;
        if outgoing.held {
            self.allowance.release(STREAM_HELD);
        }
        Ok(())
    }
}

impl types::HostIncomingValue for ContractView<'_> {
    async fn incoming_value_consume_sync(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> BlobResult<Vec<u8>> {
        let mut incoming = self.table.delete(value)?;
        let Some(mut chunks) = incoming.chunks.take() else {
            return Ok(Err("this value was read already".into()));
        };
        let size = usize::try_from(incoming.size).unwrap_or(usize::MAX);
        if let Err(refused) = self.allowance.hold(size) {
            return Ok(Err(format!(
                "{refused}: read an object this large with incoming-value-consume-async"
            )));
        }
        let mut body = Vec::with_capacity(size);
        let mut outcome = Ok(());
        while let Some(chunk) = chunks.next().await {
            match chunk {
                Ok(chunk) if body.len() + chunk.len() <= size => body.extend_from_slice(&chunk),
                Ok(_) => {
                    outcome = Err("the object grew while it was read".to_string());
                    break;
                }
                Err(error) => {
                    outcome = Err(text(error));
                    break;
                }
            }
        }
        self.allowance.release(size);
        Ok(outcome.map(|()| body))
    }

    async fn incoming_value_consume_async(
        &mut self,
        value: Resource<IncomingValue>,
    ) -> BlobResult<Resource<DynInputStream>> {
        let mut incoming = self.table.delete(value)?;
        let Some(chunks) = incoming.chunks.take() else {
            return Ok(Err("this value was read already".into()));
        };
        let body: DynInputStream = Box::new(ReadStream {
            chunks,
            pending: Bytes::new(),
            ended: None,
        });
        Ok(Ok(self.table.push(body)?))
    }

    async fn size(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<u64> {
        Ok(self.table.get(&value)?.size)
    }

    async fn drop(&mut self, value: Resource<IncomingValue>) -> wasmtime::Result<()> {
        self.table.delete(value)?;
        Ok(())
    }
}

/// Gathers the queue's writes into chunks for `writer` until the queue
/// closes (the guest dropped its stream); the writer, for `finish`.
async fn pump(
    mut queue: mpsc::Receiver<Bytes>,
    mut writer: Box<dyn ObjectWriter>,
    failed: Arc<Mutex<Option<String>>>,
) -> Result<Box<dyn ObjectWriter>, BlobError> {
    let mut gathered = BytesMut::with_capacity(CHUNK);
    let outcome = async {
        while let Some(bytes) = queue.recv().await {
            gathered.extend_from_slice(&bytes);
            if gathered.len() >= CHUNK {
                let chunk = gathered.split_to(CHUNK).freeze();
                writer.write(chunk).await?;
            }
        }
        if !gathered.is_empty() {
            writer.write(gathered.split().freeze()).await?;
        }
        Ok::<(), BlobError>(())
    }
    .await;
    match outcome {
        Ok(()) => Ok(writer),
        Err(error) => {
            *failed.lock().unwrap_or_else(PoisonError::into_inner) = Some(error.to_string());
            Err(error)
        }
    }
}

/// The guest's output stream of a body: writes go into the queue.
struct BodyStream {
    sender: Option<mpsc::Sender<Bytes>>,
    stream_open: Arc<AtomicBool>,
    failed: Arc<Mutex<Option<String>>>,
}

impl BodyStream {
    fn failure(&self) -> Option<StreamError> {
        let failed = self.failed.lock().unwrap_or_else(PoisonError::into_inner);
        failed
            .as_ref()
            .map(|why| StreamError::LastOperationFailed(wasmtime::Error::msg(why.clone())))
    }
}

impl Drop for BodyStream {
    fn drop(&mut self) {
        self.stream_open.store(false, Ordering::Release);
    }
}

impl wasmtime_wasi_io::streams::OutputStream for BodyStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        if let Some(failure) = self.failure() {
            return Err(failure);
        }
        let Some(sender) = &self.sender else {
            return Err(StreamError::Closed);
        };
        if bytes.len() > MAX_WRITE {
            return Err(StreamError::Trap(wasmtime::Error::msg(
                "a write larger than check-write allowed",
            )));
        }
        match sender.try_send(bytes) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(StreamError::Trap(
                wasmtime::Error::msg("a write larger than check-write allowed"),
            )),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(self.failure().unwrap_or(StreamError::Closed))
            }
        }
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Writes reach the store in order on their own; a flush waits (in
        // `ready`) only for room, like any other write.
        self.failure().map_or(Ok(()), Err)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        if let Some(failure) = self.failure() {
            return Err(failure);
        }
        match &self.sender {
            Some(sender) if sender.is_closed() => Err(StreamError::Closed),
            Some(sender) if sender.capacity() > 0 => Ok(MAX_WRITE),
            Some(_) => Ok(0),
            None => Err(StreamError::Closed),
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl wasmtime_wasi_io::poll::Pollable for BodyStream {
    async fn ready(&mut self) {
        if let Some(sender) = &self.sender {
            // Room for one more write (or the queue closed): ready.
            let _ = sender.reserve().await;
        }
    }
}

/// The guest's input stream of a read: one chunk held at a time.
struct ReadStream {
    chunks: BoxStream<'static, Result<Bytes, BlobError>>,
    pending: Bytes,
    /// Set once the chunks ended: `None` inside means at the end, `Some`
    /// that the read failed.
    ended: Option<Option<String>>,
}

impl wasmtime_wasi_io::streams::InputStream for ReadStream {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if !self.pending.is_empty() {
            let take = size.min(self.pending.len());
            return Ok(self.pending.split_to(take));
        }
        match &self.ended {
            Some(None) => Err(StreamError::Closed),
            Some(Some(why)) => Err(StreamError::LastOperationFailed(wasmtime::Error::msg(
                why.clone(),
            ))),
            None => Ok(Bytes::new()),
        }
    }
}

#[wasmtime_wasi_io::async_trait]
impl wasmtime_wasi_io::poll::Pollable for ReadStream {
    async fn ready(&mut self) {
        if !self.pending.is_empty() || self.ended.is_some() {
            return;
        }
        // Cancel safe: a chunk is taken only when `next` completes.
        match self.chunks.next().await {
            Some(Ok(chunk)) => self.pending = chunk,
            Some(Err(error)) => self.ended = Some(Some(error.to_string())),
            None => self.ended = Some(None),
        }
    }
}

/// Adds `wasi:blobstore` to `linker`, served through each store's
/// [`ContractView`].
pub(crate) fn add_to_linker<T: lattice_contract::ContractHost>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, WasiBlobstore>(linker, T::contract_view)?;
    container::add_to_linker::<T, WasiBlobstore>(linker, T::contract_view)?;
    blobstore::add_to_linker::<T, WasiBlobstore>(linker, T::contract_view)?;
    Ok(())
}

//! The bindings of `wasi:keyvalue/{store,atomics,batch}`, on a
//! [`ContractView`].
//!
//! `open` records the identifier, as wasmCloud's host does: the link is
//! chosen at each operation (the link name the instance chose for the
//! package with `wasmcloud:bus`, `default` unless it chose), so a
//! component may open its bucket before it picks a named link. The
//! provider's backend for that link is kept in the bucket resource and
//! resolved again only when the instance's choice changes; the identifier
//! is handed to the provider as the bucket. No link, no storage: the
//! operation answers an error with the reason, which is logged too.

use std::sync::Arc;

use lattice_contract::ContractView;
use lattice_interfaces::keyvalue::{KeyValue, KvError};
use lattice_interfaces::standard;
use wasmtime::component::{HasData, Resource};

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../interfaces/wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
        },
        require_store_data_send: true,
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};

/// An open bucket: its name and, once an operation resolved it, the link
/// name it was resolved for and the backend behind that link.
pub struct Bucket {
    name: String,
    resolved: Option<(String, Arc<dyn KeyValue>)>,
}

/// Longest bucket name an actor may open, in bytes.
pub const MAX_BUCKET_NAME: usize = 512;

impl Bucket {
    /// What the host holds for a bucket named `name`, in bytes.
    fn held(name: &str) -> usize {
        std::mem::size_of::<Self>() + name.len()
    }
}

/// [`HasData`] for the key-value bindings.
pub struct WasiKeyValue;

impl HasData for WasiKeyValue {
    type Data<'a> = ContractView<'a>;
}

fn wit_error(e: KvError) -> store::Error {
    match e {
        KvError::NoSuchStore => store::Error::NoSuchStore,
        KvError::AccessDenied => store::Error::AccessDenied,
        KvError::Other(reason) => store::Error::Other(reason),
    }
}

type KvResult<T> = wasmtime::Result<Result<T, store::Error>>;

/// The name of `bucket` and the backend of the link the instance uses for
/// `wasi:keyvalue` now; an error when it has no such link.
async fn bucket_of(
    view: &mut ContractView<'_>,
    bucket: &Resource<Bucket>,
) -> wasmtime::Result<Result<(String, Arc<dyn KeyValue>), store::Error>> {
    let interface = standard::KEYVALUE_STORE;
    let link_name = view.link_names.of(interface.namespace, interface.package);
    let open = view.table.get(bucket)?;
    let name = open.name.clone();
    if let Some((resolved_for, backend)) = &open.resolved {
        if *resolved_for == link_name {
            return Ok(Ok((name, backend.clone())));
        }
    }
    match view.client::<Arc<dyn KeyValue>>(interface).await {
        Ok(backend) => {
            view.table.get_mut(bucket)?.resolved = Some((link_name, backend.clone()));
            Ok(Ok((name, backend)))
        }
        Err(error) => {
            tracing::warn!(actor = %view.actor, bucket = %name, %error, "key-value call refused");
            Ok(Err(store::Error::Other(error.message)))
        }
    }
}

/// The bucket and backend of `$bucket`, or the error answered.
macro_rules! resolve {
    ($view:expr, $bucket:expr) => {
        match bucket_of($view, &$bucket).await? {
            Ok(resolved) => resolved,
            Err(error) => return Ok(Err(error)),
        }
    };
}

impl store::Host for ContractView<'_> {
    async fn open(&mut self, identifier: String) -> KvResult<Resource<Bucket>> {
        if identifier.len() > MAX_BUCKET_NAME {
            return Ok(Err(store::Error::Other(format!(
                "a bucket name of {} bytes is longer than {MAX_BUCKET_NAME}",
                identifier.len()
            ))));
        }
        // Held against the actor's memory limit while the bucket is open.
        let held = Bucket::held(&identifier);
        if let Err(refused) = self.allowance.hold(held) {
            return Ok(Err(store::Error::Other(refused.to_string())));
        }
        match self.table.push(Bucket {
            name: identifier,
            resolved: None,
        }) {
            Ok(bucket) => Ok(Ok(bucket)),
            Err(error) => {
                self.allowance.release(held);
                Err(error.into())
            }
        }
    }
}

impl store::HostBucket for ContractView<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<Option<Vec<u8>>> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend.get(&name, &key).await.map_err(wit_error))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> KvResult<()> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend.set(&name, &key, value).await.map_err(wit_error))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<()> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend.delete(&name, &key).await.map_err(wit_error))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> KvResult<bool> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend.exists(&name, &key).await.map_err(wit_error))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> KvResult<store::KeyResponse> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend
            .list_keys(&name, cursor)
            .await
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor })
            .map_err(wit_error))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        let bucket = self.table.delete(bucket)?;
        self.allowance.release(Bucket::held(&bucket.name));
        Ok(())
    }
}

impl atomics::Host for ContractView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> KvResult<u64> {
        let (name, backend) = resolve!(self, bucket);
        Ok(backend
            .increment(&name, &key, delta)
            .await
            .map_err(wit_error))
    }
}

impl batch::Host for ContractView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> KvResult<Vec<Option<(String, Vec<u8>)>>> {
        let (name, backend) = resolve!(self, bucket);
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            match backend.get(&name, &key).await {
                Ok(value) => values.push(value.map(|v| (key, v))),
                Err(e) => return Ok(Err(wit_error(e))),
            }
        }
        Ok(Ok(values))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> KvResult<()> {
        let (name, backend) = resolve!(self, bucket);
        for (key, value) in key_values {
            if let Err(e) = backend.set(&name, &key, value).await {
                return Ok(Err(wit_error(e)));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> KvResult<()> {
        let (name, backend) = resolve!(self, bucket);
        for key in keys {
            if let Err(e) = backend.delete(&name, &key).await {
                return Ok(Err(wit_error(e)));
            }
        }
        Ok(Ok(()))
    }
}

/// Adds `wasi:keyvalue` to `linker`, served through each store's
/// [`ContractView`].
pub(crate) fn add_to_linker<T: lattice_contract::ContractHost>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    store::add_to_linker::<T, WasiKeyValue>(linker, T::contract_view)?;
    atomics::add_to_linker::<T, WasiKeyValue>(linker, T::contract_view)?;
    batch::add_to_linker::<T, WasiKeyValue>(linker, T::contract_view)?;
    Ok(())
}

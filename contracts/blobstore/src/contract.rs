//! The contract the host registers: `wasi:blobstore`, linked by
//! `wasi:blobstore/blobstore`, served in-process through the provider's
//! [`BlobStore`] and across processes through [`crate::wire`].

use std::sync::Arc;

use lattice_contract::{Contract, ContractClient, ContractHost, RemoteInvoke};
use lattice_interfaces::{Interface, Link};
use wasmtime::component::Linker;

use crate::remote::RemoteBlobStore;
use crate::{BlobStore, BLOBSTORE};

/// The `wasi:blobstore` contract.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlobstoreContract;

impl<T: ContractHost> Contract<T> for BlobstoreContract {
    fn package(&self) -> &'static str {
        "wasi:blobstore"
    }

    fn serves(&self) -> &'static [&'static str] {
        &[
            "wasi:blobstore/types@0.2.0-draft",
            "wasi:blobstore/container@0.2.0-draft",
            "wasi:blobstore/blobstore@0.2.0-draft",
        ]
    }

    fn linked_by(&self) -> Option<Interface<'static>> {
        Some(BLOBSTORE)
    }

    fn add_to_linker(&self, linker: &mut Linker<T>) -> wasmtime::Result<()> {
        crate::bindings::add_to_linker(linker)
    }

    fn remote(&self, remote: Arc<dyn RemoteInvoke>, link: Link) -> Option<ContractClient> {
        let store: Arc<dyn BlobStore> = Arc::new(RemoteBlobStore { remote, link });
        Some(ContractClient::new(store))
    }
}

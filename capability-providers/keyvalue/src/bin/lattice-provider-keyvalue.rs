//! `lattice-provider-keyvalue`: the key-value provider as its own process on
//! the lattice. A host starts it and writes its host data on stdin; see
//! `lattice-provider-sdk`.

use std::process::ExitCode;
use std::sync::Arc;

use lattice_interfaces::keyvalue::wire::{KvOp, KvReply};
use lattice_interfaces::{InvocationError, Link};
use lattice_provider_keyvalue::KeyValueProvider;
use lattice_provider_sdk::{HandlerFuture, LatticeCalls, ProviderHandler};

struct KeyValueProcess {
    provider: KeyValueProvider,
    lattice: Arc<LatticeCalls>,
}

impl ProviderHandler for KeyValueProcess {
    fn put_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        self.provider.put_link(link);
        Box::pin(async {})
    }

    fn delete_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        self.provider.forget_link(&link.key());
        Box::pin(async {})
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> HandlerFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let op: KvOp = lattice_provider_sdk::decode(&payload, "key-value")?;
            let reply = match self.provider.serve(&link, op).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.lattice.provider_error(&link, &e.to_string());
                    KvReply::Error(e.to_string())
                }
            };
            lattice_provider_sdk::encode(&reply)
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider_sdk::main_with(|_, lattice| {
        Arc::new(KeyValueProcess {
            provider: KeyValueProvider::new(),
            lattice,
        })
    })
    .await
}

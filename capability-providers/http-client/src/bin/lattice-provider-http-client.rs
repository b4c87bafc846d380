//! `lattice-provider-http-client`: outgoing HTTP as its own process on the
//! lattice. Actors reach it over `wasi:http/outgoing-handler` links; each
//! link's config sets its timeouts. A host starts it and writes its host
//! data on stdin; see `lattice-provider-sdk`.

use std::process::ExitCode;
use std::sync::Arc;

use lattice_interfaces::http_client::{OutgoingRequest, Timeouts};
use lattice_interfaces::{InvocationError, Link};
use lattice_provider_sdk::{HandlerFuture, ProviderHandler};

struct HttpClientProcess;

impl ProviderHandler for HttpClientProcess {
    fn put_link(&self, _link: Link) -> HandlerFuture<'_, ()> {
        Box::pin(async {})
    }

    fn delete_link(&self, _link: Link) -> HandlerFuture<'_, ()> {
        Box::pin(async {})
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> HandlerFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let request: OutgoingRequest = lattice_provider_sdk::decode(&payload, "outgoing HTTP")?;
            let reply = lattice_provider_http_client::send(request, Timeouts::of(&link)).await;
            lattice_provider_sdk::encode(&reply)
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider_sdk::main_with(|_, _| Arc::new(HttpClientProcess)).await
}

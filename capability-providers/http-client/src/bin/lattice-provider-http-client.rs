//! `lattice-provider-http-client`: outgoing HTTP as its own process on the
//! lattice. Actors reach it over `wasi:http/outgoing-handler` links; each
//! link's config sets its timeouts. A host starts it and writes its host
//! data on stdin; see `lattice-provider-sdk`.

use std::process::ExitCode;
use std::sync::Arc;

use lattice_interfaces::http_client::{OutgoingRequest, Timeouts};
use lattice_interfaces::{ErrorKind, InvocationError, Link};
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
            let request: OutgoingRequest = rmp_serde::from_slice(&payload).map_err(|e| {
                InvocationError::new(
                    ErrorKind::BadRequest,
                    format!("malformed outgoing request: {e}"),
                )
            })?;
            let reply = lattice_provider_http_client::send(request, Timeouts::of(&link)).await;
            rmp_serde::to_vec_named(&reply)
                .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()))
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider_sdk::main_with(|_, _| Arc::new(HttpClientProcess)).await
}

//! `lattice-provider-http-server`: the HTTP server provider as its own
//! process on the lattice. It listens where its links say and hands each
//! request to the link's actor, on whichever host runs it, as an invocation
//! signed with the key in its host data. A host starts it and writes its
//! host data on stdin; see `lattice-provider-sdk`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::http::wire::{decode_response, encode_request, INCOMING_HANDLER};
use lattice_interfaces::http::{HandleFuture, HttpBody, IncomingHttp};
use lattice_interfaces::{ErrorKind, InvocationError, Link};
use lattice_provider_http_server::HttpServerProvider;
use lattice_provider_sdk::{HandlerFuture, LatticeCalls, ProviderHandler};

/// How long a client may take to send a request body.
const READ_BODY: Duration = Duration::from_secs(30);

/// How long requests in flight may finish when the process stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Hands requests to actors over the lattice.
struct ToActors(Arc<LatticeCalls>);

impl IncomingHttp for ToActors {
    fn handle(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture {
        let (lattice, link) = (self.0.clone(), link.clone());
        Box::pin(async move {
            // The body is read whole before it crosses: a client gets
            // READ_BODY to send it, not forever.
            let payload = tokio::time::timeout(READ_BODY, encode_request(request))
                .await
                .map_err(|_| {
                    InvocationError::new(
                        ErrorKind::Timeout,
                        format!("the request body did not arrive within {READ_BODY:?}"),
                    )
                })??;
            let answer = lattice
                .invoke(&link, INCOMING_HANDLER, "handle", payload)
                .await?;
            decode_response(&answer)
        })
    }
}

struct HttpServerProcess {
    id: String,
    server: HttpServerProvider,
    lattice: Arc<LatticeCalls>,
}

impl ProviderHandler for HttpServerProcess {
    fn put_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        if link.source.as_str() == self.id && link.carries("wasi", "http", "incoming-handler") {
            match self.server.put_link(link.clone()) {
                Ok(endpoint) => {
                    tracing::info!(url = %endpoint.url(), target = %link.target, "serving")
                }
                Err(error) => self.lattice.provider_error(&link, &error.to_string()),
            }
        }
        Box::pin(async {})
    }

    fn delete_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        self.server.delete_link(&link);
        Box::pin(async {})
    }

    fn invoke(
        &self,
        _link: Link,
        function: String,
        _payload: Vec<u8>,
    ) -> HandlerFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            Err(InvocationError::new(
                ErrorKind::NotFound,
                format!(
                    "the HTTP server provider has no function {function}: it only calls actors"
                ),
            ))
        })
    }

    fn shutdown(&self) -> HandlerFuture<'_, ()> {
        Box::pin(self.server.shutdown(DRAIN))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider_sdk::main_with(|data, lattice| {
        Arc::new(HttpServerProcess {
            id: data.provider_id.clone(),
            server: HttpServerProvider::with_config(
                Arc::new(ToActors(lattice.clone())),
                &data.config,
            ),
            lattice,
        })
    })
    .await
}

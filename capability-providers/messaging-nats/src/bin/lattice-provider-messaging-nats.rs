//! `lattice-provider-messaging-nats`: the messaging provider as its own
//! process on the lattice. Actors publish and make requests through it over
//! consumer links; messages on a handler link's subscriptions are handed to
//! its actor as invocations signed with the key in the host data. A host
//! starts it and writes its host data on stdin; see `lattice-provider-sdk`.

use std::process::ExitCode;
use std::sync::Arc;

use lattice_interfaces::messaging::wire::{self, MessagingOp, MessagingReply};
use lattice_interfaces::messaging::{Message, MessageHandler, MessagingFuture};
use lattice_interfaces::protocol::provider::Health;
use lattice_interfaces::protocol::rpc::WireVal;
use lattice_interfaces::{InvocationError, Link};
use lattice_provider_messaging_nats::MessagingProvider;
use lattice_provider_sdk::{HandlerFuture, LatticeCalls, ProviderHandler};

/// Hands messages to actors over the lattice.
struct ToActors(Arc<LatticeCalls>);

impl MessageHandler for ToActors {
    fn deliver(&self, link: Link, message: Message) -> MessagingFuture<'static, ()> {
        let calls = self.0.clone();
        Box::pin(async move {
            let arguments = rmp_serde::to_vec_named(&wire::handler_arguments(message))
                .map_err(|e| e.to_string())?;
            let answer = calls
                .invoke(
                    &link,
                    wire::HANDLER_INTERFACE,
                    wire::HANDLE_MESSAGE,
                    arguments,
                )
                .await
                .map_err(|e| e.message)?;
            let results: Vec<WireVal> = rmp_serde::from_slice(&answer)
                .map_err(|e| format!("malformed answer from {}: {e}", link.target))?;
            wire::handler_outcome(&results)
        })
    }
}

struct MessagingProcess {
    id: String,
    provider: Arc<MessagingProvider>,
    lattice: Arc<LatticeCalls>,
}

impl ProviderHandler for MessagingProcess {
    fn put_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        Box::pin(async move {
            let handler = link.source.as_str() == self.id
                && link.carries("wasmcloud", "messaging", "handler");
            if handler {
                let (lattice, failed) = (self.lattice.clone(), link.clone());
                let served = self
                    .provider
                    .serve_handler_link(link, move |error| lattice.provider_error(&failed, &error));
                if let Err(error) = served {
                    tracing::warn!(%error, "cannot serve a handler link");
                }
            }
        })
    }

    fn health(&self) -> HandlerFuture<'_, Health> {
        let health = match self.provider.health() {
            Ok(()) => Health {
                healthy: true,
                message: String::new(),
            },
            Err(message) => Health {
                healthy: false,
                message,
            },
        };
        Box::pin(async move { health })
    }

    fn delete_link(&self, link: Link) -> HandlerFuture<'_, ()> {
        self.provider.delete_handler_link(&link.key());
        Box::pin(async {})
    }

    fn invoke(
        &self,
        link: Link,
        _function: String,
        payload: Vec<u8>,
    ) -> HandlerFuture<'_, Result<Vec<u8>, InvocationError>> {
        Box::pin(async move {
            let op: MessagingOp = lattice_provider_sdk::decode(&payload, "messaging")?;
            let reply = match self.provider.serve(&link, op).await {
                Ok(reply) => reply,
                Err(e) => {
                    self.lattice.provider_error(&link, &e);
                    MessagingReply::Error(e)
                }
            };
            lattice_provider_sdk::encode(&reply)
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    lattice_provider_sdk::main_with(|data, lattice| {
        Arc::new(MessagingProcess {
            id: data.provider_id.clone(),
            provider: Arc::new(MessagingProvider::new(
                data.config.get("url").cloned(),
                Arc::new(ToActors(lattice.clone())),
            )),
            lattice,
        })
    })
    .await
}

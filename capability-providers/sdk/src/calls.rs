//! What a provider process says to the lattice: signed invocations to the
//! actors its links name (an HTTP request, a message for a handler),
//! checked by the receiving host like any other, and events.

use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::capability::ProviderCalls;
use lattice_interfaces::http::wire::{decode_response, INCOMING_HANDLER};
use lattice_interfaces::http::{HandleFuture, HttpBody};
use lattice_interfaces::messaging::wire::{
    handler_arguments, handler_outcome, HANDLER_INTERFACE, HANDLE_MESSAGE,
};
use lattice_interfaces::messaging::{Message, MessagingError, MessagingFuture};
use lattice_interfaces::protocol::events::{LatticeEvent, ProviderLinkError};
use lattice_interfaces::protocol::rpc::value;
use lattice_interfaces::{ErrorKind, InvocationError, Link};
use lattice_rpc::{Call, Caller, EventPublisher};

/// How long a call may take when the provider does not say.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The lattice as a provider process reaches it: over NATS, signed with
/// the provider's own key and its host's grant. Cheap to clone.
#[derive(Clone)]
pub(crate) struct NatsProviderCalls {
    pub(crate) provider_id: String,
    pub(crate) host_id: lattice_interfaces::HostId,
    /// `None` when the host data carries no invocation key: the provider
    /// then makes no calls.
    pub(crate) caller: Option<Arc<Caller>>,
    pub(crate) events: EventPublisher,
    /// What calls crossing the lattice may hold in memory at once.
    pub(crate) budget: lattice_rpc::budget::PayloadBudget,
}

impl NatsProviderCalls {
    /// Calls `interface`.`function` on `link`'s target, which must start at
    /// this provider.
    async fn invoke(
        &self,
        link: &Link,
        interface: &str,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let caller = self.caller.as_ref().ok_or_else(|| {
            InvocationError::new(
                ErrorKind::Unauthorized,
                "this provider has no invocation key: its host data has no invocation_seed",
            )
        })?;
        if link.source.as_str() != self.provider_id {
            return Err(InvocationError::new(
                ErrorKind::Unauthorized,
                format!(
                    "link {link} does not start at provider {}",
                    self.provider_id
                ),
            ));
        }
        caller
            .invoke(Call {
                link,
                interface,
                function,
                payload,
            })
            .await
    }
}

impl ProviderCalls for NatsProviderCalls {
    fn handle_http(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture {
        let (calls, link) = (self.clone(), link.clone());
        Box::pin(async move {
            // The body is read whole before it crosses (within the
            // budget's READ_BODY), and it and its encoding hold room in the
            // budget until the answer is back.
            let (payload, held) = calls
                .budget
                .encode_request(request, link.target.as_str())
                .await?;
            let answer = calls
                .invoke(&link, INCOMING_HANDLER, "handle", payload)
                .await?;
            drop(held);
            decode_response(&answer)
        })
    }

    fn deliver_message(&self, link: &Link, message: Message) -> MessagingFuture<'static, ()> {
        let (calls, link) = (self.clone(), link.clone());
        Box::pin(async move {
            let arguments =
                value::encode(&handler_arguments(message)).map_err(MessagingError::Failed)?;
            let answer = calls
                .invoke(&link, HANDLER_INTERFACE, HANDLE_MESSAGE, arguments)
                .await
                .map_err(|e| MessagingError::Failed(e.message))?;
            let results = value::decode(&answer).map_err(|e| {
                MessagingError::Failed(format!("malformed answer from {}: {e}", link.target))
            })?;
            handler_outcome(&results).map_err(MessagingError::Failed)
        })
    }

    fn report_error(&self, link: &Link, error: &str) {
        let events = self.events.clone();
        let event = LatticeEvent::ProviderError(ProviderLinkError {
            provider_id: self.provider_id.clone(),
            host_id: Some(self.host_id.clone()),
            source: link.source.clone(),
            target: link.target.clone(),
            link_name: link.name.clone(),
            error: error.to_string(),
        });
        tokio::spawn(async move { events.publish(event).await });
    }
}

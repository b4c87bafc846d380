//! Calls that arrive from other hosts and provider processes, already
//! verified by the RPC layer: served by an actor here, or by a provider in
//! this host's process exactly as a provider process would serve them.

use lattice_interfaces::http::wire::{decode_request, encode_response};
use lattice_interfaces::messaging::wire::{handler_message, handler_results, HANDLE_MESSAGE};
use lattice_interfaces::protocol::rpc::Invocation;
use lattice_interfaces::{shown, standard, ComponentId, ErrorKind, Interface, InvocationError};

use tracing::Instrument as _;

use super::Host;
use crate::router::{errors, Local, Route};
use crate::runtime::{decode_values_within, decode_wire, encode_values};

impl Host {
    /// Whether `target` (an actor, or a provider in this process) runs
    /// here now.
    pub(crate) fn runs_here(&self, target: &ComponentId) -> bool {
        self.inner.runs(target)
    }

    /// Serves `invocation` (verified: signed by a trusted key, in time,
    /// new) for `target` on this host with its whole `payload`.
    ///
    /// # Errors
    ///
    /// `unauthorized` for a call no link held here allows, `not_found` when
    /// the target no longer runs here, or the target's own failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    #[tracing::instrument(level = "debug", skip_all, fields(%target, id = %invocation.id, source = %invocation.source, interface = %invocation.interface, function = %invocation.function))]
    pub(crate) async fn serve_invocation(
        &self,
        target: &ComponentId,
        invocation: Invocation,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let router = &self.inner.router;
        let authorize = || {
            router.authorize(
                &invocation.source,
                &invocation.interface,
                &invocation.link_name,
                target,
            )
        };
        match self.inner.local(target) {
            Some(Local::Actor(actor)) => {
                // A provider process acts only over its own links: its grant
                // already bound the source, the link table binds the target.
                if invocation.grant.is_some() {
                    authorize()?;
                }
                if invocation.interface == standard::MESSAGING_HANDLER.to_string()
                    && invocation.function == HANDLE_MESSAGE
                {
                    // Bytes stay bytes: no value per byte on this path.
                    let message = handler_message(decode_wire(&payload)?)
                        .map_err(|reason| InvocationError::new(ErrorKind::BadRequest, reason))?;
                    let outcome = actor.handle_message(message).await?;
                    return rmp_serde::to_vec_named(&handler_results(outcome))
                        .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()));
                }
                if invocation.interface != standard::HTTP_INCOMING_HANDLER.to_string() {
                    // Held until the call ends: its arguments live as long.
                    let (params, _held) = decode_values_within(
                        &payload,
                        &self.inner.payload_budget,
                        &format!(
                            "arguments of {}.{}",
                            invocation.interface, invocation.function
                        ),
                    )?;
                    drop(payload);
                    let results = actor
                        .call_function(&invocation.interface, &invocation.function, params)
                        .await?;
                    return encode_values(&results);
                }
                if invocation.function != "handle" {
                    return Err(InvocationError::new(
                        ErrorKind::NotFound,
                        format!(
                            "{} has no function {}",
                            standard::HTTP_INCOMING_HANDLER,
                            shown(&invocation.function)
                        ),
                    ));
                }
                let request = decode_request(&payload)?;
                let response = actor.handle_http(request).await?;
                encode_response(response).await
            }
            Some(Local::Provider(capability)) => {
                // Deny by default: the caller's link must name this provider
                // and the provider must serve the interface.
                let link = authorize()?;
                let served = Interface::parse(&invocation.interface)
                    .is_some_and(|interface| capability.serves(interface));
                if !served {
                    return Err(errors::not_linked_to(
                        &invocation.source,
                        &invocation.interface,
                        target,
                    ));
                }
                router.stats().count(target, Route::Local);
                let span = lattice_rpc::trace_span!(
                    "provider.call",
                    provider = %target,
                    interface = %invocation.interface,
                    function = %invocation.function
                );
                capability
                    .invoke(link, invocation.function, payload)
                    .instrument(span)
                    .await
            }
            None => Err(InvocationError::new(
                ErrorKind::NotFound,
                format!("\"{target}\" no longer runs on host {}", self.id()),
            )),
        }
    }
}

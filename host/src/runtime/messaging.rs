//! `wasmcloud:messaging/consumer` for actors, served by the messaging
//! provider their link names.

use lattice_interfaces::messaging::Message;
use lattice_interfaces::ComponentId;
use wasmtime::component::HasData;

use super::calls::ActorCalls;

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../interfaces/wit/messaging",
        world: "wasmcloud:messaging/imports",
        imports: { default: async | trappable },
        require_store_data_send: true,
    });
}

use generated::wasmcloud::messaging::{consumer, types};

/// The borrowed view the bindings work on.
pub struct MessagingView<'a> {
    pub(crate) actor: &'a ComponentId,
    pub(crate) calls: Option<&'a std::sync::Arc<dyn ActorCalls>>,
    /// The link names the instance chose.
    pub(crate) link_names: &'a super::calls::LinkNames,
}

/// [`HasData`] for the messaging bindings.
pub struct WasmcloudMessaging;

impl HasData for WasmcloudMessaging {
    type Data<'a> = MessagingView<'a>;
}

impl types::Host for MessagingView<'_> {}

impl MessagingView<'_> {
    async fn client(
        &self,
    ) -> Result<std::sync::Arc<dyn lattice_interfaces::messaging::MessagingClient>, String> {
        let Some(calls) = self.calls else {
            return Err("this host serves no messaging provider".into());
        };
        let link_name = self.link_names.of("wasmcloud", "messaging");
        calls
            .messaging(self.actor, &link_name)
            .await
            .map_err(|e| e.message)
    }
}

impl consumer::Host for MessagingView<'_> {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<types::BrokerMessage, String>> {
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => return Ok(Err(e)),
        };
        Ok(client
            .request(subject, body, timeout_ms)
            .await
            .map(|m| types::BrokerMessage {
                subject: m.subject,
                body: m.body,
                reply_to: m.reply_to,
            })
            .map_err(|e| e.to_string()))
    }

    async fn publish(&mut self, msg: types::BrokerMessage) -> wasmtime::Result<Result<(), String>> {
        let client = match self.client().await {
            Ok(client) => client,
            Err(e) => return Ok(Err(e)),
        };
        Ok(client
            .publish(Message {
                subject: msg.subject,
                body: msg.body,
                reply_to: msg.reply_to,
            })
            .await
            .map_err(|e| e.to_string()))
    }
}

/// Adds `wasmcloud:messaging/consumer` to `linker`, served through `view`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> MessagingView<'_>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, WasmcloudMessaging>(linker, view)?;
    consumer::add_to_linker::<T, WasmcloudMessaging>(linker, view)?;
    Ok(())
}

//! The bindings of `wasmcloud:messaging/consumer`, on a [`ContractView`]:
//! each call takes the client of the provider the actor's link names.

use std::sync::Arc;

use lattice_contract::ContractView;
use lattice_interfaces::messaging::{Message, MessagingClient};
use lattice_interfaces::standard;
use wasmtime::component::HasData;

mod generated {
    #![allow(missing_docs)]
    wasmtime::component::bindgen!({
        path: "../../interfaces/wit/messaging",
        world: "wasmcloud:messaging/imports",
        imports: { default: async | trappable },
        require_store_data_send: true,
    });
}

use generated::wasmcloud::messaging::{consumer, types};

/// [`HasData`] for the messaging bindings.
pub struct WasmcloudMessaging;

impl HasData for WasmcloudMessaging {
    type Data<'a> = ContractView<'a>;
}

impl types::Host for ContractView<'_> {}

/// The client behind the actor's link, or why there is none; the future
/// borrows nothing of the store.
fn client(
    view: &ContractView<'_>,
) -> impl std::future::Future<Output = Result<Arc<dyn MessagingClient>, String>> + Send + 'static {
    let made = view.client::<Arc<dyn MessagingClient>>(standard::MESSAGING_CONSUMER);
    async move { made.await.map_err(|e| e.message) }
}

impl consumer::Host for ContractView<'_> {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<types::BrokerMessage, String>> {
        let client = match client(self).await {
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
        let client = match client(self).await {
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

/// Adds `wasmcloud:messaging/consumer` to `linker`, served through each
/// store's [`ContractView`].
pub(crate) fn add_to_linker<T: lattice_contract::ContractHost>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, WasmcloudMessaging>(linker, T::contract_view)?;
    consumer::add_to_linker::<T, WasmcloudMessaging>(linker, T::contract_view)?;
    Ok(())
}

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

/// Where other NATS clients wait for their replies.
const INBOXES: &str = "_INBOX.";

/// `Ok` when an actor handed `handed_reply` may send `what` to `subject`.
/// `_INBOX.…` subjects are other clients' replies: an actor answers on the
/// reply subject of the message it is handling and nowhere else, so it
/// cannot answer requests that were never made to it, nor point someone
/// else's answer at them (issue 29, finding 9). Every other subject is
/// the provider's to judge (its subject policy).
fn check_inbox(subject: &str, handed_reply: Option<&str>, what: &str) -> Result<(), String> {
    if !subject.starts_with(INBOXES) || (what == "publish" && handed_reply == Some(subject)) {
        return Ok(());
    }
    Err(format!(
        "subject {} refused for {what}: {INBOXES}> holds other clients' replies; an actor answers only the message it is handling",
        lattice_interfaces::shown(subject)
    ))
}

impl consumer::Host for ContractView<'_> {
    async fn request(
        &mut self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> wasmtime::Result<Result<types::BrokerMessage, String>> {
        if let Err(refused) = check_inbox(&subject, self.handed_reply, "a request") {
            return Ok(Err(refused));
        }
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
        let refused = check_inbox(&msg.subject, self.handed_reply, "publish").and_then(|()| {
            msg.reply_to
                .as_deref()
                .map_or(Ok(()), |reply_to| check_inbox(reply_to, None, "a reply-to"))
        });
        if let Err(refused) = refused {
            return Ok(Err(refused));
        }
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

#[cfg(test)]
mod tests {
    use super::check_inbox;

    #[test]
    fn an_actor_answers_only_the_reply_it_was_handed() {
        let handed = Some("_INBOX.abc.1");
        assert!(check_inbox("_INBOX.abc.1", handed, "publish").is_ok());
        assert!(check_inbox("orders.new", None, "publish").is_ok());
        for (subject, handed, what) in [
            ("_INBOX.abc.2", handed, "publish"),
            ("_INBOX.abc.1", None, "publish"),
            ("_INBOX.abc.1", handed, "a request"),
            ("_INBOX.abc.1", handed, "a reply-to"),
        ] {
            let error = check_inbox(subject, handed, what).expect_err(subject);
            assert!(error.contains("other clients' replies"), "{error}");
        }
    }
}

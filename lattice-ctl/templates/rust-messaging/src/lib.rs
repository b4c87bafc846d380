//! {{name}}: answers every message that carries a reply subject with its
//! body, prefixed with `{{name}}: `.

wit_bindgen::generate!({
    world: "messaging-handler",
    path: "wit/messaging",
});

use exports::wasmcloud::messaging::handler::Guest;
use wasmcloud::messaging::consumer;
use wasmcloud::messaging::types::BrokerMessage;

struct Handler;

impl Guest for Handler {
    fn handle_message(message: BrokerMessage) -> Result<(), String> {
        let Some(reply_to) = message.reply_to else {
            return Ok(());
        };
        let mut body = b"{{name}}: ".to_vec();
        body.extend_from_slice(&message.body);
        consumer::publish(&BrokerMessage {
            subject: reply_to,
            body,
            reply_to: None,
        })
    }
}

export!(Handler);

//! The echo-messaging actor: every message that arrives with a reply
//! subject is answered with its own body, prefixed with `echo: `.

wit_bindgen::generate!({
    world: "messaging-handler",
    path: "../../interfaces/wit/messaging",
});

use exports::wasmcloud::messaging::handler::Guest;
use wasmcloud::messaging::consumer;
use wasmcloud::messaging::types::BrokerMessage;

struct Echo;

impl Guest for Echo {
    fn handle_message(msg: BrokerMessage) -> Result<(), String> {
        let Some(reply_to) = msg.reply_to else {
            return Ok(());
        };
        let mut body = b"echo: ".to_vec();
        body.extend_from_slice(&msg.body);
        consumer::publish(&BrokerMessage {
            subject: reply_to,
            body,
            reply_to: None,
        })
    }
}

export!(Echo);

//! A messaging provider that is not in this process, as a
//! [`MessagingClient`].

use std::sync::Arc;

use lattice_interfaces::messaging::wire::{MessagingOp, MessagingReply, CONSUMER_INTERFACE};
use lattice_interfaces::messaging::{Message, MessagingClient, MessagingFuture};
use lattice_interfaces::Link;

use crate::routing::RemoteCalls;

/// Consumer calls over `link`, sent through the lattice.
pub(crate) struct RemoteMessaging {
    pub(crate) remote: Arc<dyn RemoteCalls>,
    pub(crate) link: Link,
}

impl RemoteMessaging {
    async fn call(&self, function: &str, op: MessagingOp) -> Result<MessagingReply, String> {
        let payload = rmp_serde::to_vec_named(&op).map_err(|e| e.to_string())?;
        let answer = self
            .remote
            .call_raw(
                self.link.clone(),
                CONSUMER_INTERFACE.to_string(),
                function.to_string(),
                payload,
            )
            .await
            .map_err(|e| e.message)?;
        match rmp_serde::from_slice(&answer) {
            Ok(MessagingReply::Error(reason)) => Err(reason),
            Ok(reply) => Ok(reply),
            Err(e) => Err(format!("malformed answer from {}: {e}", self.link.target)),
        }
    }
}

impl MessagingClient for RemoteMessaging {
    fn publish(&self, message: Message) -> MessagingFuture<'_, ()> {
        Box::pin(async move {
            let op = MessagingOp::Publish {
                subject: message.subject,
                body: message.body,
                reply_to: message.reply_to,
            };
            match self.call("publish", op).await? {
                MessagingReply::Done => Ok(()),
                other => Err(format!("unexpected answer {other:?}")),
            }
        })
    }

    fn request(
        &self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> MessagingFuture<'_, Message> {
        Box::pin(async move {
            let op = MessagingOp::Request {
                subject,
                body,
                timeout_ms,
            };
            match self.call("request", op).await? {
                MessagingReply::Reply {
                    subject,
                    body,
                    reply_to,
                } => Ok(Message {
                    subject,
                    body,
                    reply_to,
                }),
                other => Err(format!("unexpected answer {other:?}")),
            }
        })
    }
}

//! A messaging provider that is not in this process, as a
//! [`MessagingClient`].

use std::sync::Arc;

use lattice_interfaces::messaging::wire::{MessagingOp, MessagingReply, CONSUMER_INTERFACE};
use lattice_interfaces::messaging::{Message, MessagingClient, MessagingError, MessagingFuture};
use lattice_interfaces::Link;

use lattice_contract::RemoteInvoke;

/// Consumer calls over `link`, sent through the lattice.
pub(crate) struct RemoteMessaging {
    pub(crate) remote: Arc<dyn RemoteInvoke>,
    pub(crate) link: Link,
}

impl RemoteMessaging {
    async fn call(
        &self,
        function: &str,
        op: MessagingOp,
    ) -> Result<MessagingReply, MessagingError> {
        let failed = |e: lattice_interfaces::InvocationError| MessagingError::Failed(e.message);
        let payload = lattice_interfaces::wire::encode(&op).map_err(failed)?;
        let answer = self
            .remote
            .call_raw(
                self.link.clone(),
                CONSUMER_INTERFACE.to_string(),
                function.to_string(),
                payload,
            )
            .await
            .map_err(failed)?;
        match rmp_serde::from_slice(&answer) {
            Ok(MessagingReply::Error(reason)) => Err(MessagingError::Failed(reason)),
            Ok(reply) => Ok(reply),
            Err(e) => Err(MessagingError::Failed(format!(
                "malformed answer from {}: {e}",
                self.link.target
            ))),
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
                other => Err(unexpected(&other)),
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
                other => Err(unexpected(&other)),
            }
        })
    }
}

fn unexpected(reply: &MessagingReply) -> MessagingError {
    MessagingError::Failed(format!("unexpected answer {reply:?}"))
}

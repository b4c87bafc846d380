//! The in-process API of `wasmcloud:messaging/{consumer,handler}`: what a
//! messaging provider offers actors, and how it hands them messages.

use std::future::Future;
use std::pin::Pin;

use crate::Link;

/// A message on a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The subject.
    pub subject: String,
    /// The body.
    pub body: Vec<u8>,
    /// Where a reply goes, if anywhere.
    pub reply_to: Option<String>,
}

/// Why a messaging operation failed. Its text is what the actor sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessagingError {
    /// The link's NATS server cannot be reached: the provider reports it
    /// to the lattice as well as to the actor.
    #[error("cannot reach NATS at {url}: {reason}")]
    Unreachable {
        /// The server, credentials hidden.
        url: String,
        /// Why.
        reason: String,
    },
    /// No reply came in time.
    #[error("no reply on {subject} within {timeout_ms} ms")]
    Timeout {
        /// The request's subject.
        subject: String,
        /// How long it waited.
        timeout_ms: u64,
    },
    /// Anything else, in one line.
    #[error("{0}")]
    Failed(String),
}

/// The future of a messaging operation.
pub type MessagingFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, MessagingError>> + Send + 'a>>;

/// What an actor linked to a messaging provider may do.
pub trait MessagingClient: Send + Sync + 'static {
    /// Publishes `message`.
    fn publish(&self, message: Message) -> MessagingFuture<'_, ()>;
    /// Sends a request and waits up to `timeout_ms` for the reply.
    fn request(
        &self,
        subject: String,
        body: Vec<u8>,
        timeout_ms: u32,
    ) -> MessagingFuture<'_, Message>;
}

/// Where a messaging provider delivers the messages of a handler link.
pub trait MessageHandler: Send + Sync + 'static {
    /// Hands `message`, which arrived on one of `link`'s subscriptions, to
    /// the link's target.
    fn deliver(&self, link: Link, message: Message) -> MessagingFuture<'static, ()>;
}

/// `wasmcloud:messaging` as it crosses the lattice: what a host sends a
/// messaging provider it does not run (MessagePack, named fields), and
/// the arguments a provider hands an actor's `handle-message`.
pub mod wire {
    use serde::{Deserialize, Serialize};

    use super::Message;
    use crate::protocol::rpc::WireVal;

    /// The interface consumer calls travel as.
    pub const CONSUMER_INTERFACE: &str = "wasmcloud:messaging/consumer";
    /// The interface handler deliveries travel as.
    pub const HANDLER_INTERFACE: &str = "wasmcloud:messaging/handler";
    /// The function handler deliveries call.
    pub const HANDLE_MESSAGE: &str = "handle-message";

    /// One consumer operation; fields are the WIT parameters.
    #[allow(missing_docs)]
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum MessagingOp {
        /// `publish`.
        Publish {
            subject: String,
            #[serde(with = "serde_bytes")]
            body: Vec<u8>,
            reply_to: Option<String>,
        },
        /// `request`.
        Request {
            subject: String,
            #[serde(with = "serde_bytes")]
            body: Vec<u8>,
            timeout_ms: u32,
        },
    }

    /// Its result.
    #[allow(missing_docs)]
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    pub enum MessagingReply {
        /// Published.
        Done,
        /// The reply to a request.
        Reply {
            subject: String,
            #[serde(with = "serde_bytes")]
            body: Vec<u8>,
            reply_to: Option<String>,
        },
        /// The operation failed, in one line for the actor.
        Error(String),
    }

    impl From<Message> for MessagingReply {
        fn from(message: Message) -> Self {
            Self::Reply {
                subject: message.subject,
                body: message.body,
                reply_to: message.reply_to,
            }
        }
    }

    /// The arguments of `handle-message(msg: broker-message)`.
    pub fn handler_arguments(message: Message) -> Vec<WireVal> {
        vec![WireVal::Record(vec![
            ("subject".into(), WireVal::String(message.subject)),
            ("body".into(), WireVal::Bytes(message.body)),
            (
                "reply-to".into(),
                WireVal::Option(message.reply_to.map(|r| Box::new(WireVal::String(r)))),
            ),
        ])]
    }

    /// The message in `handle-message`'s arguments, as
    /// [`handler_arguments`] writes them (the arguments arrive from another
    /// host: anything else is refused with the reason).
    ///
    /// # Errors
    ///
    /// The arguments are not one broker-message record.
    pub fn handler_message(arguments: Vec<WireVal>) -> Result<Message, String> {
        let [WireVal::Record(fields)] = <[WireVal; 1]>::try_from(arguments)
            .map_err(|a| format!("handle-message takes one argument, not {}", a.len()))?
        else {
            return Err("handle-message takes a broker-message record".into());
        };
        let mut message = Message {
            subject: String::new(),
            body: Vec::new(),
            reply_to: None,
        };
        let (mut subject, mut body) = (false, false);
        for (name, value) in fields {
            match (name.as_str(), value) {
                ("subject", WireVal::String(s)) => (message.subject, subject) = (s, true),
                ("body", WireVal::Bytes(b)) => (message.body, body) = (b, true),
                ("body", WireVal::List(items)) => {
                    message.body = items
                        .into_iter()
                        .map(|item| match item {
                            WireVal::U8(b) => Ok(b),
                            _ => Err("broker-message body holds something else than bytes"),
                        })
                        .collect::<Result<_, _>>()?;
                    body = true;
                }
                ("reply-to", WireVal::Option(reply)) => {
                    message.reply_to = match reply.map(|r| *r) {
                        None => None,
                        Some(WireVal::String(r)) => Some(r),
                        Some(_) => return Err("broker-message reply-to is not a string".into()),
                    }
                }
                (other, _) => {
                    return Err(format!(
                        "broker-message has no field {:?} of that type",
                        crate::shown(other)
                    ))
                }
            }
        }
        if !(subject && body) {
            return Err("broker-message needs a subject and a body".into());
        }
        Ok(message)
    }

    /// `handle-message`'s result as a call's results: `ok` or `err(reason)`.
    pub fn handler_results(outcome: Result<(), String>) -> Vec<WireVal> {
        vec![WireVal::Result(
            outcome
                .map(|()| None)
                .map_err(|reason| Some(Box::new(WireVal::String(reason)))),
        )]
    }

    /// What `handle-message` returned: `Ok` or its error string.
    pub fn handler_outcome(results: &[WireVal]) -> Result<(), String> {
        match results.first() {
            Some(WireVal::Result(Err(Some(reason)))) => match reason.as_ref() {
                WireVal::String(reason) => Err(reason.clone()),
                other => Err(format!("{other:?}")),
            },
            Some(WireVal::Result(Err(None))) => Err("the handler failed".into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build.
    use super::wire::*;
    use super::Message;
    use crate::protocol::rpc::WireVal;

    #[test]
    fn a_message_and_its_outcome_cross_the_wire_whole() {
        let message = Message {
            subject: "orders.new".into(),
            body: vec![0, 1, 2, 255],
            reply_to: Some("_INBOX.x".into()),
        };
        assert_eq!(
            handler_message(handler_arguments(message.clone())).unwrap(),
            message
        );
        assert_eq!(handler_outcome(&handler_results(Ok(()))), Ok(()));
        assert_eq!(
            handler_outcome(&handler_results(Err("no".into()))),
            Err("no".into())
        );
    }

    #[test]
    fn arguments_that_are_not_a_broker_message_are_refused() {
        let record = |fields: Vec<(&str, WireVal)>| {
            vec![WireVal::Record(
                fields
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v))
                    .collect(),
            )]
        };
        for arguments in [
            vec![],
            vec![WireVal::String("x".into())],
            record(vec![("subject", WireVal::String("s".into()))]),
            record(vec![
                ("subject", WireVal::U8(1)),
                ("body", WireVal::Bytes(vec![])),
            ]),
            record(vec![
                ("subject", WireVal::String("s".into())),
                (
                    "body",
                    WireVal::List(vec![WireVal::String("not a byte".into())]),
                ),
            ]),
            record(vec![
                ("subject", WireVal::String("s".into())),
                ("body", WireVal::Bytes(vec![])),
                ("extra", WireVal::Bool(true)),
            ]),
        ] {
            assert!(handler_message(arguments.clone()).is_err(), "{arguments:?}");
        }
    }
}

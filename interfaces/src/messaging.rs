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

/// The future of a messaging operation; errors are one line for the actor.
pub type MessagingFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

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

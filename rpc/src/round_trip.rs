//! Knowing the server has what a connection sent. `Client::flush` only
//! empties the connection's write buffer: a subscription flushed may still
//! be unknown to the server when another connection publishes, which then
//! gets "no responders". A round trip through the server settles it: the
//! server handles one connection's protocol in order, so once a message
//! this connection published comes back to it, every subscription it made
//! before is in place.

use std::time::Duration;

use futures::StreamExt as _;

/// Waits until the NATS server has handled everything `client` sent before
/// the call (subscriptions included), or `deadline` passes.
///
/// # Errors
///
/// The connection cannot subscribe or publish, or no echo came back in
/// time (the connection is down).
pub async fn server_caught_up(
    client: &async_nats::Client,
    deadline: Duration,
) -> Result<(), String> {
    let subject = client.new_inbox();
    let mut echo = client
        .subscribe(subject.clone())
        .await
        .map_err(|e| format!("cannot subscribe to {subject}: {e}"))?;
    client
        .publish(subject.clone(), bytes::Bytes::new())
        .await
        .map_err(|e| format!("cannot publish to {subject}: {e}"))?;
    client
        .flush()
        .await
        .map_err(|e| format!("cannot flush: {e}"))?;
    match tokio::time::timeout(deadline, echo.next()).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the connection closed before the server answered".into()),
        Err(_) => Err(format!("the server did not answer within {deadline:?}")),
    }
}

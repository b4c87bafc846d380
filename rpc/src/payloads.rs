//! Large payloads between lattice processes: a payload over
//! [`INLINE_LIMIT`] is not put in the envelope but offered on a private
//! inbox and pulled from it in [`CHUNK_SIZE`] chunks, so nothing is
//! truncated by NATS's message size. Hosts and provider processes share it.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use lattice_interfaces::protocol::rpc::{unix_ms, BodyRef, CHUNK_SIZE, INLINE_LIMIT};
use lattice_interfaces::protocol::subjects::is_reply_inbox;
use lattice_interfaces::{ErrorKind, InvocationError};

pub use lattice_interfaces::protocol::rpc::MAX_PAYLOAD_BYTES;

fn err(kind: ErrorKind, message: impl Into<String>) -> InvocationError {
    InvocationError::new(kind, message)
}

/// Makes `data` available for pulling in chunks until `deadline_ms`.
///
/// # Errors
///
/// When the inbox cannot be subscribed.
pub async fn offer(
    client: &async_nats::Client,
    data: Vec<u8>,
    deadline_ms: u64,
) -> Result<BodyRef, InvocationError> {
    let subject = client.new_inbox();
    let mut requests = client.subscribe(subject.clone()).await.map_err(|e| {
        err(
            ErrorKind::Failed,
            format!("cannot offer a large payload: {e}"),
        )
    })?;
    let chunks = u32::try_from(data.len().div_ceil(CHUNK_SIZE)).unwrap_or(u32::MAX);
    let body = BodyRef {
        subject,
        len: data.len() as u64,
        chunks,
    };
    let client = client.clone();
    let data = Bytes::from(data);
    tokio::spawn(async move {
        let mut served = 0u32;
        let wait = Duration::from_millis(deadline_ms.saturating_sub(unix_ms()));
        let until = tokio::time::Instant::now() + wait;
        while served < chunks {
            let Ok(Some(request)) = tokio::time::timeout_at(until, requests.next()).await else {
                break;
            };
            // Chunks go to the puller's inbox only, never where a request
            // says (a key of the state bucket, a control subject).
            let (Some(reply), Some(index)) = (
                request.reply.filter(|reply| is_reply_inbox(reply)),
                std::str::from_utf8(&request.payload)
                    .ok()
                    .and_then(|t| t.parse::<usize>().ok()),
            ) else {
                continue;
            };
            let start = index.saturating_mul(CHUNK_SIZE).min(data.len());
            let end = start.saturating_add(CHUNK_SIZE).min(data.len());
            let _ = client.publish(reply, data.slice(start..end)).await;
            served = served.saturating_add(1);
        }
    });
    Ok(body)
}

/// Refuses to pull from anything but a reply inbox (`_INBOX.…`, where
/// [`offer`] serves chunks, also under a provider's own inbox prefix): an
/// unsigned response could otherwise name a control subject, and the puller
/// would send requests there with its own credentials.
fn offered_subject(subject: &str) -> Result<(), InvocationError> {
    if is_reply_inbox(subject) {
        Ok(())
    } else {
        Err(err(
            ErrorKind::BadRequest,
            format!(
                "a large payload must be pulled from a reply inbox, not {}",
                lattice_interfaces::shown(subject)
            ),
        ))
    }
}

/// Pulls the payload `body` describes before `deadline_ms`, checking its
/// length and that it is offered from a reply inbox.
///
/// # Errors
///
/// A payload over the limit, the deadline passing, a chunk that cannot be
/// fetched, or a length that does not match.
pub async fn pull(
    client: &async_nats::Client,
    body: &BodyRef,
    deadline_ms: u64,
) -> Result<Vec<u8>, InvocationError> {
    offered_subject(&body.subject)?;
    if body.len > MAX_PAYLOAD_BYTES as u64 + INLINE_LIMIT as u64 {
        return Err(err(
            ErrorKind::BadRequest,
            format!("payload of {} bytes exceeds the limit", body.len),
        ));
    }
    if u64::from(body.chunks) != body.len.div_ceil(CHUNK_SIZE as u64) {
        return Err(err(
            ErrorKind::BadRequest,
            format!(
                "a payload of {} bytes comes in {} chunks, not {}",
                body.len,
                body.len.div_ceil(CHUNK_SIZE as u64),
                body.chunks
            ),
        ));
    }
    let mut data = Vec::with_capacity(usize::try_from(body.len).unwrap_or(0));
    for index in 0..body.chunks {
        let left = Duration::from_millis(deadline_ms.saturating_sub(unix_ms()));
        let chunk = tokio::time::timeout(
            left,
            client.request(body.subject.clone(), index.to_string().into()),
        )
        .await
        .map_err(|_| {
            err(
                ErrorKind::Timeout,
                "deadline passed while pulling a large payload",
            )
        })?
        .map_err(|e| {
            err(
                ErrorKind::Failed,
                format!("cannot pull chunk {index} of a large payload: {e}"),
            )
        })?;
        if chunk.payload.len() > CHUNK_SIZE
            || data.len().saturating_add(chunk.payload.len()) as u64 > body.len
        {
            return Err(err(
                ErrorKind::Failed,
                format!("large payload overran its {} bytes", body.len),
            ));
        }
        data.extend_from_slice(&chunk.payload);
    }
    if data.len() as u64 != body.len {
        return Err(err(
            ErrorKind::Failed,
            format!(
                "large payload arrived with {} of {} bytes",
                data.len(),
                body.len
            ),
        ));
    }
    Ok(data)
}

/// `payload` for an envelope: inline when small, else offered until
/// `deadline_ms` and referred to.
///
/// # Errors
///
/// As [`offer`].
pub async fn place(
    client: &async_nats::Client,
    payload: Vec<u8>,
    deadline_ms: u64,
) -> Result<(Vec<u8>, Option<BodyRef>), InvocationError> {
    if payload.len() > INLINE_LIMIT {
        Ok((Vec::new(), Some(offer(client, payload, deadline_ms).await?)))
    } else {
        Ok((payload, None))
    }
}

#[cfg(test)]
mod tests {
    use super::offered_subject;

    #[test]
    fn chunks_are_pulled_only_from_reply_inboxes() {
        for ok in ["_INBOX.abc123", "_INBOX.provider.kv.xyz"] {
            assert!(offered_subject(ok).is_ok(), "{ok}");
        }
        for refused in [
            "lattice.default.ctl.v1.host.stop.NHOST",
            "$KV.LATTICE_default.link.x",
            "_INBOX.>",
            "_INBOX.*",
            "_INBOX..x",
            "_INBOX.a b",
            "_INBOX",
            "",
        ] {
            let error = offered_subject(refused).unwrap_err();
            assert!(error.message.contains("reply inbox"), "{refused}: {error}");
        }
    }
}

//! Revoked provider keys, kept in the lattice's bucket (`revoked.<key>`) so
//! that hosts and provider processes that were not listening when a key was
//! revoked (one that joined later, a provider process, a host whose NATS
//! connection blinked) refuse it too (issue 29, finding 10). A revocation
//! is signed by the host that issued the key's grants: whoever can write
//! the bucket can add no revocation of their own, nor lift one (a verifier
//! never forgets a revocation before its `until_ms`).

use std::sync::Arc;

use async_nats::jetstream::kv::{Operation, Store};
use lattice_interfaces::protocol::rpc::GrantRevocation;
use lattice_interfaces::protocol::state::REVOKED_PREFIX;

use crate::link_watch::{LinkChange, LinkWatch};
use crate::Verifier;

/// Follows the bucket's revocations into `verifier`: every one there now
/// before this returns, then each new one until the returned future is
/// dropped.
///
/// # Errors
///
/// The bucket cannot be watched or read.
pub async fn follow(
    kv: Store,
    verifier: Arc<Verifier>,
) -> Result<impl std::future::Future<Output = ()> + Send, String> {
    let (mut watch, snapshot) = LinkWatch::open_prefix(kv, REVOKED_PREFIX).await?;
    for entry in &snapshot {
        apply(&verifier, entry);
    }
    Ok(async move {
        loop {
            match watch.next().await {
                LinkChange::Entry(entry) => apply(&verifier, &entry),
                LinkChange::Snapshot(entries) => {
                    for entry in &entries {
                        apply(&verifier, entry);
                    }
                }
            }
        }
    })
}

/// Takes the revocation in `entry` when a trusted key signed it.
fn apply(verifier: &Verifier, entry: &async_nats::jetstream::kv::Entry) {
    if entry.operation != Operation::Put {
        return;
    }
    let revocation = match serde_json::from_slice::<GrantRevocation>(&entry.value) {
        Ok(revocation) if format!("{REVOKED_PREFIX}{}", revocation.key) == entry.key => revocation,
        _ => {
            tracing::warn!(key = %lattice_interfaces::shown(&entry.key), "unreadable revocation in the lattice's bucket; ignored");
            return;
        }
    };
    if let Err(refused) = verifier.revoke(&revocation) {
        tracing::warn!(%refused, "revocation in the lattice's bucket refused");
    }
}

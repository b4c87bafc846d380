//! An `http-client` provider that is not in this process: each request
//! crosses the lattice whole.

use std::sync::Arc;

use lattice_interfaces::http_client::{OutgoingReply, FUNCTION, INTERFACE};
use lattice_interfaces::{ErrorKind, InvocationError, Link};

use crate::runtime::OutgoingSender;
use lattice_contract::RemoteInvoke;

/// Sends one request over `link` through the lattice.
pub(crate) fn sender(remote: Arc<dyn RemoteInvoke>, link: Link) -> OutgoingSender {
    Box::new(move |request| {
        Box::pin(async move {
            let payload = rmp_serde::to_vec_named(&request)
                .map_err(|e| InvocationError::new(ErrorKind::Failed, e.to_string()))?;
            let target = link.target.clone();
            let answer = remote
                .call_raw(link, INTERFACE.to_string(), FUNCTION.to_string(), payload)
                .await?;
            rmp_serde::from_slice::<OutgoingReply>(&answer).map_err(|e| {
                InvocationError::new(
                    ErrorKind::Failed,
                    format!("malformed answer from {target}: {e}"),
                )
            })
        })
    })
}

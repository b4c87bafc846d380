//! Sending one invocation over `lattice.<L>.rpc.<target>`: the caller's
//! side every lattice process shares (hosts calling other hosts, provider
//! processes calling actors). Large payloads go by reference, the envelope
//! is signed, the answer is awaited until the deadline, and every failure
//! names the target and the link.

use std::time::Duration;

use lattice_interfaces::protocol::rpc::{unix_ms, Invocation, InvocationResponse, ProviderGrant};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ErrorKind, InvocationError, Link};

fn err(kind: ErrorKind, message: impl Into<String>) -> InvocationError {
    InvocationError::new(kind, message)
}

/// One call: `function` of `interface` on `link`'s target with `payload`.
#[derive(Debug)]
pub struct Call<'a> {
    /// The link the call travels over.
    pub link: &'a Link,
    /// `ns:pkg/iface`, no version.
    pub interface: &'a str,
    /// The function.
    pub function: &'a str,
    /// The encoded arguments.
    pub payload: Vec<u8>,
}

/// Who sends, and how long an answer may take.
pub struct Caller<'a> {
    /// The NATS connection.
    pub client: &'a async_nats::Client,
    /// The lattice's subjects.
    pub subjects: &'a Subjects,
    /// The cluster key that signs.
    pub signer: &'a nkeys::KeyPair,
    /// The origin named in the envelope (a host id).
    pub origin_host: &'a str,
    /// How long the answer may take; also the envelope's deadline.
    pub timeout: Duration,
    /// A provider process's grant from its host (see [`ProviderGrant`]);
    /// hosts sign with their own cluster key and send none.
    pub grant: Option<&'a ProviderGrant>,
}

impl Caller<'_> {
    /// Sends `call` as invocation `id` and returns the answer's payload.
    ///
    /// # Errors
    ///
    /// `timeout` when no answer comes in time, `no_responders` when nothing
    /// in the lattice runs the target, the target's own error, or a failure
    /// to sign, send or read.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call; the target finishes it.
    #[tracing::instrument(level = "debug", skip_all, fields(%id, target = %call.link.target, interface = call.interface, function = call.function))]
    pub async fn invoke(&self, id: String, call: Call<'_>) -> Result<Vec<u8>, InvocationError> {
        let link = call.link;
        let deadline_ms =
            unix_ms().saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        let (payload, payload_ref) =
            crate::payloads::place(self.client, call.payload, deadline_ms).await?;
        let mut invocation = Invocation {
            id,
            source: link.source.to_string(),
            target: link.target.to_string(),
            interface: call.interface.to_string(),
            function: call.function.to_string(),
            link_name: link.name.clone(),
            deadline_ms,
            traceparent: None,
            origin_host: self.origin_host.to_string(),
            cluster_key: self.signer.public_key(),
            payload,
            payload_ref,
            signature: Vec::new(),
            grant: self.grant.cloned(),
        };
        let signed = invocation
            .signed_bytes()
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
        invocation.signature = self
            .signer
            .sign(&signed)
            .map_err(|e| err(ErrorKind::Failed, format!("cannot sign: {e}")))?;
        let bytes = invocation
            .encode()
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
        let target = &link.target;
        let message = tokio::time::timeout(
            self.timeout,
            self.client
                .request(self.subjects.rpc(target.as_str()), bytes.into()),
        )
        .await
        .map_err(|_| {
            err(
                ErrorKind::Timeout,
                format!(
                    "{target} did not answer within {:?} (link {link})",
                    self.timeout
                ),
            )
        })?
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => err(
                ErrorKind::NoResponders,
                format!(
                    "no host in lattice {} runs {target} (link {link})",
                    self.subjects.lattice()
                ),
            ),
            _ => err(ErrorKind::Failed, format!("call to {target} failed: {e}")),
        })?;
        let response = InvocationResponse::decode(&message.payload)
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
        if let Some(error) = response.error {
            return Err(error);
        }
        match response.payload_ref {
            Some(body) => crate::payloads::pull(self.client, &body, deadline_ms).await,
            None => Ok(response.payload),
        }
    }
}

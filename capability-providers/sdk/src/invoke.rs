//! What a provider process says to the lattice: signed invocations to the
//! actors its links name (a messaging provider handing an actor a
//! message), checked by the receiving host like any other, and events.

use std::time::Duration;

use lattice_interfaces::protocol::rpc::{unix_ms, Invocation, InvocationResponse};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ErrorKind, InvocationError, Link};

/// How long a call may take when the provider does not say.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Signs and sends invocations for one provider process.
pub struct LatticeCalls {
    client: async_nats::Client,
    subjects: Subjects,
    provider_id: String,
    host_id: String,
    signer: Option<nkeys::KeyPair>,
    timeout: Duration,
    events: crate::events::EventPublisher,
}

impl std::fmt::Debug for LatticeCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LatticeCalls")
            .field("provider_id", &self.provider_id)
            .field(
                "signer",
                &self.signer.as_ref().map(nkeys::KeyPair::public_key),
            )
            .finish_non_exhaustive()
    }
}

fn failed(kind: ErrorKind, message: impl Into<String>) -> InvocationError {
    InvocationError::new(kind, message)
}

impl LatticeCalls {
    pub(crate) fn new(
        client: async_nats::Client,
        subjects: Subjects,
        provider_id: String,
        host_id: String,
        signer: Option<nkeys::KeyPair>,
    ) -> Self {
        let events = crate::events::EventPublisher::new(
            client.clone(),
            subjects.clone(),
            provider_id.clone(),
        );
        Self {
            client,
            subjects,
            provider_id,
            host_id,
            signer,
            timeout: DEFAULT_CALL_TIMEOUT,
            events,
        }
    }

    /// Tells the lattice that this provider cannot serve `link`: a
    /// `provider_error` event naming the link and `error`, in the background.
    pub fn provider_error(&self, link: &Link, error: &str) {
        let events = self.events.clone();
        let data = serde_json::json!({
            "provider_id": self.provider_id, "host_id": self.host_id, "source": link.source,
            "target": link.target, "link_name": link.name, "error": error,
        });
        tokio::spawn(async move {
            events
                .publish(
                    lattice_interfaces::protocol::events::kinds::PROVIDER_ERROR,
                    data,
                )
                .await;
        });
    }

    /// Calls `function` of `interface` on the target of `link`, whose
    /// source must be this provider, with `payload`; returns the answer's
    /// payload.
    ///
    /// # Errors
    ///
    /// Without a signing key (host data without `invocation_seed`), for a
    /// link this provider is not the source of, when no host runs the
    /// target, after the timeout, or the target's own error.
    pub async fn invoke(
        &self,
        link: &Link,
        interface: &str,
        function: &str,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, InvocationError> {
        let signer = self.signer.as_ref().ok_or_else(|| {
            failed(
                ErrorKind::Unauthorized,
                "this provider has no invocation key: its host data has no invocation_seed",
            )
        })?;
        if link.source.as_str() != self.provider_id {
            return Err(failed(
                ErrorKind::Unauthorized,
                format!(
                    "link {link} does not start at provider {}",
                    self.provider_id
                ),
            ));
        }
        let deadline_ms =
            unix_ms().saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        let (payload, payload_ref) =
            crate::payloads::place(&self.client, payload, deadline_ms).await?;
        let mut invocation = Invocation {
            // Unique across restarts: a replayed id would be refused.
            id: format!("{}-{}", self.provider_id, nuid::next()),
            source: link.source.to_string(),
            target: link.target.to_string(),
            interface: interface.to_string(),
            function: function.to_string(),
            link_name: link.name.clone(),
            deadline_ms,
            traceparent: None,
            origin_host: self.host_id.clone(),
            cluster_key: signer.public_key(),
            payload,
            payload_ref,
            signature: Vec::new(),
        };
        let signed = invocation
            .signed_bytes()
            .map_err(|e| failed(ErrorKind::Failed, e.to_string()))?;
        invocation.signature = signer
            .sign(&signed)
            .map_err(|e| failed(ErrorKind::Failed, format!("cannot sign: {e}")))?;
        let bytes = invocation
            .encode()
            .map_err(|e| failed(ErrorKind::Failed, e.to_string()))?;
        let target = &link.target;
        let answer = tokio::time::timeout(
            self.timeout,
            self.client
                .request(self.subjects.rpc(target.as_str()), bytes.into()),
        )
        .await
        .map_err(|_| {
            failed(
                ErrorKind::Timeout,
                format!("{target} did not answer within {:?}", self.timeout),
            )
        })?
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => failed(
                ErrorKind::NoResponders,
                format!(
                    "no host in lattice {} runs {target}",
                    self.subjects.lattice()
                ),
            ),
            _ => failed(ErrorKind::Failed, format!("call to {target} failed: {e}")),
        })?;
        let response = InvocationResponse::decode(&answer.payload)
            .map_err(|e| failed(ErrorKind::Failed, e.to_string()))?;
        if let Some(error) = response.error {
            return Err(error);
        }
        match response.payload_ref {
            Some(body) => crate::payloads::pull(&self.client, &body, deadline_ms).await,
            None => Ok(response.payload),
        }
    }
}

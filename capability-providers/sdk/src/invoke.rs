//! What a provider process says to the lattice: signed invocations to the
//! actors its links name (a messaging provider handing an actor a
//! message), checked by the receiving host like any other, and events.

use std::time::Duration;

use lattice_interfaces::protocol::rpc::ProviderGrant;
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
    grant: Option<ProviderGrant>,
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
        grant: Option<ProviderGrant>,
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
            grant,
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
        let caller = crate::rpc::Caller {
            client: &self.client,
            subjects: &self.subjects,
            signer,
            origin_host: &self.host_id,
            timeout: self.timeout,
            grant: self.grant.as_ref(),
        };
        let call = crate::rpc::Call {
            link,
            interface,
            function,
            payload,
        };
        // Unique across restarts: a replayed id would be refused.
        caller
            .invoke(format!("{}-{}", self.provider_id, nuid::next()), call)
            .await
    }
}

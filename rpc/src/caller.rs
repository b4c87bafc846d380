//! Sending invocations over `lattice.<L>.rpc.<target>`: the caller's side
//! every lattice process shares (hosts calling other hosts, provider
//! processes calling actors). Large payloads go by reference, the envelope
//! is signed (or, between hosts holding the same cluster seed, sealed with
//! its MAC), the answer is awaited until the deadline, and every failure
//! names the target and the link.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::activation::Activations;

use lattice_interfaces::protocol::rpc::{
    unix_ms, Invocation, InvocationResponse, MacKey, ProviderGrant,
};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ErrorKind, InvocationError, Link};
use tracing::Instrument as _;

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

/// Signs and sends invocations for one host or provider process. Ids are
/// `<origin>-<run>-<n>`: a process restarted with the same key within a
/// deadline never reuses an id its peers remember as served.
pub struct Caller {
    client: async_nats::Client,
    subjects: Subjects,
    signer: Arc<nkeys::KeyPair>,
    origin_host: String,
    /// Renewed by the host while a provider process runs.
    grant: std::sync::RwLock<Option<ProviderGrant>>,
    timeout: Duration,
    id_prefix: String,
    sequence: AtomicU64,
    /// Seals envelopes with the MAC of `signer`'s seed instead of signing
    /// them, for targets whose hosts hold the seed too.
    mac: Option<MacKey>,
    /// Targets a process serving them asked to sign for.
    signed_targets: std::sync::RwLock<HashSet<String>>,
    /// Calls held for targets no host runs, while a replica is activated.
    activations: Activations,
}

/// Targets remembered as wanting signatures, at most.
const SIGNED_TARGETS_MEMORY: usize = 4_096;

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("signer", &self.signer.public_key())
            .field("origin_host", &self.origin_host)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller in the lattice of `subjects` that signs with `signer`, in
    /// the name of host `origin_host`. A provider process passes the grant
    /// its host gave its key; a host passes none.
    pub fn new(
        client: async_nats::Client,
        subjects: Subjects,
        signer: Arc<nkeys::KeyPair>,
        origin_host: &str,
        grant: Option<ProviderGrant>,
        timeout: Duration,
    ) -> Self {
        let origin = grant
            .as_ref()
            .map_or(origin_host, |grant| grant.provider_id.as_str());
        Self {
            id_prefix: format!("{origin}-{}", nuid::next()),
            client,
            subjects,
            signer,
            origin_host: origin_host.to_string(),
            grant: std::sync::RwLock::new(grant),
            timeout,
            sequence: AtomicU64::new(0),
            mac: None,
            signed_targets: std::sync::RwLock::default(),
            activations: Activations::default(),
        }
    }

    /// Seals envelopes with `key`, the MAC key of the signer's seed,
    /// instead of signing them (a host's caller: hosts holding the same
    /// seed check the MAC for a fraction of a signature's cost). A process
    /// serving a target that cannot check it asks for a signature, and
    /// calls to that target are signed from then on. Calls under a
    /// provider grant are always signed.
    #[must_use]
    pub fn sealing(mut self, key: MacKey) -> Self {
        if key.cluster_key() == self.signer.public_key() {
            self.mac = Some(key);
        }
        self
    }

    /// Sends `grant` with calls from now on (the host renewed it).
    pub fn renew_grant(&self, grant: ProviderGrant) {
        *self
            .grant
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(grant);
    }

    /// How long an answer may take; also each envelope's deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The NATS connection calls go over.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// Sends `call` and returns the answer's payload.
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
    pub async fn invoke(&self, call: Call<'_>) -> Result<Vec<u8>, InvocationError> {
        let span = crate::trace_span!(
            "rpc.call",
            otel.kind = "client",
            target = %call.link.target,
            interface = call.interface,
            function = call.function
        );
        let traceparent = crate::telemetry::traceparent(&span);
        let answer = self.send(call, traceparent).instrument(span.clone()).await;
        if let Err(error) = &answer {
            crate::telemetry::record_error(&span, &error.message);
        }
        answer
    }

    #[tracing::instrument(level = "debug", skip_all, fields(target = %call.link.target, interface = call.interface, function = call.function))]
    async fn send(
        &self,
        call: Call<'_>,
        traceparent: Option<String>,
    ) -> Result<Vec<u8>, InvocationError> {
        let link = call.link;
        let deadline_ms =
            unix_ms().saturating_add(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX));
        let (payload, payload_ref) =
            crate::payloads::place(&self.client, call.payload, deadline_ms).await?;
        let invocation = Invocation {
            id: format!(
                "{}-{}",
                self.id_prefix,
                self.sequence.fetch_add(1, Ordering::Relaxed)
            ),
            source: link.source.to_string(),
            target: link.target.to_string(),
            interface: call.interface.to_string(),
            function: call.function.to_string(),
            link_name: link.name.clone(),
            deadline_ms,
            traceparent,
            origin_host: self.origin_host.clone(),
            cluster_key: self.signer.public_key(),
            lattice: self.subjects.lattice().to_string(),
            payload,
            payload_ref,
            grant: self
                .grant
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        };
        let target = link.target.as_str();
        let seal = self
            .mac
            .as_ref()
            .filter(|_| invocation.grant.is_none() && !self.signs_for(target));
        let bytes = match seal {
            Some(key) => invocation.seal(key),
            None => invocation.sign(&self.signer),
        }
        .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
        let mut response = match self.request(link, bytes).await {
            Err(missing) if missing.kind == ErrorKind::NoResponders => {
                self.hold(link, invocation.clone(), seal, (missing, false))
                    .await?
            }
            Ok(answer) if answer.not_here => {
                // The host that took it stopped running the target (scaled
                // in) before it could serve it: another host may.
                let missing = no_host(link, &self.subjects);
                self.hold(link, invocation.clone(), seal, (missing, true))
                    .await?
            }
            other => other?,
        };
        if response.wants_signature && seal.is_some() {
            // The host that took it does not hold this cluster's seed (it
            // trusts the key alone, or is a provider process): it did not
            // serve the invocation, so the same one goes again, signed.
            self.sign_for(target);
            let bytes = invocation
                .sign(&self.signer)
                .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
            response = self.request(link, bytes).await?;
        }
        if let Some(error) = response.error {
            return Err(error);
        }
        match response.payload_ref {
            Some(body) => crate::payloads::pull(&self.client, &body, deadline_ms).await,
            None => Ok(response.payload),
        }
    }

    /// A call that found no host running its target: sent again to the
    /// hosts that run it now, after asking the reconciler's leader for a
    /// replica when none does, until the call's deadline. With no leader,
    /// or when no app autoscales the target, `missing` is the answer at
    /// once; except that a call a host `moved` on (it no longer ran the
    /// target) first goes once more as it is, to the replicas left.
    async fn hold(
        &self,
        link: &Link,
        mut invocation: Invocation,
        seal: Option<&MacKey>,
        (missing, moved): (InvocationError, bool),
    ) -> Result<InvocationResponse, InvocationError> {
        let target = link.target.as_str();
        let _held = self.activations.hold(target)?;
        let until = tokio::time::Instant::now()
            + Duration::from_millis(invocation.deadline_ms.saturating_sub(unix_ms()));
        let mut pause = Duration::from_millis(2);
        let mut ask = !moved;
        loop {
            if ask {
                self.activations
                    .activate(&self.client, &self.subjects, target, until)
                    .await
                    .map_err(|refused| match refused {
                        Some(reason) => reason,
                        None => missing.clone(),
                    })?;
            }
            ask = true;
            // A new id: a host that answered the last one remembers it.
            invocation.id = format!(
                "{}-{}",
                self.id_prefix,
                self.sequence.fetch_add(1, Ordering::Relaxed)
            );
            let bytes = match seal {
                Some(key) => invocation.seal(key),
                None => invocation.sign(&self.signer),
            }
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))?;
            match self.request(link, bytes).await {
                Err(again) if again.kind == ErrorKind::NoResponders => {}
                Ok(answer) if answer.not_here => {}
                other => return other,
            }
            if tokio::time::Instant::now() + pause >= until {
                return Err(missing);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Whether calls to `target` are signed rather than sealed.
    pub fn signs_for(&self, target: &str) -> bool {
        self.signed_targets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(target)
    }

    /// Signs calls to `target` from now on: a host serving it asked.
    fn sign_for(&self, target: &str) {
        let mut signed = self
            .signed_targets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if signed.len() >= SIGNED_TARGETS_MEMORY {
            // Past the bound, every target is tried sealed again once.
            signed.clear();
        }
        if signed.insert(target.to_string()) {
            tracing::info!(
                target,
                "a process serving {target} cannot check this cluster's MAC: calls to it are signed from now on"
            );
        }
    }

    /// Sends the envelope `bytes` over `link` and returns the answer.
    async fn request(
        &self,
        link: &Link,
        bytes: Vec<u8>,
    ) -> Result<InvocationResponse, InvocationError> {
        let target = &link.target;
        // The request's own timeout is the call's: NATS's default (10 s)
        // must not cut a longer deadline short.
        let request = async_nats::Request::new()
            .payload(bytes.into())
            .timeout(Some(self.timeout));
        let message = tokio::time::timeout(
            self.timeout,
            self.client
                .send_request(self.subjects.rpc(target.as_str()), request),
        )
        .await
        .map_err(|_| timed_out(target.as_str(), link, self.timeout))?
        .map_err(|e| match e.kind() {
            async_nats::RequestErrorKind::NoResponders => no_host(link, &self.subjects),
            async_nats::RequestErrorKind::TimedOut => {
                timed_out(target.as_str(), link, self.timeout)
            }
            _ => err(ErrorKind::Failed, format!("call to {target} failed: {e}")),
        })?;
        InvocationResponse::decode(&message.payload)
            .map_err(|e| err(ErrorKind::Failed, e.to_string()))
    }
}

fn no_host(link: &Link, subjects: &Subjects) -> InvocationError {
    err(
        ErrorKind::NoResponders,
        format!(
            "no host in lattice {} runs {} (link {link})",
            subjects.lattice(),
            link.target
        ),
    )
}

fn timed_out(target: &str, link: &Link, timeout: Duration) -> InvocationError {
    err(
        ErrorKind::Timeout,
        format!("{target} did not answer within {timeout:?} (link {link})"),
    )
}

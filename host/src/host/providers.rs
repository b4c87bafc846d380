//! The providers a host runs: built into its process, from the one
//! registration table below, or as supervised processes of their own.
//!
//! Adding a provider is its crate (a [`Capability`]) plus one line in
//! [`BUILT_IN`].

use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::capability::{Capability, ProviderContext};
use lattice_interfaces::{ComponentId, Link, ProviderSpec};
use tokio_util::sync::CancellationToken;

use super::{calls, read, write, HostError, InstalledBinary};

/// A provider kind this host can run in its own process.
pub(crate) struct BuiltIn {
    /// The name manifests and `provider.start` use.
    pub(crate) kind: &'static str,
    /// Builds one.
    pub(crate) build: fn(ProviderContext) -> Arc<dyn Capability>,
}

/// Every provider kind built into the host.
pub(crate) const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        kind: lattice_provider_http_server::KIND,
        build: |c| Arc::new(lattice_provider_http_server::HttpServerProvider::new(c)),
    },
    BuiltIn {
        kind: lattice_provider_http_client::KIND,
        build: |c| Arc::new(lattice_provider_http_client::HttpClientProvider::new(c)),
    },
    BuiltIn {
        kind: lattice_provider_keyvalue::KIND,
        build: |c| Arc::new(lattice_provider_keyvalue::KeyValueProvider::new(c)),
    },
    BuiltIn {
        kind: lattice_provider_blobstore::KIND,
        build: |c| Arc::new(lattice_provider_blobstore::BlobstoreProvider::new(c)),
    },
    BuiltIn {
        kind: lattice_provider_messaging_nats::KIND,
        build: |c| Arc::new(lattice_provider_messaging_nats::MessagingProvider::new(c)),
    },
];

/// The built-in kind called `kind`.
pub(crate) fn built_in(kind: &str) -> Option<&'static BuiltIn> {
    BUILT_IN.iter().find(|b| b.kind == kind)
}

/// The names of every built-in kind, for messages.
pub(crate) fn kinds() -> String {
    BUILT_IN
        .iter()
        .map(|b| b.kind)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a provider runs on this host.
pub(crate) enum Running {
    /// In this process: called directly.
    InProcess(Arc<dyn Capability>),
    /// As a process this host supervises: reached over the lattice.
    Process {
        /// Stops its supervisor, and with it the process.
        stop: CancellationToken,
    },
}

/// A provider on this host.
pub(crate) struct RunningProvider {
    /// Its built-in kind, or the binary it runs.
    pub(crate) reference: String,
    /// How it runs.
    pub(crate) running: Running,
}

impl RunningProvider {
    /// The provider, when it runs in this process.
    pub(crate) fn in_process(&self) -> Option<&Arc<dyn Capability>> {
        match &self.running {
            Running::InProcess(capability) => Some(capability),
            Running::Process { .. } => None,
        }
    }
}

impl super::Host {
    /// Starts a provider of a built-in kind in this process.
    ///
    /// # Errors
    ///
    /// The id is taken or no built-in provider has that name.
    pub fn start_provider(&self, spec: &ProviderSpec) -> Result<(), HostError> {
        self.check_free(&spec.id, "provider")?;
        let built_in = built_in(&spec.reference).ok_or_else(|| HostError::Provider {
            id: spec.id.clone(),
            reason: format!(
                "unknown provider \"{}\" (built in: {}; or a provider binary's path or registry reference)",
                lattice_interfaces::shown(&spec.reference),
                kinds()
            ),
        })?;
        let mut config = spec.config.clone();
        if built_in.kind == lattice_provider_http_client::KIND {
            if self.inner.egress_allow {
                config
                    .entry("egress".to_string())
                    .or_insert_with(|| "allow".to_string());
            }
            if let Some(path) = &self.inner.http_ca_file {
                config
                    .entry("ca_file".to_string())
                    .or_insert_with(|| path.display().to_string());
            }
        }
        let capability = (built_in.build)(ProviderContext {
            id: spec.id.clone(),
            config,
            calls: Arc::new(calls::HostProviderCalls::new(&self.inner, spec.id.clone())),
        });
        // Links stored before the provider started are delivered now.
        let pending: Vec<Link> = self
            .inner
            .router
            .links()
            .involving(&spec.id)
            .cloned()
            .collect();
        for link in pending {
            if let Err(error) = capability.put_link(&link) {
                tracing::warn!(provider = %spec.id, %error, "cannot serve a stored link");
            }
        }
        write(&self.inner.providers).insert(
            spec.id.clone(),
            RunningProvider {
                reference: built_in.kind.to_string(),
                running: Running::InProcess(capability),
            },
        );
        self.inner.changed();
        tracing::info!(provider = %spec.id, reference = %spec.reference, "provider started");
        Ok(())
    }

    /// Checks provider binary `reference` against the trust policy, keeps
    /// a private copy of the bytes checked, and records provider process
    /// `id` (supervised until `stop` is cancelled) as running on this host.
    /// Returns what to run: the copy, its hash, and the claims.
    pub(crate) async fn add_provider_process(
        &self,
        id: &ComponentId,
        reference: &str,
        stop: CancellationToken,
    ) -> Result<InstalledBinary, HostError> {
        self.check_free(id, "provider")?;
        let refused = |reason: String| HostError::Provider {
            id: id.clone(),
            reason: format!("{} refused: {reason}", lattice_interfaces::shown(reference)),
        };
        let fetched = self
            .inner
            .artifacts
            .provider(reference)
            .await
            .map_err(|e| refused(e.to_string()))?;
        // Deny by default: a provider binary runs only with valid claims.
        let verified = self
            .inner
            .trust
            .verify_provider(
                fetched.bytes,
                fetched.claims.as_deref(),
                &fetched.claims_source,
            )
            .map_err(|e| refused(e.to_string()))?;
        self.check_free(id, "provider")?;
        let path = self
            .inner
            .binaries
            .install(&verified)
            .map_err(|e| HostError::Provider {
                id: id.clone(),
                reason: format!(
                    "cannot keep a copy of {}: {e}",
                    lattice_interfaces::shown(reference)
                ),
            })?;
        write(&self.inner.providers).insert(
            id.clone(),
            RunningProvider {
                reference: fetched.origin.clone(),
                running: Running::Process { stop },
            },
        );
        Ok(InstalledBinary {
            origin: fetched.origin,
            path,
            sha256: verified.sha256,
            claims: verified.claims,
        })
    }

    /// Stops provider `id`, draining its in-flight requests for up to
    /// `grace`; returns what it ran.
    ///
    /// # Errors
    ///
    /// When no such provider runs here.
    pub async fn stop_provider(
        &self,
        id: &ComponentId,
        grace: Duration,
    ) -> Result<String, HostError> {
        let provider =
            write(&self.inner.providers)
                .remove(id)
                .ok_or_else(|| HostError::Provider {
                    id: id.clone(),
                    reason: "does not run on this host".into(),
                })?;
        match &provider.running {
            Running::InProcess(capability) => capability.shutdown(grace).await,
            Running::Process { stop } => stop.cancel(),
        }
        self.inner.changed();
        tracing::info!(provider = %id, "provider stopped");
        Ok(provider.reference)
    }

    /// The ids of the providers in this process: callable from elsewhere in
    /// the lattice over their links.
    pub(crate) fn in_process_providers(&self) -> Vec<ComponentId> {
        read(&self.inner.providers)
            .iter()
            .filter(|(_, p)| p.in_process().is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

//! The providers a host runs: built into its process, from the one
//! registration table below, or as supervised processes of their own.
//!
//! Adding a provider is its crate (a [`Capability`]) plus one line in
//! [`BUILT_IN`].

use std::sync::Arc;

use lattice_interfaces::capability::{Capability, ProviderContext};
use tokio_util::sync::CancellationToken;

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

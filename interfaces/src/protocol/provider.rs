//! Provider processes: what a host hands a provider binary it starts, and
//! the subjects a provider process answers.
//!
//! The host writes [`HostData`] as one JSON line on the process's stdin. The
//! process then serves `lattice.<L>.rpc.<provider-id>` (queue group
//! `<provider-id>`) with signed invocations, learns its links from the
//! lattice's KV bucket, answers `lattice.<L>.provider.<provider-id>.health`,
//! and exits cleanly on SIGTERM.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a provider process is started with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostData {
    /// The lattice id.
    pub lattice: String,
    /// NATS server URL(s), comma-separated.
    pub nats_url: String,
    /// The provider's id in the lattice.
    pub provider_id: String,
    /// The host that started it.
    pub host_id: String,
    /// Cluster public keys whose invocations it accepts.
    pub trusted_cluster_keys: Vec<String>,
    /// Provider-wide configuration.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// The answer to a health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether the provider can serve.
    pub healthy: bool,
    /// Why not, when it cannot.
    #[serde(default)]
    pub message: String,
}

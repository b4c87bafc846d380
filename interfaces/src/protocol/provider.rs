//! Provider processes: what a host hands a provider binary it starts, and
//! the subjects a provider process answers.
//!
//! The host writes [`HostData`] as one JSON line on the process's stdin. The
//! process then serves `lattice.<L>.rpc.<provider-id>` (queue group
//! `<provider-id>`) with signed invocations, learns its links from the
//! lattice's KV bucket, answers `lattice.<L>.provider.<provider-id>.health`,
//! and exits cleanly on SIGTERM.
//!
//! Host data carries secrets (the cluster seed, NATS credentials): it only
//! travels over the child's stdin, and its `Debug` output hides them.

use std::collections::BTreeMap;

use crate::HostId;
use serde::{Deserialize, Serialize};

/// What a host writes on a provider process's stdin after its
/// [`HostData`], one JSON line each, while the process runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HostMessage {
    /// A fresh grant for the process's key (the old one is about to
    /// expire).
    RenewGrant(crate::protocol::rpc::ProviderGrant),
}

/// What a provider process is started with.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostData {
    /// The lattice id.
    pub lattice: String,
    /// NATS server URL(s), comma-separated.
    pub nats_url: String,
    /// How to authenticate to NATS: the host's own credentials.
    #[serde(default)]
    pub nats: NatsCredentials,
    /// The provider's id in the lattice.
    pub provider_id: String,
    /// The host that started it.
    pub host_id: HostId,
    /// Cluster public keys whose invocations (and link entries) it accepts.
    pub trusted_cluster_keys: Vec<String>,
    /// Whether link entries signed by any cluster key are accepted (its
    /// host was given no cluster keys: development); otherwise only those
    /// signed by `trusted_cluster_keys`.
    #[serde(default)]
    pub links_from_any_signer: bool,
    /// The provider's own signing seed (`SC…`) for the invocations it
    /// makes (messages and requests it hands to actors); none means it
    /// makes none. Not the host's key: see `invocation_grant`.
    #[serde(default)]
    pub invocation_seed: Option<String>,
    /// The host's grant for that key: calls signed with it are accepted
    /// only as this provider, over links that start at it.
    #[serde(default)]
    pub invocation_grant: Option<crate::protocol::rpc::ProviderGrant>,
    /// Provider-wide configuration.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// JetStream domain of the lattice's state bucket, when not local.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js_domain: Option<String>,
    /// The host keeps the process's stdin open for as long as it wants it
    /// to run: the end of stdin (the host stopped it, or died, even by
    /// SIGKILL) stops the process as SIGTERM does. Off for a process
    /// started by hand.
    #[serde(default)]
    pub exit_with_host: bool,
    /// Bytes the provider's calls crossing the lattice may hold at once
    /// (request bodies read whole): its host's `--payload-budget-mib`.
    /// Unset: 256 MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_budget: Option<u64>,
}

/// NATS authentication and TLS, as a host was given them. File paths are
/// read by the process, which runs on the same machine as its host.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsCredentials {
    /// A credentials file (JWT + seed).
    #[serde(default)]
    pub creds_file: Option<String>,
    /// An nkey seed (`SU…`).
    #[serde(default)]
    pub nkey_seed: Option<String>,
    /// User, with `password`.
    #[serde(default)]
    pub user: Option<String>,
    /// Password, with `user`.
    #[serde(default)]
    pub password: Option<String>,
    /// Whether TLS is required.
    #[serde(default)]
    pub tls: bool,
    /// CA certificate(s) to trust (PEM file).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Client certificate (PEM file), with `tls_key_file`.
    #[serde(default)]
    pub tls_cert_file: Option<String>,
    /// Client key (PEM file).
    #[serde(default)]
    pub tls_key_file: Option<String>,
}

/// Shows whether a secret is there, never what it is.
impl std::fmt::Debug for HostData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostData")
            .field("lattice", &self.lattice)
            .field("nats_url", &crate::redacted(&self.nats_url))
            .field("nats", &self.nats)
            .field("provider_id", &self.provider_id)
            .field("host_id", &self.host_id)
            .field("trusted_cluster_keys", &self.trusted_cluster_keys)
            .field(
                "invocation_seed",
                &crate::hidden(self.invocation_seed.as_ref()),
            )
            .field("invocation_grant", &self.invocation_grant)
            .field("config", &self.config)
            .field("js_domain", &self.js_domain)
            .field("exit_with_host", &self.exit_with_host)
            .field("payload_budget", &self.payload_budget)
            .finish()
    }
}

impl std::fmt::Debug for NatsCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsCredentials")
            .field("creds_file", &self.creds_file)
            .field("nkey_seed", &crate::hidden(self.nkey_seed.as_ref()))
            .field("user", &self.user)
            .field("password", &crate::hidden(self.password.as_ref()))
            .field("tls", &self.tls)
            .field("ca_file", &self.ca_file)
            .field("tls_cert_file", &self.tls_cert_file)
            .field("tls_key_file", &self.tls_key_file)
            .finish()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_seeds_or_passwords() {
        let data = HostData {
            lattice: "default".into(),
            nats_url: "nats://alice:urlsecret@127.0.0.1:4222".into(),
            nats: NatsCredentials {
                nkey_seed: Some("SUSECRETNKEY".into()),
                user: Some("alice".into()),
                password: Some("hunter2".into()),
                ..NatsCredentials::default()
            },
            provider_id: "kv".into(),
            host_id: HostId::new(nkeys::KeyPair::new_server().public_key()).unwrap(),
            trusted_cluster_keys: vec!["CKEY".into()],
            links_from_any_signer: false,
            invocation_seed: Some("SCSECRETCLUSTER".into()),
            invocation_grant: None,
            config: BTreeMap::new(),
            js_domain: None,
            exit_with_host: true,
            payload_budget: None,
        };
        let shown = format!("{data:?}");
        for secret in ["SUSECRETNKEY", "hunter2", "SCSECRETCLUSTER", "urlsecret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("alice") && shown.contains("<hidden>"),
            "{shown}"
        );
    }

    #[test]
    fn host_data_from_an_older_host_still_reads() {
        let host = nkeys::KeyPair::new_server().public_key();
        let line = format!(
            r#"{{"lattice":"default","nats_url":"nats://x","provider_id":"kv","host_id":"{host}","trusted_cluster_keys":[]}}"#
        );
        let data: HostData = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.nats, NatsCredentials::default());
        assert_eq!(data.invocation_seed, None);
        assert_eq!(data.invocation_grant, None);
    }
}

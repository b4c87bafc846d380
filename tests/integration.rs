//! Lattice's integration tests: one test binary (linking is most of a cold
//! build), one module per area, each opening with the story it checks.
//!
//! Every test talks to real parts: `nats-server` and `redis-server` started
//! on free ports, the `lattice-host`, `lattice-ctl` and provider binaries
//! built from this workspace, and the example actors.

// Test code: a failed unwrap, expect or index is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod actor_calls;
mod actor_loading;
mod actor_logs;
mod actor_runtime;
mod actor_signing;
mod admin;
mod apps;
mod autoscaling;
mod blobstore;
mod chaos;
mod claims_wascap;
mod cli_call;
mod cli_claims;
mod cli_lattice;
mod cli_links;
mod cli_up;
mod cli_up_processes;
mod credentials_in_urls;
#[cfg(feature = "browser")]
mod dashboard;
mod dev_projects;
mod docs;
mod egress_rules;
mod failover;
mod guest_held_memory;
mod http_server;
mod https_server;
mod inference;
mod instance_reuse;
mod keyvalue;
mod keyvalue_backends;
mod keyvalue_outage;
mod lattice_hosts;
mod link_checks;
mod link_entries;
mod link_names;
mod messaging;
mod messaging_policy;
mod nats_cluster;
mod nats_permissions;
mod nats_support;
mod nats_tls;
mod oci_registry;
mod other_toolchains;
mod outgoing_http;
mod protocol_doc;
mod provider_environment;
mod provider_grants;
mod provider_health;
mod provider_http_client_process;
mod provider_http_server_process;
mod provider_keyvalue_process;
mod provider_messaging_process;
mod providers_across_hosts;
mod reply_inboxes;
mod routing_remote;
mod rpc_layer;
mod runtime_config;
mod secrets;
mod traces;
mod untrusted_input;
mod wadm_manifests;
mod wagi;
mod walkthroughs;

//! Control requests and replies: JSON over NATS request/reply.
//!
//! Every reply is a [`CtlReply`]: `{"success": bool, "message": str,
//! "response": ...}`. Requests refuse unknown fields, so a misspelt field is
//! an error, not a silent default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ComponentId, Link};

/// The reply to every control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlReply<T> {
    /// Whether the operation succeeded.
    pub success: bool,
    /// Empty on success; on failure, one line saying what is wrong.
    #[serde(default)]
    pub message: String,
    /// The operation's result, if it has one.
    #[serde(default = "Option::default")]
    pub response: Option<T>,
}

impl<T> CtlReply<T> {
    /// A success carrying `response`.
    pub fn ok(response: T) -> Self {
        Self {
            success: true,
            message: String::new(),
            response: Some(response),
        }
    }

    /// A failure saying `message`.
    pub fn error(message: impl Into<String>) -> Self {
        Self {
            success: false,
            message: message.into(),
            response: None,
        }
    }
}

/// What a host says about itself (ping, heartbeat, inventory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host's server public key (`N…`).
    pub host_id: String,
    /// The lattice it belongs to.
    pub lattice: String,
    /// Its labels, `hostname`, `os` and `arch` included.
    pub labels: BTreeMap<String, String>,
    /// Lattice version.
    pub version: String,
    /// When it started, RFC 3339.
    pub started_at: String,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// Actors it runs.
    pub actors: usize,
    /// Providers it runs.
    pub providers: usize,
}

/// One actor in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorInventory {
    /// Its id.
    pub id: ComponentId,
    /// Where its component came from.
    pub reference: String,
    /// Most instances at once.
    pub max_instances: u32,
    /// Instances running now.
    pub instances_in_use: usize,
    /// HTTP calls one instance may serve (1: fresh per call).
    #[serde(default = "one")]
    pub instance_reuse: u32,
    /// Calls served.
    pub calls: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Its claims' issuer, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its claims' subject (module key), when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

fn one() -> u32 {
    1
}

/// One provider in an inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInventory {
    /// Its id.
    pub id: ComponentId,
    /// What was started: a built-in kind such as `http-server`.
    pub reference: String,
}

/// How a host routed the calls to one target.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteCount {
    /// Calls made in-process.
    pub local: u64,
    /// Calls sent to other hosts over NATS.
    pub remote: u64,
}

/// Everything one host runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// The host.
    pub host: HostInfo,
    /// Its actors, by id.
    pub actors: Vec<ActorInventory>,
    /// Its providers, by id.
    pub providers: Vec<ProviderInventory>,
    /// Calls this host routed, by target.
    #[serde(default)]
    pub routing: BTreeMap<ComponentId, RouteCount>,
}

/// `actor.auction`: which hosts could run this actor?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorAuction {
    /// The id it would run as.
    pub actor_id: ComponentId,
    /// Its component.
    pub actor_ref: String,
    /// Labels a host must have, all of them.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// `provider.auction`: which hosts could run this provider?
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderAuction {
    /// The id it would run as.
    pub provider_id: ComponentId,
    /// What to run: a built-in kind.
    pub provider_ref: String,
    /// Labels a host must have, all of them.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// A host's answer to an auction: it could run the thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionAck {
    /// The answering host.
    pub host_id: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Whether it already runs something with that id.
    pub already_running: bool,
}

/// `actor.scale.<host>`: run actor `actor_id` from `actor_ref` with at most
/// `max_instances` instances; `0` stops it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleActor {
    /// The actor's id.
    pub actor_id: ComponentId,
    /// Its component: a file path on the host.
    pub actor_ref: String,
    /// Most instances at once; 0 stops the actor.
    pub max_instances: u32,
    /// HTTP calls one instance may serve (at least 1); unset keeps what a
    /// running actor has, and starts a new one fresh per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_reuse: Option<u32>,
}

/// `actor.update.<host>`: replace a running actor's component; calls in
/// flight finish on the old one, new calls go to the new one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateActor {
    /// The actor's id.
    pub actor_id: ComponentId,
    /// The new component.
    pub new_actor_ref: String,
}

/// `provider.start.<host>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartProvider {
    /// The provider's id.
    pub provider_id: ComponentId,
    /// What to run: a built-in kind such as `http-server`.
    pub provider_ref: String,
    /// Provider-wide configuration.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// `provider.stop.<host>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopProvider {
    /// The provider's id.
    pub provider_id: ComponentId,
}

/// `labels.put.<host>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelPut {
    /// Label key.
    pub key: String,
    /// Label value.
    pub value: String,
}

/// `labels.del.<host>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelDel {
    /// Label key.
    pub key: String,
}

/// `host.stop.<host>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StopHost {
    /// How long in-flight calls may take to finish, in milliseconds.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// `link.put`: the body is a [`Link`].
pub type LinkPut = Link;

/// `link.del`: the key of the link to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkDel {
    /// The caller.
    pub source: ComponentId,
    /// WIT namespace.
    pub namespace: String,
    /// WIT package.
    pub package: String,
    /// Link name.
    #[serde(default = "default_link_name")]
    pub name: String,
}

fn default_link_name() -> String {
    crate::link::DEFAULT_LINK_NAME.to_string()
}

/// `config.put`: named configuration, a flat map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPut {
    /// The config's name, `[a-z0-9_-]+`.
    pub name: ComponentId,
    /// Its values.
    pub values: BTreeMap<String, String>,
}

/// `config.get` and `config.del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigName {
    /// The config's name.
    pub name: ComponentId,
}

/// An empty request body: `{}` or nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

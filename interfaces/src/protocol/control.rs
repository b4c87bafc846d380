//! Control requests and replies: JSON over NATS request/reply.
//!
//! Every operation is declared once, in the table of [`op`]: its name, who
//! answers it, whether it loads a component, the types of its request and
//! response, and the method of [`op::Handlers`] that serves it. From that
//! one table come the [`Operation`] types clients send, the list hosts
//! subscribe by ([`op::ALL`]), and the host's dispatch ([`op::dispatch`]),
//! so the host's handlers and every client agree by construction.
//!
//! Every reply is a [`CtlReply`]: `{"success": bool, "message": str,
//! "response": ...}`, and on failure a stable `kind` ([`ErrorKind`]) beside
//! the message. Requests are JSON objects that refuse unknown fields, so a
//! misspelt field is an error, not a silent default.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{ComponentId, ErrorKind, HostId, Link};

/// Who answers an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Every host that qualifies (scatter-gather): `lattice.L.ctl.v1.<op>`.
    Every,
    /// The one host named in the subject: `lattice.L.ctl.v1.<op>.<host-id>`.
    Host,
    /// Any one host, through the queue group `lattice.L.ctl`.
    AnyHost,
}

/// One control operation.
pub trait Operation {
    /// `noun.verb`, as in the subject.
    const NAME: &'static str;
    /// Who answers it.
    const AUDIENCE: Audience;
    /// Whether the host loads (and compiles) a component or binary before
    /// it answers: clients wait longer for these.
    const LOADS: bool;
    /// The request body.
    type Request: Serialize + DeserializeOwned + Send + Sync;
    /// The `response` of a successful reply.
    type Response: Serialize + DeserializeOwned + Send;
}

/// One row of the table of operations, for code that needs them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperationInfo {
    /// `noun.verb`.
    pub name: &'static str,
    /// Who answers it.
    pub audience: Audience,
    /// Whether it loads a component or binary before it answers.
    pub loads: bool,
}

/// Why a host's handler gives no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Say nothing: an auction this host does not qualify for.
    Silent,
    /// Answer with an error reply of this kind, saying this.
    Error {
        /// The stable kind.
        kind: ErrorKind,
        /// One line for people.
        message: String,
    },
}

impl Refusal {
    /// A refusal of `kind` saying `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self::Error {
            kind,
            message: message.into(),
        }
    }

    /// The request is wrong: fix it and send it again.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message)
    }

    /// What the request names does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The request clashes with what the lattice holds.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// The host tried and failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }
}

impl From<crate::InvocationError> for Refusal {
    fn from(error: crate::InvocationError) -> Self {
        Self::new(error.kind, error.message)
    }
}

/// Why a request body was refused, before any operation ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad request to {op}: {reason}")]
pub struct RequestError {
    /// The operation.
    pub op: &'static str,
    /// What is wrong, input shown only in part.
    pub reason: String,
}

/// Largest control request accepted, in bytes.
pub const MAX_REQUEST_BYTES: usize = 512 << 10;

/// Decodes the body of a request to `O`: a JSON object (nothing, or only
/// white space, is `{}`), at most [`MAX_REQUEST_BYTES`]. Untrusted input:
/// errors repeat only a bounded part of it.
///
/// # Errors
///
/// When the body is too large, not a JSON object, or not an `O::Request`.
pub fn decode_request<O: Operation>(payload: &[u8]) -> Result<O::Request, RequestError> {
    let refuse = |reason: String| RequestError {
        op: O::NAME,
        reason,
    };
    if payload.len() > MAX_REQUEST_BYTES {
        return Err(refuse(format!(
            "the request is {} bytes; the limit is {MAX_REQUEST_BYTES}",
            payload.len()
        )));
    }
    let body = payload.trim_ascii();
    let body = if body.is_empty() {
        b"{}".as_slice()
    } else {
        body
    };
    if body.first() != Some(&b'{') {
        return Err(refuse("the body must be a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| refuse(crate::shown(&e.to_string()).into_owned()))
}

/// Every control operation, with its request and response types.
pub mod op {
    use std::collections::BTreeMap;

    use super::*;

    macro_rules! operations {
        (@loads loads) => { true };
        (@loads answers) => { false };
        ($($(#[$doc:meta])* $name:ident = $op:literal, $audience:ident, $loads:ident,
            $method:ident($request:ty) -> $response:ty;)*) => {
            $(
                $(#[$doc])*
                #[derive(Debug, Clone, Copy)]
                pub struct $name;

                impl Operation for $name {
                    const NAME: &'static str = $op;
                    const AUDIENCE: Audience = Audience::$audience;
                    const LOADS: bool = operations!(@loads $loads);
                    type Request = $request;
                    type Response = $response;
                }
            )*

            /// Every operation, in the order of the table.
            pub const ALL: &[OperationInfo] = &[$(OperationInfo {
                name: $op,
                audience: Audience::$audience,
                loads: operations!(@loads $loads),
            }),*];

            /// The name of every operation.
            pub const NAMES: &[&str] = &[$($op),*];

            /// Visits every operation's type, in the order of the table.
            pub fn visit_all(visitor: &mut impl Visitor) {
                $(visitor.visit::<$name>();)*
            }

            /// What serves control requests: one method per operation,
            /// each taking its request and answering its response or a
            /// [`Refusal`]. The host implements it; [`dispatch`] calls it.
            pub trait Handlers: Sync {
                $(
                    $(#[$doc])*
                    fn $method(&self, request: $request)
                        -> impl std::future::Future<Output = Result<$response, Refusal>> + Send;
                )*
            }

            /// Decodes `payload` as a request to operation `name`, serves
            /// it with `handlers` and encodes the reply: `None` when the
            /// handler stays silent (or the reply cannot be encoded). An
            /// unknown operation or a malformed request gets a
            /// `bad_request` reply; no handler runs.
            ///
            /// # Cancel safety
            ///
            /// Dropping the future abandons the handler midway.
            pub async fn dispatch<H: Handlers>(handlers: &H, name: &str, payload: &[u8]) -> Option<Vec<u8>> {
                match name {
                    $($op => serve::<$name, _>(payload, |request| handlers.$method(request)).await,)*
                    other => CtlReply::<()>::refused(
                        ErrorKind::BadRequest,
                        format!("unknown operation {:?}", crate::shown(other)),
                    )
                    .encoded(),
                }
            }
        };
    }

    /// Something done with the types of every operation
    /// ([`visit_all`]): checking the protocol's documentation, say.
    pub trait Visitor {
        /// Called once for each operation `O`.
        fn visit<O: Operation>(&mut self);
    }

    /// Decodes a request to `O`, runs `handler` on it, and encodes its
    /// answer: the one place requests are parsed and replies written.
    async fn serve<O: Operation, F>(
        payload: &[u8],
        handler: impl FnOnce(O::Request) -> F,
    ) -> Option<Vec<u8>>
    where
        F: std::future::Future<Output = Result<O::Response, Refusal>>,
    {
        let request = match decode_request::<O>(payload) {
            Ok(request) => request,
            Err(e) => {
                return CtlReply::<()>::refused(ErrorKind::BadRequest, e.to_string()).encoded()
            }
        };
        match handler(request).await {
            Ok(response) => CtlReply::ok(response).encoded(),
            Err(Refusal::Silent) => None,
            Err(Refusal::Error { kind, message }) => {
                CtlReply::<()>::refused(kind, message).encoded()
            }
        }
    }

    operations! {
        /// `host.ping`: every host says who it is.
        Ping = "host.ping", Every, answers, ping(Empty) -> HostInfo;
        /// `host.inventory.<host>`: what one host runs.
        Inventory = "host.inventory", Host, answers, inventory(Empty) -> super::Inventory;
        /// `host.stop.<host>`: stop gracefully.
        StopHost = "host.stop", Host, answers, stop_host(super::StopHost) -> HostStopped;
        /// `labels.put.<host>`: set a label; answers the labels.
        PutLabel = "labels.put", Host, answers, put_label(LabelPut) -> BTreeMap<String, String>;
        /// `labels.del.<host>`: remove a label; answers the labels.
        DeleteLabel = "labels.del", Host, answers, delete_label(LabelDel) -> BTreeMap<String, String>;
        /// `actor.auction`: hosts that could run an actor answer.
        AuctionActor = "actor.auction", Every, answers, actor_auction(ActorAuction) -> AuctionAck;
        /// `provider.auction`: hosts that could run a provider answer.
        AuctionProvider = "provider.auction", Every, answers, provider_auction(ProviderAuction) -> AuctionAck;
        /// `actor.scale.<host>`: run, rescale or (0) stop an actor.
        ScaleActor = "actor.scale", Host, loads, scale_actor(super::ScaleActor) -> ActorScaled;
        /// `actor.update.<host>`: swap an actor's component.
        UpdateActor = "actor.update", Host, loads, update_actor(super::UpdateActor) -> ActorUpdated;
        /// `actor.logs`: hosts that run an actor answer the lines of it they keep.
        RecentActorLogs = "actor.logs", Every, answers, actor_logs(crate::protocol::logs::RecentLogsRequest) -> crate::protocol::logs::RecentLogs;
        /// `actor.call.<host>`: call an actor's exported function.
        CallActor = "actor.call", Host, answers, call_actor(super::CallActor) -> ActorCalled;
        /// `provider.start.<host>`: run a provider.
        StartProvider = "provider.start", Host, loads, start_provider(super::StartProvider) -> ProviderChanged;
        /// `provider.stop.<host>`: stop a provider.
        StopProvider = "provider.stop", Host, answers, stop_provider(super::StopProvider) -> ProviderChanged;
        /// `link.put`: store a link; answers it.
        PutLink = "link.put", AnyHost, answers, put_link(Link) -> Link;
        /// `link.del`: delete a link; answers it.
        DeleteLink = "link.del", AnyHost, answers, delete_link(LinkDel) -> Link;
        /// `link.get`: every link.
        GetLinks = "link.get", AnyHost, answers, get_links(Empty) -> Vec<Link>;
        /// `claims.get`: claims of every signed actor and provider binary the lattice ran.
        GetClaims = "claims.get", AnyHost, answers, get_claims(Empty) -> Vec<crate::claims::LatticeClaims>;
        /// `config.put`: store named config.
        PutConfig = "config.put", AnyHost, answers, put_config(ConfigPut) -> ConfigNamed;
        /// `config.get`: read named config.
        GetConfig = "config.get", AnyHost, answers, get_config(ConfigName) -> BTreeMap<String, String>;
        /// `config.del`: delete named config.
        DeleteConfig = "config.del", AnyHost, answers, delete_config(ConfigName) -> ConfigNamed;
        /// `grant.revoke`: every host refuses a provider key from now on.
        RevokeGrant = "grant.revoke", Every, answers, revoke_grant(crate::protocol::rpc::GrantRevocation) -> GrantRevoked;
    }
}

/// The answer to `grant.revoke`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantRevoked {
    /// The host that took it.
    pub host_id: HostId,
    /// The key it refuses.
    pub key: String,
}

/// The answer to `host.stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostStopped {
    /// The host that is stopping.
    pub host_id: HostId,
}

/// The answer to `actor.scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorScaled {
    /// The host.
    pub host_id: HostId,
    /// The actor.
    pub actor_id: ComponentId,
    /// Its instance limit now; 0: stopped.
    pub max_instances: u32,
}

/// The answer to `actor.update`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorUpdated {
    /// The host.
    pub host_id: HostId,
    /// The actor.
    pub actor_id: ComponentId,
    /// Its component now.
    pub actor_ref: String,
}

/// The answer to `actor.call`: the function's results, each in WAVE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorCalled {
    /// The host that ran the call.
    pub host_id: HostId,
    /// The actor.
    pub actor_id: ComponentId,
    /// Each result, in the WebAssembly Value Encoding.
    pub results: Vec<String>,
}

/// The answer to `provider.start` and `provider.stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderChanged {
    /// The host.
    pub host_id: HostId,
    /// The provider.
    pub provider_id: ComponentId,
    /// What it runs: a built-in provider's name, a binary's path or a registry reference (`provider_ref` before, still accepted).
    #[serde(alias = "provider_ref")]
    pub reference: String,
}

/// The answer to `config.put` and `config.del`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigNamed {
    /// The config's name.
    pub name: ComponentId,
}

/// The reply to every control request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtlReply<T> {
    /// Whether the operation succeeded.
    pub success: bool,
    /// Empty on success; on failure, one line saying what is wrong.
    #[serde(default)]
    pub message: String,
    /// On failure, its stable kind (`bad_request`, `not_found`,
    /// `conflict`, `unauthorized`, `failed`, …); absent on success and from
    /// hosts older than the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// The operation's result, if it has one.
    #[serde(default = "Option::default")]
    pub response: Option<T>,
    /// A reply too large for one NATS message (an inventory of thousands
    /// of actors): offered in chunks on a reply inbox, as large RPC
    /// payloads are; the bytes pulled are the whole reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_ref: Option<super::rpc::BodyRef>,
}

impl<T> CtlReply<T> {
    /// A success carrying `response`.
    pub fn ok(response: T) -> Self {
        Self {
            success: true,
            message: String::new(),
            kind: None,
            response: Some(response),
            reply_ref: None,
        }
    }

    /// A failure of `kind` saying `message`.
    pub fn refused(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            success: false,
            message: message.into(),
            kind: Some(kind),
            response: None,
            reply_ref: None,
        }
    }

    /// The reply as JSON, as it is sent; `None` when it cannot be
    /// encoded.
    pub fn encoded(&self) -> Option<Vec<u8>>
    where
        T: Serialize,
    {
        serde_json::to_vec(self).ok()
    }

    /// A reply to be pulled from `body`.
    pub fn offered(body: super::rpc::BodyRef) -> Self {
        Self {
            success: true,
            message: String::new(),
            kind: None,
            response: None,
            reply_ref: Some(body),
        }
    }
}

/// What a host says about itself (ping, heartbeat, inventory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// The host's server public key (`N…`).
    pub host_id: HostId,
    /// The lattice it belongs to.
    pub lattice: String,
    /// Its labels, `hostname`, `os` and `arch` included.
    pub labels: BTreeMap<String, String>,
    /// Lattice version.
    pub version: String,
    /// The commit its binary was built from; empty for a development
    /// build.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub commit: String,
    /// The day its binary was built (`YYYY-MM-DD`); empty for a
    /// development build.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub built: String,
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
    /// 0: it scales from zero; 1: linked from its start.
    #[serde(default = "one")]
    pub min_instances: u32,
    /// Whether its code is linked and in memory (false: it scaled from
    /// zero and has had no call yet).
    #[serde(default = "yes")]
    pub linked: bool,
    /// Calls served.
    pub calls: u64,
    /// Calls that failed.
    pub failed: u64,
    /// Time its calls spent waiting for an instance and holding it,
    /// summed, in microseconds:
    /// the change over an interval, divided by it, is the calls in flight
    /// on average (what the autoscaler reads).
    #[serde(default)]
    pub busy_us: u64,
    /// Its claims' issuer, when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// Its claims' subject (module key), when signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The named config it reads, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ComponentId>,
    /// Its secrets, by key: references, never values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
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
    /// Artifacts it fetched lately, by origin (a registry artifact pinned
    /// to its digest, or a file), at most 256: it holds their bytes, so
    /// placement prefers it for them.
    #[serde(default)]
    pub artifacts: Vec<String>,
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
    /// What to run: a built-in provider's name (`provider_ref` before, still accepted).
    #[serde(alias = "provider_ref")]
    pub reference: String,
    /// Labels a host must have, all of them.
    #[serde(default)]
    pub constraints: BTreeMap<String, String>,
}

/// A host's answer to an auction: it could run the thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuctionAck {
    /// The answering host.
    pub host_id: HostId,
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
    /// Its component: a registry reference or a file path on the host.
    /// Not needed to stop it.
    #[serde(default)]
    pub actor_ref: String,
    /// Most instances at once; 0 stops the actor.
    pub max_instances: u32,
    /// HTTP calls one instance may serve (at least 1); unset keeps what a
    /// running actor has, and starts a new one fresh per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_reuse: Option<u32>,
    /// 0: it scales from zero (its code linked at its first call); 1:
    /// linked from its start. Unset keeps what a running actor has, and
    /// links a new one at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<u32>,
    /// Named config its instances read through `wasi:config/store`, merged
    /// in order (a later entry's key wins); each must exist. Unset: none
    /// for a new actor, unchanged for a running one; set: what the running
    /// actor's next instances read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Vec<ComponentId>>,
    /// Secrets its instances read through `wasi:config/store`, by key:
    /// references (`file:/…`, `env:LATTICE_SECRET_…`) the host resolves,
    /// never values. Unset or set as `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<BTreeMap<String, String>>,
    /// Models it loads through `wasi:nn` `load-by-name`: name → ONNX file
    /// on the host or registry reference. Read when the actor starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, String>,
}

impl ScaleActor {
    /// The request that stops actor `actor_id` (`max_instances: 0`).
    pub fn stop(actor_id: ComponentId) -> Self {
        Self {
            actor_id,
            actor_ref: String::new(),
            max_instances: 0,
            instance_reuse: None,
            min_instances: None,
            config: None,
            secrets: None,
            models: BTreeMap::new(),
        }
    }
}

/// `actor.call.<host>`: call `function` of a running actor with `args`,
/// in a fresh instance under the actor's limits, as an operator would
/// (no link needed: the control plane's permissions are the wall).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallActor {
    /// The actor's id.
    pub actor_id: ComponentId,
    /// `ns:pkg/iface.function` (the interface may carry its version).
    pub function: String,
    /// Each argument, in the WebAssembly Value Encoding (WAVE): `"text"`,
    /// `42`, `[1, 2]`, `{name: "x"}`, `some(1)`, `ok("y")`.
    #[serde(default)]
    pub args: Vec<String>,
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
    /// What to run: a built-in provider's name such as `http-server`, a binary's path or a registry reference (`provider_ref` before, still accepted).
    #[serde(alias = "provider_ref")]
    pub reference: String,
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

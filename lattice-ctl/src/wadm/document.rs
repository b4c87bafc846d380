//! A wadm manifest as written: OAM `core.oam.dev/v1beta1` `Application`s,
//! in the shape wadm reads them. Keys Lattice does not know are refused by
//! serde with the key named (`deny_unknown_fields`), except where wadm
//! itself ignores them and its own examples rely on that (a link's
//! `source.name`). Values of string maps may be written as numbers or
//! booleans; they are read as their text.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// The OAM version wadm writes and reads.
pub const API_VERSION: &str = "core.oam.dev/v1beta1";
/// The only kind of document wadm deploys.
pub const KIND: &str = "Application";
/// The policy type of secret backends.
pub const SECRET_POLICY: &str = "policy.secret.wasmcloud.dev/v1alpha1";

/// A whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// `core.oam.dev/v1beta1`.
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    /// `Application`.
    pub kind: String,
    /// Name and annotations.
    pub metadata: Metadata,
    /// Components and policies.
    pub spec: Specification,
}

/// `metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The app's name.
    pub name: String,
    /// `version`, `description` and informational `wasmcloud.dev/...` keys.
    #[serde(default, deserialize_with = "text_map")]
    pub annotations: BTreeMap<String, String>,
    /// Labels of the app.
    #[serde(
        default,
        deserialize_with = "text_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
}

/// `spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Specification {
    /// Components and capability providers.
    pub components: Vec<Component>,
    /// Secret backends and other policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
}

/// One of `spec.policies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What secrets name it by.
    pub name: String,
    /// `policy.secret.wasmcloud.dev/v1alpha1` for secret backends.
    #[serde(rename = "type")]
    pub policy_type: String,
    /// For secret backends, `backend` and its settings.
    #[serde(default, deserialize_with = "text_map")]
    pub properties: BTreeMap<String, String>,
}

/// Whether a component is a Wasm component or a capability provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ComponentType {
    /// A Wasm component (`actor` in older manifests).
    #[serde(alias = "actor")]
    Component,
    /// A capability provider.
    Capability,
}

/// One of `spec.components`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    /// Its name in the manifest; links name their target by it.
    pub name: String,
    /// Component or capability.
    #[serde(rename = "type")]
    pub component_type: ComponentType,
    /// What it runs and what it reads.
    pub properties: Properties,
    /// Scalers and links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traits: Vec<Trait>,
}

/// A component's `properties`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Properties {
    /// An OCI reference or `file://PATH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A component of a shared application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application: Option<serde_json::Value>,
    /// Its id in the lattice, when not its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Config it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secrets it reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// A named config: its values, or (no `properties`) one that exists
/// already (`wash config put`, `lattice-ctl config put`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigProperty {
    /// Its name.
    pub name: String,
    /// Its keys and values.
    #[serde(
        default,
        deserialize_with = "optional_text_map",
        skip_serializing_if = "Option::is_none"
    )]
    pub properties: Option<BTreeMap<String, String>>,
}

/// A secret: the name the component reads it by and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretProperty {
    /// The name it is read by.
    pub name: String,
    /// The policy (backend) and the key in it.
    pub properties: SecretSource,
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    /// The name of a policy in `spec.policies`.
    pub policy: String,
    /// The key in the policy's backend.
    pub key: String,
    /// A field of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// A version of the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One of a component's `traits`: its `type` and its `properties`, read
/// by type ([`TraitBody`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trait {
    /// `spreadscaler`, `daemonscaler` or `link`.
    #[serde(rename = "type")]
    pub trait_type: String,
    /// The body, read by [`Trait::body`].
    pub properties: serde_json::Value,
}

/// A trait's body, by its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraitBody {
    /// `spreadscaler`: instances spread over hosts by weight.
    Spread(ScalerProperty),
    /// `daemonscaler`: instances on every matching host.
    Daemon(ScalerProperty),
    /// `link`: this component calls another.
    Link(Box<LinkProperty>),
}

impl Trait {
    /// The body, read by the trait's type; the error says what is wrong
    /// with it.
    pub fn body(&self) -> Result<TraitBody, String> {
        let body = self.properties.clone();
        let read = |e: serde_json::Error| e.to_string();
        match self.trait_type.as_str() {
            "spreadscaler" => serde_json::from_value(body)
                .map(TraitBody::Spread)
                .map_err(read),
            "daemonscaler" => serde_json::from_value(body)
                .map(TraitBody::Daemon)
                .map_err(read),
            "link" => serde_json::from_value(body)
                .map(TraitBody::Link)
                .map_err(read),
            other => Err(format!(
                "trait type {other:?} is not supported (spreadscaler, daemonscaler, link)"
            )),
        }
    }
}

/// A scaler's properties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalerProperty {
    /// For a component, most instances at once; for a provider, hosts
    /// (spreadscaler).
    #[serde(alias = "replicas")]
    pub instances: u32,
    /// Where, by host labels and weight.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread: Vec<SpreadProperty>,
}

/// One spread: hosts whose labels match `requirements`, with a weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpreadProperty {
    /// Its name.
    pub name: String,
    /// Labels the hosts must have.
    #[serde(default, deserialize_with = "text_map")]
    pub requirements: BTreeMap<String, String>,
    /// Its share (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
}

/// A link trait's properties, in the current form (`target: {name, ...}`)
/// or the old one (`target: NAME` with `source_config`/`target_config`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkProperty {
    /// WIT namespace: `wasi`, `wasmcloud`, ...
    pub namespace: String,
    /// WIT package: `http`, `keyvalue`, ...
    pub package: String,
    /// WIT interfaces of the package.
    pub interfaces: Vec<String>,
    /// The link's name (`default` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the source (this component) reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LinkEnd>,
    /// The target and what it reads.
    pub target: LinkTarget,
    /// Old form of `source.config`.
    #[serde(default, skip_serializing)]
    pub source_config: Vec<ConfigProperty>,
    /// Old form of `target.config`, with a `target` given by name.
    #[serde(default, skip_serializing)]
    pub target_config: Vec<ConfigProperty>,
}

/// A link's source side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkEnd {
    /// wadm ignores a name here; its examples write one.
    #[serde(default, skip_serializing)]
    pub name: Option<String>,
    /// Config of this side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secrets of this side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// A link's target: by name alone (old form) or with its side's config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum LinkTarget {
    /// `target: NAME`.
    Name(String),
    /// `target: {name, config, secrets}`.
    Full(TargetEnd),
}

impl<'de> Deserialize<'de> for LinkTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(name) => Ok(Self::Name(name)),
            body => serde_json::from_value(body)
                .map(Self::Full)
                .map_err(|e| serde::de::Error::custom(format!("target: {e}"))),
        }
    }
}

impl LinkTarget {
    /// The target component's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Name(name) => name,
            Self::Full(end) => &end.name,
        }
    }
}

/// A link's target side, current form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEnd {
    /// The target component's name in the manifest.
    pub name: String,
    /// Config of this side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ConfigProperty>,
    /// Secrets of this side.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretProperty>,
}

/// A scalar read as text: YAML writes `port: 8080` and `enabled: true`
/// where a string is meant.
#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Whole(i64),
    Number(f64),
    Flag(bool),
}

impl From<Scalar> for String {
    fn from(scalar: Scalar) -> Self {
        match scalar {
            Scalar::Text(text) => text,
            Scalar::Whole(n) => n.to_string(),
            Scalar::Number(n) => n.to_string(),
            Scalar::Flag(b) => b.to_string(),
        }
    }
}

fn text_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(deserializer)?;
    Ok(map
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into()))
        .collect())
}

fn optional_text_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let map = Option::<BTreeMap<String, Scalar>>::deserialize(deserializer)?;
    Ok(map.map(|map| map.into_iter().map(|(k, v)| (k, v.into())).collect()))
}

//! A Lattice app written back as a wadm manifest (`lattice-ctl get app
//! NAME -o wadm`): what [`super::to_lattice`] reads turns into the same
//! app. Built-in providers are written `wasmcloud+builtin://KIND`, file
//! references `file://PATH`, secrets with `env` and `file` policies.

use std::collections::BTreeMap;

use lattice_interfaces::manifest::Manifest;
use lattice_interfaces::placement::Placement;
use lattice_interfaces::{ArtifactRef, Link};

use super::document::{
    Application, Component, ComponentType, ConfigProperty, LinkEnd, LinkProperty, LinkTarget,
    Metadata, Policy, Properties, ScalerProperty, SecretProperty, SecretSource, Specification,
    SpreadProperty, TargetEnd, Trait, API_VERSION, KIND, SECRET_POLICY,
};
use super::providers::BUILTIN_SCHEME;

/// An actor's most instances on a host when its manifest sets none (the
/// hosts' default).
const DEFAULT_MAX_INSTANCES: u32 = 100;

/// `manifest` (app `name`) as a wadm manifest; an error names what wadm
/// cannot say.
pub fn from_lattice(name: &str, manifest: &Manifest) -> Result<Application, String> {
    let mut components = Vec::new();
    let mut backends = Vec::new();
    for actor in &manifest.actors {
        let what = format!("actor {:?}", actor.id.as_str());
        for (field, set) in [
            ("memory_limit_mib", actor.memory_limit_mib.is_some()),
            ("timeout_ms", actor.timeout_ms.is_some()),
            ("instance_reuse", actor.instance_reuse.is_some()),
            ("min_instances", actor.min_instances.is_some()),
        ] {
            if set {
                return Err(format!("{what}: {field} has no wadm form"));
            }
        }
        let config = actor
            .config
            .iter()
            .map(|name| ConfigProperty {
                name: name.to_string(),
                properties: manifest.config.get(name).cloned(),
            })
            .collect();
        let mut secrets = Vec::new();
        for (key, reference) in &actor.secrets {
            let (backend, key_in_backend) = reference
                .split_once(':')
                .ok_or_else(|| format!("{what}: secret {key:?} is not a reference"))?;
            if !backends.contains(&backend) {
                backends.push(backend);
            }
            secrets.push(SecretProperty {
                name: key.clone(),
                properties: SecretSource {
                    policy: backend.to_string(),
                    key: key_in_backend.to_string(),
                    field: None,
                    version: None,
                },
            });
        }
        let mut traits = Vec::new();
        if let Some(placement) = &actor.placement {
            traits.push(scaler(
                placement,
                actor.max_instances.unwrap_or(DEFAULT_MAX_INSTANCES),
                true,
                &what,
            )?);
        } else if actor.max_instances.is_some() {
            return Err(format!(
                "{what}: max_instances without a placement has no wadm form"
            ));
        }
        traits.extend(links_from(actor.id.as_str(), &manifest.links)?);
        components.push(Component {
            name: actor.id.to_string(),
            component_type: ComponentType::Component,
            properties: Properties {
                image: Some(image_of(&actor.reference)),
                config,
                secrets,
                ..Properties::default()
            },
            traits,
        });
    }
    for provider in &manifest.providers {
        let what = format!("provider {:?}", provider.id.as_str());
        let image = if ArtifactRef::is_oci(&provider.reference) || provider.reference.contains('/')
        {
            image_of(&provider.reference)
        } else {
            format!("{BUILTIN_SCHEME}{}", provider.reference)
        };
        let config = if provider.config.is_empty() {
            Vec::new()
        } else {
            vec![ConfigProperty {
                name: format!("{}-config", provider.id),
                properties: Some(provider.config.clone()),
            }]
        };
        let mut traits = Vec::new();
        if let Some(placement) = &provider.placement {
            traits.push(scaler(placement, placement.replicas(), false, &what)?);
        }
        traits.extend(links_from(provider.id.as_str(), &manifest.links)?);
        components.push(Component {
            name: provider.id.to_string(),
            component_type: ComponentType::Capability,
            properties: Properties {
                image: Some(image),
                config,
                ..Properties::default()
            },
            traits,
        });
    }
    Ok(Application {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        metadata: Metadata {
            name: name.to_string(),
            annotations: BTreeMap::new(),
            labels: BTreeMap::new(),
        },
        spec: Specification {
            components,
            policies: backends
                .into_iter()
                .map(|backend| Policy {
                    name: backend.to_string(),
                    policy_type: SECRET_POLICY.into(),
                    properties: BTreeMap::from([("backend".into(), backend.to_string())]),
                })
                .collect(),
        },
    })
}

/// A component's reference as a wadm image.
fn image_of(reference: &str) -> String {
    match ArtifactRef::parse(reference) {
        ArtifactRef::Oci(image) => image,
        ArtifactRef::File(path) => format!("file://{}", path.display()),
    }
}

/// A placement as a scaler trait: `instances` is an actor's most
/// instances, a provider's hosts.
fn scaler(placement: &Placement, instances: u32, actor: bool, what: &str) -> Result<Trait, String> {
    let spreads: Vec<SpreadProperty> = match &placement.spread {
        Some(spread) => spread
            .weights
            .iter()
            .map(|(value, weight)| {
                let mut requirements = placement.constraints.clone();
                requirements.insert(spread.label.clone(), value.clone());
                SpreadProperty {
                    name: format!("{}-{value}", spread.label),
                    requirements,
                    weight: Some(*weight),
                }
            })
            .collect(),
        None if placement.constraints.is_empty() => Vec::new(),
        None => vec![SpreadProperty {
            name: "constraints".into(),
            requirements: placement.constraints.clone(),
            weight: None,
        }],
    };
    if placement.autoscaled().is_some() {
        return Err(format!(
            "{what}: autoscaled replicas (replicas = {{ min, max }} with scale) have no wadm form"
        ));
    }
    // An actor's wadm form places one host per spread.
    if actor && !placement.daemon {
        let hosts = placement
            .spread
            .as_ref()
            .map_or(1, |s| s.weights.values().filter(|w| **w > 0).count());
        if usize::try_from(placement.replicas()).ok() != Some(hosts) {
            return Err(format!(
                "{what}: {} replicas over {hosts} spread value(s) has no wadm form (wadm places a component once per spread)",
                placement.replicas()
            ));
        }
    }
    let body = ScalerProperty {
        instances,
        spread: spreads,
    };
    Ok(Trait {
        trait_type: if placement.daemon {
            "daemonscaler"
        } else {
            "spreadscaler"
        }
        .into(),
        properties: serde_json::to_value(body).map_err(|e| format!("{what}: {e}"))?,
    })
}

/// The link traits of the links `source` makes.
fn links_from(source: &str, links: &[Link]) -> Result<Vec<Trait>, String> {
    let mut traits = Vec::new();
    for link in links.iter().filter(|l| l.source.as_str() == source) {
        let side = |config: &BTreeMap<String, String>, end: &str| {
            if config.is_empty() {
                Vec::new()
            } else {
                vec![ConfigProperty {
                    name: format!("{}-{}-{}-{end}", link.source, link.target, link.name),
                    properties: Some(config.clone()),
                }]
            }
        };
        let body = LinkProperty {
            namespace: link.namespace.clone(),
            package: link.package.clone(),
            interfaces: link.interfaces.clone(),
            name: (link.name != "default").then(|| link.name.clone()),
            source: (!link.source_config.is_empty()).then(|| LinkEnd {
                name: None,
                config: side(&link.source_config, "source"),
                secrets: Vec::new(),
            }),
            target: LinkTarget::Full(TargetEnd {
                name: link.target.to_string(),
                config: side(&link.target_config, "target"),
                secrets: Vec::new(),
            }),
            source_config: Vec::new(),
            target_config: Vec::new(),
        };
        traits.push(Trait {
            trait_type: "link".into(),
            properties: serde_json::to_value(body).map_err(|e| format!("link {link}: {e}"))?,
        });
    }
    Ok(traits)
}

//! A wadm manifest turned into a Lattice app: components become actors,
//! capabilities providers (wasmCloud's well-known provider images become
//! Lattice's built-in providers, with a notice), scalers placements, link
//! traits links, named config and `env`/`file` secrets what Lattice reads.
//! What Lattice cannot honour is refused with the field named.

use std::collections::BTreeMap;

use lattice_interfaces::manifest::{ActorSpec, AppInfo, LinkSpec, ManifestSpec, ProviderSpec};
use lattice_interfaces::placement::{Placement, Spread};
use lattice_interfaces::ComponentId;

use super::document::{
    Application, ComponentType, ConfigProperty, LinkProperty, LinkTarget, ScalerProperty,
    SecretProperty, TraitBody, API_VERSION, KIND, SECRET_POLICY,
};
use super::providers::{self, WellKnown};

/// A Lattice app made from a wadm manifest, and what the reader should
/// know about how it was made.
#[derive(Debug)]
pub struct Converted {
    /// The app, as if written in Lattice's TOML.
    pub spec: ManifestSpec,
    /// One line each: a wasmCloud provider image served by a built-in
    /// provider, a default filled in.
    pub notices: Vec<String>,
}

/// wadm's spread weight when a spread gives none.
const DEFAULT_WEIGHT: u32 = 100;

/// Turns `app` into a Lattice app; the error is one line naming the field.
pub fn to_lattice(app: &Application) -> Result<Converted, String> {
    if app.api_version != API_VERSION {
        return Err(format!(
            "apiVersion {:?} is not {API_VERSION:?}",
            app.api_version
        ));
    }
    if app.kind != KIND {
        return Err(format!("kind {:?} is not {KIND:?}", app.kind));
    }
    if !app.metadata.labels.is_empty() {
        return Err(
            "metadata.labels: Lattice apps have no labels (annotations are kept as notes only)"
                .into(),
        );
    }
    if app
        .metadata
        .annotations
        .get("experimental.wasmcloud.dev/shared")
        .is_some_and(|v| v == "true")
    {
        return Err("metadata.annotations.experimental.wasmcloud.dev/shared: shared applications are not supported".into());
    }
    let mut notices = Vec::new();
    if let Some(version) = app.metadata.annotations.get("version") {
        notices.push(format!(
            "annotation version {version:?} is kept by wadm only: Lattice numbers an app's versions itself"
        ));
    }
    let backends = secret_backends(app)?;

    // Each component's id: its `id`, or its name.
    let mut ids: BTreeMap<&str, (ComponentId, ComponentType, Option<WellKnown>)> = BTreeMap::new();
    for component in &app.spec.components {
        let what = format!("component {:?}", component.name);
        let id = component
            .properties
            .id
            .as_deref()
            .unwrap_or(&component.name);
        let id = ComponentId::new(id).map_err(|e| format!("{what}: {e}"))?;
        let known = match (component.component_type, &component.properties.image) {
            (ComponentType::Capability, Some(image)) => providers::well_known(image),
            _ => None,
        };
        if ids
            .insert(&component.name, (id, component.component_type, known))
            .is_some()
        {
            return Err(format!("{what} is declared twice"));
        }
    }

    // Each capability's own config, inline, by component name.
    let mut provider_config = BTreeMap::new();
    for component in &app.spec.components {
        if component.component_type == ComponentType::Capability {
            let field = format!("component {:?}: properties.config", component.name);
            provider_config.insert(
                component.name.clone(),
                inline(&component.properties.config, &field)?,
            );
        }
    }

    let mut spec = ManifestSpec {
        app: Some(AppInfo {
            name: app.metadata.name.clone(),
        }),
        ..ManifestSpec::default()
    };
    for component in &app.spec.components {
        let what = format!("component {:?}", component.name);
        let Some((id, _, known)) = ids.get(component.name.as_str()) else {
            continue;
        };
        let properties = &component.properties;
        if properties.application.is_some() {
            return Err(format!(
                "{what}: properties.application: components of shared applications are not supported"
            ));
        }
        let image = properties
            .image
            .as_deref()
            .ok_or_else(|| format!("{what}: properties.image is missing"))?;

        let mut scaler = None;
        for (i, t) in component.traits.iter().enumerate() {
            let field = format!("{what}: traits[{i}] ({})", t.trait_type);
            match t.body().map_err(|e| format!("{field}: {e}"))? {
                TraitBody::Spread(_) | TraitBody::Daemon(_) if scaler.is_some() => {
                    return Err(format!("{field}: a component takes one scaler"));
                }
                TraitBody::Spread(body) => scaler = Some((false, body, field)),
                TraitBody::Daemon(body) => scaler = Some((true, body, field)),
                TraitBody::Link(link) => {
                    spec.links.push(link_of(
                        &link,
                        &component.name,
                        &ids,
                        &provider_config,
                        &field,
                        &mut notices,
                    )?);
                }
            }
        }

        match component.component_type {
            ComponentType::Component => {
                let mut actor = ActorSpec::new(id.clone(), reference_of(image));
                for (i, config) in properties.config.iter().enumerate() {
                    let name = ComponentId::new(config.name.as_str())
                        .map_err(|e| format!("{what}: properties.config[{i}]: {e}"))?;
                    if let Some(values) = &config.properties {
                        if spec.config.get(&name).is_some_and(|kept| kept != values) {
                            return Err(format!(
                                "{what}: properties.config[{i}]: config {:?} is given other properties by another component: one name, one config",
                                config.name
                            ));
                        }
                        spec.config.insert(name.clone(), values.clone());
                    }
                    actor.config.push(name);
                }
                for (i, secret) in properties.secrets.iter().enumerate() {
                    let field = format!("{what}: properties.secrets[{i}] ({:?})", secret.name);
                    let reference = secret_reference(secret, &backends, &field)?;
                    actor.secrets.insert(secret.name.clone(), reference);
                }
                if let Some((daemon, body, field)) = scaler {
                    let (placement, max_instances) = actor_placement(daemon, &body, &field)?;
                    actor.placement = Some(placement);
                    actor.max_instances = Some(max_instances);
                }
                spec.actors.push(actor);
            }
            ComponentType::Capability => {
                if !properties.secrets.is_empty() {
                    return Err(format!(
                        "{what}: properties.secrets: providers take no secrets in Lattice (give a link its settings)"
                    ));
                }
                let reference = match known {
                    Some(known) => {
                        notices.push(format!(
                            "{what}: {image} runs as Lattice's built-in {} provider",
                            known.kind
                        ));
                        known.kind.to_string()
                    }
                    None => reference_of(image),
                };
                let config = provider_config
                    .get(&component.name)
                    .cloned()
                    .unwrap_or_default();
                let placement = scaler
                    .map(|(daemon, body, field)| provider_placement(daemon, &body, &field))
                    .transpose()?;
                spec.providers.push(ProviderSpec {
                    id: id.clone(),
                    reference,
                    config,
                    placement,
                });
            }
        }
    }
    Ok(Converted { spec, notices })
}

/// What a component's `image` names, as a Lattice reference: a path for
/// `file://PATH`, the image otherwise.
fn reference_of(image: &str) -> String {
    match image.strip_prefix("file://") {
        // Written so Lattice reads it as a path, whatever its name.
        Some(path)
            if path.starts_with('/') || path.starts_with("./") || path.starts_with("../") =>
        {
            path.to_string()
        }
        Some(path) => format!("./{path}"),
        None => image.to_string(),
    }
}

/// The secret policies: name → backend (`env` or `file`).
fn secret_backends(app: &Application) -> Result<BTreeMap<&str, &str>, String> {
    let mut backends = BTreeMap::new();
    for (i, policy) in app.spec.policies.iter().enumerate() {
        let field = format!("spec.policies[{i}] ({:?})", policy.name);
        if policy.policy_type != SECRET_POLICY {
            return Err(format!(
                "{field}: type {:?} is not supported (only {SECRET_POLICY})",
                policy.policy_type
            ));
        }
        if let Some(key) = policy.properties.keys().find(|k| *k != "backend") {
            return Err(format!(
                "{field}: properties.{key} is not supported (only backend)"
            ));
        }
        match policy.properties.get("backend").map(String::as_str) {
            Some(backend @ ("env" | "file")) => {
                backends.insert(policy.name.as_str(), backend);
            }
            other => {
                return Err(format!(
                    "{field}: backend {other:?} is not one Lattice reads: use backend: env (a secret's key names an environment variable LATTICE_SECRET_...) or backend: file (its key is an absolute path)"
                ))
            }
        }
    }
    Ok(backends)
}

/// A secret as a Lattice secret reference (`env:KEY`, `file:KEY`).
fn secret_reference(
    secret: &SecretProperty,
    backends: &BTreeMap<&str, &str>,
    field: &str,
) -> Result<String, String> {
    let source = &secret.properties;
    if source.field.is_some() || source.version.is_some() {
        return Err(format!(
            "{field}: properties.field and properties.version are not supported"
        ));
    }
    let backend = backends.get(source.policy.as_str()).ok_or_else(|| {
        format!(
            "{field}: policy {:?} is not in spec.policies",
            source.policy
        )
    })?;
    let reference = format!("{backend}:{}", source.key);
    lattice_interfaces::secret::SecretRef::parse(&reference)
        .map_err(|e| format!("{field}: {e}"))?;
    Ok(reference)
}

/// Named configs with values merged in order; one without values (kept
/// elsewhere) is refused.
fn inline(configs: &[ConfigProperty], field: &str) -> Result<BTreeMap<String, String>, String> {
    let mut merged = BTreeMap::new();
    for (i, config) in configs.iter().enumerate() {
        let Some(values) = &config.properties else {
            return Err(format!(
                "{field}[{i}] ({:?}) has no properties: here Lattice takes config written in the manifest",
                config.name
            ));
        };
        merged.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(merged)
}

fn no_secrets(secrets: &[SecretProperty], field: &str) -> Result<(), String> {
    if secrets.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{field}: links carry no secrets in Lattice (use a secret reference the provider reads)"
        ))
    }
}

/// A link trait of component `source` as a Lattice link.
fn link_of(
    link: &LinkProperty,
    source: &str,
    ids: &BTreeMap<&str, (ComponentId, ComponentType, Option<WellKnown>)>,
    provider_config: &BTreeMap<String, BTreeMap<String, String>>,
    field: &str,
    notices: &mut Vec<String>,
) -> Result<LinkSpec, String> {
    let target_name = link.target.name();
    let (source_id, source_type, source_known) = ids
        .get(source)
        .ok_or_else(|| format!("{field}: no component named {source:?}"))?;
    let (target_id, target_type, target_known) = ids.get(target_name).ok_or_else(|| {
        format!("{field}: target {target_name:?} is not a component of this manifest")
    })?;
    if *source_type == ComponentType::Capability && *target_type == ComponentType::Capability {
        return Err(format!(
            "{field}: a provider cannot link to a provider ({source:?} to {target_name:?})"
        ));
    }
    if link.interfaces.is_empty() {
        return Err(format!("{field}: interfaces is empty"));
    }
    let source_end = link.source.clone().unwrap_or_default();
    no_secrets(&source_end.secrets, &format!("{field}: source.secrets"))?;
    // The old form's lists first, then the current form's.
    let source_configs: Vec<ConfigProperty> = link
        .source_config
        .iter()
        .chain(&source_end.config)
        .cloned()
        .collect();
    let mut target_configs = link.target_config.clone();
    if let LinkTarget::Full(end) = &link.target {
        no_secrets(&end.secrets, &format!("{field}: target.secrets"))?;
        target_configs.extend(end.config.iter().cloned());
    }
    let mut spec = LinkSpec {
        source: source_id.clone(),
        target: target_id.clone(),
        interface: format!(
            "{}:{}/{}",
            link.namespace,
            link.package,
            link.interfaces.join(",")
        ),
        name: link.name.clone().filter(|name| name != "default"),
        source_config: inline(&source_configs, &format!("{field}: source.config"))?,
        target_config: inline(&target_configs, &format!("{field}: target.config"))?,
    };
    // A built-in provider reads its settings from the link: what the
    // manifest gave wasmCloud's provider as its own config is each link's
    // default, then what wasmCloud's provider assumes.
    if let Some(known) = source_known {
        let defaults = provider_config.get(source).cloned().unwrap_or_default();
        fold(&mut spec.source_config, defaults, &spec.target_config);
        let other = spec.target_config.clone();
        providers::fill_defaults(
            known,
            &mut spec.source_config,
            &other,
            target_id,
            notices,
            field,
        )?;
    }
    if let Some(known) = target_known {
        let defaults = provider_config
            .get(target_name)
            .cloned()
            .unwrap_or_default();
        fold(&mut spec.target_config, defaults, &spec.source_config);
        let other = spec.source_config.clone();
        providers::fill_defaults(
            known,
            &mut spec.target_config,
            &other,
            source_id,
            notices,
            field,
        )?;
    }
    Ok(spec)
}

/// Adds `defaults` to `side` where neither end of the link sets the key.
fn fold(
    side: &mut BTreeMap<String, String>,
    defaults: BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
) {
    for (key, value) in defaults {
        if !side.contains_key(&key) && !other.contains_key(&key) {
            side.insert(key, value);
        }
    }
}

/// Hosts a set of spreads selects: what every spread requires alike
/// (constraints), and the one label the spreads differ in, with each
/// value's weight.
fn spread_of(
    body: &ScalerProperty,
    field: &str,
) -> Result<(BTreeMap<String, String>, Option<Spread>), String> {
    let Some(first) = body.spread.first() else {
        return Ok((BTreeMap::new(), None));
    };
    let common: BTreeMap<String, String> = first
        .requirements
        .iter()
        .filter(|(k, v)| {
            body.spread
                .iter()
                .all(|s| s.requirements.get(*k) == Some(*v))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if body.spread.len() == 1 {
        return Ok((common, None));
    }
    let mut label: Option<&str> = None;
    let mut weights = BTreeMap::new();
    for spread in &body.spread {
        let mut rest = spread
            .requirements
            .iter()
            .filter(|(k, _)| !common.contains_key(*k));
        let (Some((key, value)), None) = (rest.next(), rest.next()) else {
            return Err(format!(
                "{field}: spread {:?}: Lattice spreads over the values of one label; its requirements differ from the others' in {} labels",
                spread.name,
                spread.requirements.keys().filter(|k| !common.contains_key(*k)).count()
            ));
        };
        if label.is_some_and(|l| l != key) {
            return Err(format!(
                "{field}: spread {:?} differs in label {key:?}, another in {:?}: Lattice spreads over one label",
                spread.name,
                label.unwrap_or_default()
            ));
        }
        label = Some(key);
        if weights
            .insert(value.clone(), spread.weight.unwrap_or(DEFAULT_WEIGHT))
            .is_some()
        {
            return Err(format!("{field}: two spreads ask for {key}={value}"));
        }
    }
    Ok((
        common,
        label.map(|label| Spread {
            label: label.to_string(),
            weights,
        }),
    ))
}

/// A component's scaler: its placement (a host per spread) and its most
/// instances at once (wadm's `instances`).
fn actor_placement(
    daemon: bool,
    body: &ScalerProperty,
    field: &str,
) -> Result<(Placement, u32), String> {
    if body.instances == 0 {
        return Err(format!(
            "{field}: instances 0 runs nothing: leave the component out, or delete the app"
        ));
    }
    let (constraints, spread) = spread_of(body, field)?;
    if daemon && spread.is_some() {
        return Err(format!(
            "{field}: a daemonscaler over several spreads is not supported (one spread: its requirements)"
        ));
    }
    let replicas = spread
        .as_ref()
        .map(|s| u32::try_from(s.weights.values().filter(|w| **w > 0).count()).unwrap_or(u32::MAX));
    Ok((
        Placement {
            replicas: if daemon {
                None
            } else {
                replicas.map(Into::into)
            },
            daemon,
            constraints,
            spread,
            scale: None,
        },
        body.instances,
    ))
}

/// A provider's scaler: `instances` hosts (spreadscaler), or every
/// matching host (daemonscaler).
fn provider_placement(
    daemon: bool,
    body: &ScalerProperty,
    field: &str,
) -> Result<Placement, String> {
    if body.instances == 0 {
        return Err(format!(
            "{field}: instances 0 runs nothing: leave the provider out, or delete the app"
        ));
    }
    let (constraints, spread) = spread_of(body, field)?;
    if daemon && spread.is_some() {
        return Err(format!(
            "{field}: a daemonscaler over several spreads is not supported (one spread: its requirements)"
        ));
    }
    Ok(Placement {
        replicas: (!daemon).then_some(body.instances.into()),
        daemon,
        constraints,
        spread,
        scale: None,
    })
}

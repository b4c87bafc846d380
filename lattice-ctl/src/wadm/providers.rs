//! wasmCloud's well-known capability provider images, and the Lattice
//! built-in provider that serves each; with the defaults wasmCloud's
//! providers assume where a link leaves a setting out.

use std::collections::BTreeMap;

use lattice_interfaces::ComponentId;

/// A wasmCloud provider Lattice serves with one of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WellKnown {
    /// wasmCloud's name for it (`keyvalue-redis`).
    pub name: &'static str,
    /// The Lattice built-in provider (`keyvalue`).
    pub kind: &'static str,
}

/// wasmCloud's name → Lattice's built-in kind.
const WELL_KNOWN: &[WellKnown] = &[
    WellKnown {
        name: "http-server",
        kind: "http-server",
    },
    WellKnown {
        name: "http-client",
        kind: "http-client",
    },
    WellKnown {
        name: "keyvalue-redis",
        kind: "keyvalue",
    },
    WellKnown {
        name: "keyvalue-nats",
        kind: "keyvalue",
    },
    WellKnown {
        name: "messaging-nats",
        kind: "messaging-nats",
    },
    WellKnown {
        name: "blobstore-fs",
        kind: "blobstore",
    },
    WellKnown {
        name: "blobstore-nats",
        kind: "blobstore",
    },
];

/// Where wasmCloud publishes its providers.
const REGISTRIES: &[&str] = &["ghcr.io/wasmcloud/", "wasmcloud.azurecr.io/"];

/// The scheme of providers built into a host, in wasmCloud and here.
pub const BUILTIN_SCHEME: &str = "wasmcloud+builtin://";

/// Lattice's own built-in kinds, which `wasmcloud+builtin://KIND` names too.
const LATTICE_KINDS: &[&str] = &[
    "http-server",
    "http-client",
    "keyvalue",
    "blobstore",
    "messaging-nats",
];

/// The built-in provider serving `image`, any tag: one of wasmCloud's
/// images, or `wasmcloud+builtin://NAME`.
pub fn well_known(image: &str) -> Option<WellKnown> {
    if let Some(name) = image.strip_prefix(BUILTIN_SCHEME) {
        return WELL_KNOWN
            .iter()
            .find(|known| known.name == name)
            .copied()
            .or_else(|| {
                LATTICE_KINDS
                    .iter()
                    .find(|kind| **kind == name)
                    .map(|kind| WellKnown { name: kind, kind })
            });
    }
    let repository = REGISTRIES
        .iter()
        .find_map(|registry| image.strip_prefix(registry))?;
    let name = repository.split(['@', ':']).next().unwrap_or(repository);
    WELL_KNOWN.iter().find(|known| known.name == name).copied()
}

/// Whether either end of a link sets one of `keys` (the names the
/// built-in provider reads the setting by).
fn has(config: &BTreeMap<String, String>, other: &BTreeMap<String, String>, keys: &[&str]) -> bool {
    keys.iter()
        .any(|key| config.contains_key(*key) || other.contains_key(*key))
}

/// Settings wasmCloud's keyvalue-nats reads that Lattice's key-value
/// provider does not.
const KEYVALUE_NATS_UNREAD: &[&str] = &[
    "js_domain",
    "tls_ca_file",
    "tls_ca",
    "client_jwt",
    "client_seed",
    "enable_bucket_auto_create",
];

/// Fills in what wasmCloud's provider `known` assumes when a link leaves
/// it out: `config` is the provider's end of the link, `other` the other
/// end's settings, `other_id` the other end. Each default filled is a
/// notice; a setting Lattice's provider cannot honour is refused.
pub fn fill_defaults(
    known: &WellKnown,
    config: &mut BTreeMap<String, String>,
    other: &BTreeMap<String, String>,
    other_id: &ComponentId,
    notices: &mut Vec<String>,
    field: &str,
) -> Result<(), String> {
    let mut defaults: Vec<(&str, String, &str)> = Vec::new();
    match known.name {
        "http-server" if !has(config, other, &["address"]) => {
            defaults.push((
                "address",
                "0.0.0.0:8000".into(),
                "wasmCloud's http-server default",
            ));
        }
        "keyvalue-redis" => {
            if !has(config, other, &["url", "URL"]) {
                defaults.push((
                    "url",
                    "redis://127.0.0.1:6379".into(),
                    "wasmCloud's keyvalue-redis default",
                ));
            }
            if !has(config, other, &["key_prefix"]) {
                defaults.push((
                    "key_prefix",
                    "none".into(),
                    "keys as wasmCloud's keyvalue-redis stores them, without the bucket",
                ));
            }
        }
        "http-client" if !has(config, other, &["allowed_hosts"]) => {
            notices.push(format!(
                "{field}: no allowed_hosts: this actor's outgoing HTTP is denied until the link lists where it may go (wasmCloud's http-client let it go anywhere)"
            ));
        }
        "keyvalue-nats" => {
            if !has(config, other, &["bucket"]) {
                return Err(format!(
                    "{field}: keyvalue-nats needs a bucket (target.config bucket: NAME)"
                ));
            }
            if let Some(key) = KEYVALUE_NATS_UNREAD
                .iter()
                .find(|key| has(config, other, &[**key]))
            {
                return Err(format!(
                    "{field}: {key} is not read by Lattice's key-value provider (its NATS settings are bucket and cluster_uri)"
                ));
            }
        }
        "blobstore-fs" if !has(config, other, &["root", "ROOT"]) => {
            let root = std::env::temp_dir().join(other_id.as_str());
            defaults.push((
                "root",
                root.display().to_string(),
                "wasmCloud's blobstore-fs default",
            ));
        }
        "blobstore-nats" if !has(config, other, &["bucket"]) => {
            defaults.push((
                "bucket",
                "blobstore".into(),
                "Lattice keeps a link's containers in one object store bucket",
            ));
        }
        _ => {}
    }
    for (key, value, why) in defaults {
        notices.push(format!("{field}: {key} = {value:?} ({why})"));
        config.insert(key.to_string(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasmclouds_images_of_any_tag_map_to_built_in_providers() {
        let kind = |image| well_known(image).map(|k| k.kind);
        assert_eq!(
            kind("ghcr.io/wasmcloud/http-server:0.27.0"),
            Some("http-server")
        );
        assert_eq!(
            kind("ghcr.io/wasmcloud/keyvalue-redis:0.30.0"),
            Some("keyvalue")
        );
        assert_eq!(
            kind("ghcr.io/wasmcloud/keyvalue-nats@sha256:abc"),
            Some("keyvalue")
        );
        assert_eq!(
            kind("wasmcloud.azurecr.io/messaging-nats:0.17.0"),
            Some("messaging-nats")
        );
        assert_eq!(kind("wasmcloud+builtin://http-client"), Some("http-client"));
        assert_eq!(kind("wasmcloud+builtin://blobstore"), Some("blobstore"));
        assert_eq!(kind("ghcr.io/wasmcloud/keyvalue-vault:0.12.1"), None);
        assert_eq!(kind("ghcr.io/someone/http-server:0.27.0"), None);
        assert_eq!(kind("wasmcloud+builtin://nope"), None);
    }
}

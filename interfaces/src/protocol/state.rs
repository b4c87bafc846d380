//! The lattice's state in its JetStream KV bucket `LATTICE_<L>`: links,
//! claims and named config, as JSON. Every host watches the bucket, so a host
//! that starts late or restarts knows everything at once, and no host is the
//! only holder of any of it.
//!
//! | key | value |
//! |---|---|
//! | `link.<source>.<namespace>.<package>.<name>` | a [`Link`](crate::Link) |
//! | `claims.<subject>` | the [`Claims`](crate::claims::Claims) of an actor a host ran |
//! | `config.<name>` | a JSON object of strings |
//! | `apps` | every app: its versions and which one is current ([`Apps`](super::app::Apps)) |
//! | `appstatus.<name>` | what the reconciler last found for an app ([`AppStatus`](super::app::AppStatus)) |
//! | `reconciler.lease` | which host reconciles, until when ([`Lease`](super::app::Lease)) |
//!
//! Writers use the KV revision (compare-and-set), so two concurrent writes
//! to one key never lose one silently.

use crate::{ComponentId, LinkKey};

/// Why a name cannot be part of a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?} cannot be part of a KV key: use a-z, 0-9, '-' and '_'")]
pub struct KeyError {
    /// Which part.
    pub what: &'static str,
    /// The value.
    pub value: String,
}

fn token(what: &'static str, value: &str) -> Result<(), KeyError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(KeyError {
            what,
            value: value.to_string(),
        })
    }
}

/// The key of a link.
pub fn link_key(key: &LinkKey) -> Result<String, KeyError> {
    token("namespace", &key.namespace)?;
    token("package", &key.package)?;
    token("link name", &key.name)?;
    Ok(format!(
        "link.{}.{}.{}.{}",
        key.source, key.namespace, key.package, key.name
    ))
}

/// Prefix of every link key.
pub const LINK_PREFIX: &str = "link.";

/// The key of an actor's claims.
pub fn claims_key(subject: &str) -> Result<String, KeyError> {
    if subject
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !subject.is_empty()
    {
        Ok(format!("claims.{subject}"))
    } else {
        Err(KeyError {
            what: "claims subject",
            value: subject.to_string(),
        })
    }
}

/// Prefix of every claims key.
pub const CLAIMS_PREFIX: &str = "claims.";

/// The key of named config.
pub fn config_key(name: &ComponentId) -> String {
    format!("config.{name}")
}

/// Prefix of every config key.
pub const CONFIG_PREFIX: &str = "config.";

/// Prefix of every revoked provider key: `revoked.<public key>`, the
/// signed revocation as JSON.
pub const REVOKED_PREFIX: &str = "revoked.";

/// The key of every app's record.
pub const APPS_KEY: &str = "apps";

/// The key of the reconciler's lease.
pub const LEASE_KEY: &str = "reconciler.lease";

/// The key of an app's status; fails for a name that cannot be a key.
pub fn app_status_key(name: &str) -> Result<String, KeyError> {
    token("app name", name)?;
    Ok(format!("appstatus.{name}"))
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn link_keys_are_one_token_each() {
        let key = LinkKey {
            source: ComponentId::new("http").unwrap(),
            namespace: "wasi".into(),
            package: "http".into(),
            name: "default".into(),
        };
        assert_eq!(link_key(&key).unwrap(), "link.http.wasi.http.default");
        let bad = LinkKey {
            name: "a.b".into(),
            ..key
        };
        assert!(link_key(&bad).is_err());
    }
}

//! Links: the only way one component may call another.
//!
//! A link says that `source` may call `target` over a contract, under a name
//! (`default` unless told). It is keyed by `(source, namespace:package, name)`:
//! one source has at most one target per package and link name, so a call
//! never has to guess between two targets. Configuration travels with the
//! link: `source_config` for the caller's side (the HTTP server reads its
//! `address` there), `target_config` for the callee's.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{ComponentId, Contract};

/// The link name used when none is given.
pub const DEFAULT_LINK_NAME: &str = "default";

fn default_link_name() -> String {
    DEFAULT_LINK_NAME.to_string()
}

/// A link from a caller to a callee over one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// The caller: an actor, or a provider that delivers calls (HTTP server).
    pub source: ComponentId,
    /// The callee.
    pub target: ComponentId,
    /// WIT namespace of the contract, e.g. `wasi`.
    pub namespace: String,
    /// WIT package of the contract, e.g. `http`.
    pub package: String,
    /// Interfaces of the package the link carries.
    pub interfaces: Vec<String>,
    /// Link name; lets one source reach several targets of one contract.
    #[serde(default = "default_link_name")]
    pub name: String,
    /// Configuration for the source's side.
    #[serde(default)]
    pub source_config: BTreeMap<String, String>,
    /// Configuration for the target's side.
    #[serde(default)]
    pub target_config: BTreeMap<String, String>,
}

/// What identifies a link: at most one link per key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LinkKey {
    /// The caller.
    pub source: ComponentId,
    /// WIT namespace.
    pub namespace: String,
    /// WIT package.
    pub package: String,
    /// Link name.
    pub name: String,
}

impl Link {
    /// A link with the default name and no configuration.
    pub fn new(source: ComponentId, target: ComponentId, contract: Contract) -> Self {
        Self {
            source,
            target,
            namespace: contract.namespace,
            package: contract.package,
            interfaces: contract.interfaces,
            name: default_link_name(),
            source_config: BTreeMap::new(),
            target_config: BTreeMap::new(),
        }
    }

    /// The contract this link carries.
    pub fn contract(&self) -> Contract {
        Contract {
            namespace: self.namespace.clone(),
            package: self.package.clone(),
            interfaces: self.interfaces.clone(),
        }
    }

    /// The key under which this link is stored.
    pub fn key(&self) -> LinkKey {
        LinkKey {
            source: self.source.clone(),
            namespace: self.namespace.clone(),
            package: self.package.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether this link carries `interface`.
    pub fn carries(&self, interface: crate::contract::Interface<'_>) -> bool {
        self.namespace == interface.namespace
            && self.package == interface.package
            && self.interfaces.iter().any(|i| i == interface.name)
    }

    /// A config value, looked up in `source_config` first, then `target_config`.
    pub fn config(&self, key: &str) -> Option<&str> {
        self.source_config
            .get(key)
            .or_else(|| self.target_config.get(key))
            .map(String::as_str)
    }

    /// The value of the first of `keys` the link sets (on either side, as
    /// [`Self::config`]): a setting under Lattice's name, then under the
    /// names wasmCloud's providers read it by.
    pub fn config_of(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|key| self.config(key))
    }

    /// The link as events and logs show it: config values that are URLs
    /// (`redis://user:password@host`) lose their credentials.
    pub fn redacted(&self) -> Self {
        let shown = |config: &BTreeMap<String, String>| {
            config
                .iter()
                .map(|(key, value)| {
                    let value = if value.contains("://") {
                        crate::redacted(value)
                    } else {
                        value.clone()
                    };
                    (key.clone(), value)
                })
                .collect()
        };
        Self {
            source_config: shown(&self.source_config),
            target_config: shown(&self.target_config),
            ..self.clone()
        }
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {} {}", self.source, self.target, self.contract())?;
        if self.name != DEFAULT_LINK_NAME {
            write!(f, " (name {})", self.name)?;
        }
        Ok(())
    }
}

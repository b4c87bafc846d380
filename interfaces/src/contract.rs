//! Contracts: the WIT interfaces a link carries, written
//! `namespace:package/interface[,interface...]`, e.g. `wasi:http/incoming-handler`
//! or `wasi:keyvalue/store,atomics`.
//!
//! One [`Interface`] names one of them; [`standard`] has the interfaces of
//! the standard contracts, so no crate spells them as strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string is not a contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contract {text:?} is not of the form namespace:package/interface[,interface]: {reason}")]
pub struct ContractError {
    /// The rejected text.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One or more interfaces of one WIT package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Contract {
    /// WIT namespace, e.g. `wasi`.
    pub namespace: String,
    /// WIT package, e.g. `http`.
    pub package: String,
    /// Interface names within the package, e.g. `["incoming-handler"]`.
    pub interfaces: Vec<String>,
}

/// One WIT interface, `namespace:package/interface`, without a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interface<'a> {
    /// WIT namespace, e.g. `wasi`.
    pub namespace: &'a str,
    /// WIT package, e.g. `keyvalue`.
    pub package: &'a str,
    /// The interface, e.g. `store`.
    pub name: &'a str,
}

impl<'a> Interface<'a> {
    /// `namespace:package/name`.
    pub const fn new(namespace: &'a str, package: &'a str, name: &'a str) -> Self {
        Self {
            namespace,
            package,
            name,
        }
    }

    /// Splits `ns:pkg/iface` (an `@version` is dropped); `None` when `text`
    /// is not of that form.
    pub fn parse(text: &'a str) -> Option<Self> {
        let text = text.split_once('@').map_or(text, |(name, _)| name);
        let (namespace, rest) = text.split_once(':')?;
        let (package, name) = rest.split_once('/')?;
        Some(Self::new(namespace, package, name))
    }
}

impl fmt::Display for Interface<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}/{}", self.namespace, self.package, self.name)
    }
}

/// The interfaces of the standard contracts.
pub mod standard {
    use super::Interface;

    /// Ingress: the HTTP server provider calls actors with it.
    pub const HTTP_INCOMING_HANDLER: Interface<'static> =
        Interface::new("wasi", "http", "incoming-handler");
    /// Egress: actors send HTTP requests through the HTTP client provider.
    pub const HTTP_OUTGOING_HANDLER: Interface<'static> =
        Interface::new("wasi", "http", "outgoing-handler");
    /// Key-value: get, set, delete, exists, list keys.
    pub const KEYVALUE_STORE: Interface<'static> = Interface::new("wasi", "keyvalue", "store");
    /// Key-value: atomic increment.
    pub const KEYVALUE_ATOMICS: Interface<'static> = Interface::new("wasi", "keyvalue", "atomics");
    /// Key-value: many keys at once.
    pub const KEYVALUE_BATCH: Interface<'static> = Interface::new("wasi", "keyvalue", "batch");
    /// Messaging: actors publish and request.
    pub const MESSAGING_CONSUMER: Interface<'static> =
        Interface::new("wasmcloud", "messaging", "consumer");
    /// Messaging: the provider hands actors the messages of a subscription.
    pub const MESSAGING_HANDLER: Interface<'static> =
        Interface::new("wasmcloud", "messaging", "handler");
}

fn is_wit_word(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl Contract {
    /// Parses `namespace:package/interface[,interface...]`. A version
    /// (`@0.2.0`) is not part of a contract: links match any version.
    pub fn parse(text: &str) -> Result<Self, ContractError> {
        let err = |reason| ContractError {
            text: text.to_string(),
            reason,
        };
        let (namespace, rest) = text.split_once(':').ok_or_else(|| err("missing ':'"))?;
        let (package, interfaces) = rest.split_once('/').ok_or_else(|| err("missing '/'"))?;
        if !is_wit_word(namespace) {
            return Err(err("bad namespace"));
        }
        if !is_wit_word(package) {
            return Err(err("bad package"));
        }
        let interfaces: Vec<String> = interfaces
            .split(',')
            .map(|i| i.trim().to_string())
            .collect();
        if interfaces.iter().any(|i| !is_wit_word(i)) {
            return Err(err("bad interface name"));
        }
        Ok(Self {
            namespace: namespace.to_string(),
            package: package.to_string(),
            interfaces,
        })
    }

    /// Whether this contract includes `interface`.
    pub fn includes(&self, interface: Interface<'_>) -> bool {
        self.namespace == interface.namespace
            && self.package == interface.package
            && self.interfaces.iter().any(|i| i == interface.name)
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}/{}",
            self.namespace,
            self.package,
            self.interfaces.join(",")
        )
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn parses_one_and_many_interfaces() {
        let c = Contract::parse("wasi:http/incoming-handler").unwrap();
        assert!(c.includes(standard::HTTP_INCOMING_HANDLER));
        let c = Contract::parse("wasi:keyvalue/store,atomics").unwrap();
        assert_eq!(c.interfaces, ["store", "atomics"]);
        assert_eq!(c.to_string(), "wasi:keyvalue/store,atomics");
    }

    #[test]
    fn refuses_garbage() {
        for text in [
            "",
            "wasi",
            "wasi:http",
            "wasi/http",
            ":http/x",
            "wasi:/x",
            "wasi:http/",
            "wasi:http/a,,b",
            "WASI:http/x",
            "wasi:http/x.y",
        ] {
            assert!(Contract::parse(text).is_err(), "{text:?} should be refused");
        }
    }
}

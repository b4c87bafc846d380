//! Contracts: the WIT interfaces a link carries, written
//! `namespace:package/interface[,interface...]`, e.g. `wasi:http/incoming-handler`
//! or `wasi:keyvalue/store,atomics`.

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

    /// Whether this contract includes `namespace:package/interface`.
    pub fn includes(&self, namespace: &str, package: &str, interface: &str) -> bool {
        self.namespace == namespace
            && self.package == package
            && self.interfaces.iter().any(|i| i == interface)
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
        assert!(c.includes("wasi", "http", "incoming-handler"));
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

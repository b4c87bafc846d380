//! The link table: every link this host knows, by key.
//!
//! At most one link per key `(source, namespace:package, name)`. Putting a
//! link whose key exists with the same target updates it (new config, new
//! interfaces); with another target it is refused, naming the link that
//! holds the key, so two operators never overwrite each other silently.

use std::collections::BTreeMap;

use lattice_interfaces::{ComponentId, Interface, Link, LinkKey};

/// The link name calls use when the caller names none.
pub const DEFAULT_NAME: &str = lattice_interfaces::link::DEFAULT_LINK_NAME;

/// Why a link was refused by the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("link {new} clashes with existing link {existing}: delete it first or give the new link another name")]
pub struct LinkClash {
    /// The refused link, displayed.
    pub new: String,
    /// The link holding its key, displayed.
    pub existing: String,
}

/// Links by key.
#[derive(Debug, Default, Clone)]
pub struct LinkTable {
    links: BTreeMap<LinkKey, Link>,
}

impl LinkTable {
    /// Inserts or updates `link`; returns the link it replaced.
    pub fn put(&mut self, link: Link) -> Result<Option<Link>, LinkClash> {
        let key = link.key();
        if let Some(existing) = self.links.get(&key) {
            if existing.target != link.target {
                return Err(LinkClash {
                    new: link.to_string(),
                    existing: existing.to_string(),
                });
            }
        }
        Ok(self.links.insert(key, link))
    }

    /// Removes the link with `key`.
    pub fn delete(&mut self, key: &LinkKey) -> Option<Link> {
        self.links.remove(key)
    }

    /// The link with `key`.
    pub fn get(&self, key: &LinkKey) -> Option<&Link> {
        self.links.get(key)
    }

    /// The link from `source` that carries `interface` under `name`: the
    /// one a call from `source` travels over.
    pub fn resolve(
        &self,
        source: &ComponentId,
        interface: Interface<'_>,
        name: &str,
    ) -> Option<&Link> {
        let key = LinkKey {
            source: source.clone(),
            namespace: interface.namespace.to_string(),
            package: interface.package.to_string(),
            name: name.to_string(),
        };
        self.links.get(&key).filter(|link| link.carries(interface))
    }

    /// Every link, in key order.
    pub fn iter(&self) -> impl Iterator<Item = &Link> {
        self.links.values()
    }

    /// Links that name `id` as source or target.
    pub fn involving<'a>(&'a self, id: &'a ComponentId) -> impl Iterator<Item = &'a Link> + 'a {
        self.links
            .values()
            .filter(move |l| &l.source == id || &l.target == id)
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;
    use lattice_interfaces::Contract;

    fn link(source: &str, target: &str, contract: &str) -> Link {
        Link::new(
            ComponentId::new(source).unwrap(),
            ComponentId::new(target).unwrap(),
            Contract::parse(contract).unwrap(),
        )
    }

    #[test]
    fn same_key_same_target_updates() {
        let mut table = LinkTable::default();
        table
            .put(link("hello", "kv", "wasi:keyvalue/store"))
            .unwrap();
        let replaced = table
            .put(link("hello", "kv", "wasi:keyvalue/store,atomics"))
            .unwrap();
        assert!(replaced.is_some());
        let found = table
            .resolve(
                &ComponentId::new("hello").unwrap(),
                lattice_interfaces::standard::KEYVALUE_ATOMICS,
                "default",
            )
            .unwrap();
        assert_eq!(found.target.as_str(), "kv");
    }

    #[test]
    fn same_key_other_target_is_refused_naming_the_holder() {
        let mut table = LinkTable::default();
        table
            .put(link("hello", "kv", "wasi:keyvalue/store"))
            .unwrap();
        let clash = table
            .put(link("hello", "redis", "wasi:keyvalue/store"))
            .unwrap_err();
        assert_eq!(clash.existing, "hello -> kv wasi:keyvalue/store");
        let mut named = link("hello", "redis", "wasi:keyvalue/store");
        named.name = "cache".into();
        assert!(table.put(named).is_ok());
    }

    #[test]
    fn resolve_needs_the_interface_and_name() {
        let mut table = LinkTable::default();
        table
            .put(link("hello", "kv", "wasi:keyvalue/store"))
            .unwrap();
        let hello = ComponentId::new("hello").unwrap();
        assert!(table
            .resolve(
                &hello,
                lattice_interfaces::standard::KEYVALUE_ATOMICS,
                "default"
            )
            .is_none());
        assert!(table
            .resolve(
                &hello,
                lattice_interfaces::standard::KEYVALUE_STORE,
                "other"
            )
            .is_none());
    }
}

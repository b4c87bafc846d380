//! A provider process's view of the links that name it, kept from the
//! lattice's bucket through [`lattice_rpc::LinkWatch`] (which re-reads every
//! link when its watch ends), so the process never serves stale links and
//! never has to restart to catch up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_nats::jetstream::kv::{self, Operation};
use lattice_interfaces::capability::{Capability, ProviderContext};
use lattice_interfaces::protocol::link_entry::{self, LinkSigners};
use lattice_interfaces::Link;
use lattice_rpc::LinkChange;

/// The links that name this provider, by KV key.
pub(crate) type LinkTable = Arc<RwLock<HashMap<String, Link>>>;

/// Applies changes to the provider and its link table.
pub(crate) struct LinkApplier<'a> {
    pub(crate) context: &'a ProviderContext,
    pub(crate) provider: &'a dyn Capability,
    pub(crate) links: &'a LinkTable,
    pub(crate) signers: &'a LinkSigners,
}

impl LinkApplier<'_> {
    /// Applies `change`.
    pub(crate) fn apply(&self, change: LinkChange) {
        match change {
            LinkChange::Entry(entry) => self.entry(entry),
            LinkChange::Snapshot(entries) => {
                let present: HashSet<String> = entries
                    .iter()
                    .filter(|e| e.operation == Operation::Put)
                    .map(|e| e.key.clone())
                    .collect();
                let gone: Vec<String> = self
                    .links
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .keys()
                    .filter(|key| !present.contains(*key))
                    .cloned()
                    .collect();
                for key in gone {
                    self.remove(&key);
                }
                for entry in entries {
                    self.entry(entry);
                }
            }
        }
    }

    fn entry(&self, entry: kv::Entry) {
        match entry.operation {
            Operation::Put => self.put(entry.key, &entry.value),
            Operation::Delete | Operation::Purge => self.remove(&entry.key),
        }
    }

    fn remove(&self, key: &str) {
        let removed = self
            .links
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
        if let Some(link) = removed {
            self.provider.delete_link(&link);
        }
    }

    /// Applies the link stored at `key` (`value`, untrusted bytes) when it
    /// names the provider; a link that moved to another provider is taken
    /// away. Only entries a trusted host signed: one written straight into
    /// the bucket by anyone else changes nothing here.
    fn put(&self, key: String, value: &[u8]) {
        let link = match link_entry::open(&key, value, self.signers) {
            Ok(link) => link,
            Err(refused) => {
                tracing::warn!(%refused, "link entry refused");
                return;
            }
        };
        let mut known = self
            .links
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if link.target == self.context.id || link.source == self.context.id {
            if known.get(&key) == Some(&link) {
                return;
            }
            if let Err(error) = self.provider.put_link(&link) {
                tracing::warn!(%link, %error, "cannot serve a link");
                self.context.calls.report_error(&link, &error);
            }
            known.insert(key, link);
        } else if let Some(moved) = known.remove(&key) {
            // The link now names another provider: it no longer authorises
            // calls to this one.
            self.provider.delete_link(&moved);
        }
    }
}

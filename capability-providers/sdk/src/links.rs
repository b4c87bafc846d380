//! A provider process's view of the links that name it, kept from the
//! lattice's bucket through [`lattice_rpc::LinkWatch`] (which re-reads every
//! link when its watch ends), so the process never serves stale links and
//! never has to restart to catch up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use async_nats::jetstream::kv::{self, Operation};
use lattice_interfaces::capability::{Capability, ProviderContext};
use lattice_interfaces::protocol::link_entry::{AppliedVersions, LinkSigners};
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
    /// The entry version applied per key: older entries are refused.
    pub(crate) versions: &'a std::sync::Mutex<AppliedVersions>,
}

impl LinkApplier<'_> {
    /// Applies `change`.
    pub(crate) fn apply(&self, change: LinkChange) {
        match change {
            LinkChange::Entry(entry) => self.entry(entry),
            LinkChange::Snapshot(entries) => {
                // Links with no record left at all are dropped; deletes
                // come as entries (and only signed ones delete).
                let present: HashSet<String> = entries.iter().map(|e| e.key.clone()).collect();
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

    /// Applies one entry or signed delete, when a trusted host signed it
    /// and it is not older than what was applied at its key: anything else
    /// (written straight into the bucket, an old entry put back, a bare
    /// delete) changes nothing here.
    fn entry(&self, entry: kv::Entry) {
        let admitted = self
            .versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .admit_link(
                &entry.key,
                entry.operation != Operation::Put,
                &entry.value,
                self.signers,
            );
        match admitted {
            Ok(Some(link)) => self.put(entry.key, link),
            Ok(None) => self.remove(&entry.key),
            Err(refused) => tracing::warn!(%refused, "link entry refused"),
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

    /// Applies `link`, stored at `key`, when it names the provider; a link
    /// that moved to another provider is taken away.
    fn put(&self, key: String, link: Link) {
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

//! A provider process's view of the links that name it, kept from the
//! lattice's bucket: a watch of `link.>`, and, whenever that watch ends (a
//! NATS restart can end it), a new watch and a fresh read of every link, so
//! the process never serves stale links and never has to restart to catch
//! up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use bytes::Bytes;
use futures::StreamExt as _;
use lattice_interfaces::capability::{Capability, ProviderContext};
use lattice_interfaces::protocol::link_entry::{self, LinkSigners};
use lattice_interfaces::protocol::state::LINK_PREFIX;
use lattice_interfaces::Link;
use lattice_rpc::Backoff;
use tokio_util::sync::CancellationToken;

/// The links that name this provider, by KV key.
pub(crate) type LinkTable = Arc<RwLock<HashMap<String, Link>>>;

/// What changed in the bucket.
pub(crate) enum Change {
    /// One entry was put or deleted.
    Entry(kv::Entry),
    /// Every link entry there is now (the watch was opened again).
    Snapshot(Vec<(String, Bytes)>),
}

/// The bucket's links, watched; re-watched and re-read when the watch ends.
pub(crate) struct LinkWatch {
    kv: Store,
    watch: Option<kv::Watch>,
    backoff: Backoff,
}

impl LinkWatch {
    /// Watches `kv`'s links; the first [`Self::next`] is a snapshot.
    pub(crate) fn new(kv: Store) -> Self {
        Self {
            kv,
            watch: None,
            backoff: Backoff::new(Duration::from_millis(100), Duration::from_secs(5)),
        }
    }

    /// The next change: an entry, or, when the watch had to be opened
    /// (first, or again after it ended), a snapshot of every link entry.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a change is returned whole or not at all; a snapshot
    /// dropped half-read is read again next time.
    pub(crate) async fn next(&mut self) -> Change {
        loop {
            if let Some(watch) = &mut self.watch {
                match watch.next().await {
                    Some(Ok(entry)) => return Change::Entry(entry),
                    Some(Err(error)) => {
                        tracing::warn!(%error, "link watch error");
                        continue;
                    }
                    None => {
                        tracing::warn!(
                            "the link watch ended; watching and reading every link again"
                        );
                        self.watch = None;
                    }
                }
            }
            match self.open().await {
                Ok((watch, snapshot)) => {
                    self.watch = Some(watch);
                    self.backoff.reset();
                    return Change::Snapshot(snapshot);
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in = ?self.backoff.delay(), "cannot watch the lattice's links");
                    self.backoff.wait(&CancellationToken::new()).await;
                }
            }
        }
    }

    /// A watch, then every link entry there is: the watch comes first, so
    /// no change made while reading is missed.
    async fn open(&self) -> Result<(kv::Watch, Vec<(String, Bytes)>), String> {
        let watch = self
            .kv
            .watch(format!("{LINK_PREFIX}>"))
            .await
            .map_err(|e| e.to_string())?;
        let mut names = Vec::new();
        // An empty bucket may have no key stream at all: no links yet.
        if let Ok(mut keys) = self.kv.keys().await {
            while let Some(key) = keys.next().await {
                let key = key.map_err(|e| e.to_string())?;
                // Claims and named config share the bucket.
                if key.starts_with(LINK_PREFIX) {
                    names.push(key);
                }
            }
        }
        let mut snapshot = Vec::with_capacity(names.len());
        for key in names {
            if let Some(entry) = self
                .kv
                .entry(key.clone())
                .await
                .map_err(|e| e.to_string())?
            {
                if entry.operation == Operation::Put {
                    snapshot.push((key, entry.value));
                }
            }
        }
        Ok((watch, snapshot))
    }
}

/// Applies changes to the provider and its link table.
pub(crate) struct LinkApplier<'a> {
    pub(crate) context: &'a ProviderContext,
    pub(crate) provider: &'a dyn Capability,
    pub(crate) links: &'a LinkTable,
    pub(crate) signers: &'a LinkSigners,
}

impl LinkApplier<'_> {
    /// Applies `change`.
    pub(crate) fn apply(&self, change: Change) {
        match change {
            Change::Entry(entry) => match entry.operation {
                Operation::Put => self.put(entry.key, &entry.value),
                Operation::Delete | Operation::Purge => self.remove(&entry.key),
            },
            Change::Snapshot(entries) => {
                let present: HashSet<String> = entries.iter().map(|(k, _)| k.clone()).collect();
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
                for (key, value) in entries {
                    self.put(key, &value);
                }
            }
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

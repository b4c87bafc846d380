//! Mirroring the lattice's bucket into a host: its links and named config,
//! first what is there, then each change, with every entry a host cannot
//! verify (unsigned, a stranger's, older than applied, a bare delete)
//! refused and announced.

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream::kv::{self, Operation};
use lattice_interfaces::protocol::events::{self, LatticeEvent};
use lattice_interfaces::protocol::link_entry::{AppliedVersions, LinkSigners};
use lattice_interfaces::protocol::state::{self as keys, LINK_PREFIX};
use lattice_interfaces::{ComponentId, LinkKey};
use lattice_rpc::{EventPublisher, LinkChange, LinkWatch};

pub use lattice_client::state::{DeletedLink, LatticeState, LinkSigning, StateError};

use crate::Host;

/// Mirrors every link of the bucket into `host`: first what is there
/// now, then each change as it happens, until the watch ends. An entry
/// the signing policy refuses changes nothing (a link the host serves
/// under its key stays) and is announced as a `link_refused` event.
///
/// The watch starts before the snapshot is read, and each key's revision
/// is remembered, so no change is lost between the two and none is
/// applied out of order.
pub async fn mirror_links(
    state: &LatticeState,
    host: Host,
    events: EventPublisher,
) -> Result<LinkMirror, StateError> {
    let signers = state.signers()?;
    let (watch, snapshot) = LinkWatch::open(state.kv().clone())
        .await
        .map_err(StateError::Nats)?;
    let mut mirror = LinkMirror {
        watch,
        applied: HashMap::new(),
        versions: AppliedVersions::default(),
        host,
        events,
        signers,
    };
    for entry in snapshot {
        mirror.apply(entry).await;
    }
    Ok(mirror)
}

/// Mirrors the bucket's named config into `host` (what its actors read
/// through `wasi:config/store`): what is there now, then each change,
/// until the watch ends.
///
/// # Errors
///
/// The bucket cannot be watched or read.
pub async fn mirror_config(
    state: &LatticeState,
    host: Host,
    events: EventPublisher,
) -> Result<ConfigMirror, StateError> {
    let signers = state.signers()?;
    let (watch, snapshot) = LinkWatch::open_prefix(state.kv().clone(), keys::CONFIG_PREFIX)
        .await
        .map_err(StateError::Nats)?;
    let mut mirror = ConfigMirror {
        watch,
        host,
        events,
        signers,
        versions: AppliedVersions::default(),
    };
    mirror.resync(snapshot).await;
    Ok(mirror)
}

/// The live half of [`mirror_config`].
pub struct ConfigMirror {
    watch: LinkWatch,
    host: Host,
    events: EventPublisher,
    signers: LinkSigners,
    /// The version applied per key: older entries are refused.
    versions: AppliedVersions,
}

impl ConfigMirror {
    /// Applies changes for as long as it runs; after a watch ends, every
    /// entry is read again and entries deleted meanwhile are dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops mirroring; nothing half-applied is left.
    pub async fn run(mut self) {
        loop {
            match self.watch.next().await {
                LinkChange::Entry(entry) => self.apply(&entry).await,
                LinkChange::Snapshot(snapshot) => self.resync(snapshot).await,
            }
        }
    }

    /// Applies a fresh read: config with no record left at all is dropped;
    /// the rest, deletes included, as entries.
    async fn resync(&mut self, snapshot: Vec<kv::Entry>) {
        let named = self.host.named_config();
        let present: Vec<ComponentId> = snapshot
            .iter()
            .filter_map(|e| config_name(&e.key))
            .collect();
        named.retain(&present);
        for entry in &snapshot {
            self.apply(entry).await;
        }
    }

    /// Applies one entry or signed delete; one its signers did not sign,
    /// an older one than applied, or a bare delete changes nothing (actors
    /// keep reading what they read) and raises `config_refused`.
    async fn apply(&mut self, entry: &kv::Entry) {
        let Some(name) = config_name(&entry.key) else {
            tracing::warn!(key = %lattice_interfaces::shown(&entry.key), "unreadable config key in lattice state; ignored");
            return;
        };
        let named = self.host.named_config();
        let deleted = entry.operation != Operation::Put;
        match self
            .versions
            .admit_config(&entry.key, deleted, &entry.value, &self.signers)
        {
            Ok(Some(values)) => named.put(name, values),
            Ok(None) => named.delete(&name),
            Err(refused) => {
                tracing::warn!(%refused, "named config entry refused");
                self.events
                    .publish(LatticeEvent::ConfigRefused(events::EntryRefused {
                        key: entry.key.clone(),
                        reason: refused.to_string(),
                    }))
                    .await;
            }
        }
    }
}

/// `config.<name>` back into the name.
fn config_name(key: &str) -> Option<ComponentId> {
    ComponentId::new(key.strip_prefix(keys::CONFIG_PREFIX)?).ok()
}

/// The live half of [`mirror_links`].
pub struct LinkMirror {
    watch: LinkWatch,
    /// The revision applied per key.
    applied: HashMap<String, u64>,
    /// The entry version applied per key: older entries are refused.
    versions: AppliedVersions,
    host: Host,
    events: EventPublisher,
    signers: LinkSigners,
}

impl LinkMirror {
    /// Whether its watch is open, asked each time (see
    /// [`LinkWatch::following`]).
    pub fn following(&self) -> Arc<std::sync::atomic::AtomicBool> {
        self.watch.following()
    }

    /// Applies changes for as long as it runs. When the watch ends (a NATS
    /// restart can end it), [`LinkWatch`] watches again and reads every link
    /// again; links deleted meanwhile are dropped, so the host never serves
    /// stale links.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops mirroring; nothing half-applied is left.
    pub async fn run(mut self) {
        loop {
            match self.watch.next().await {
                LinkChange::Entry(entry) => self.apply(entry).await,
                LinkChange::Snapshot(snapshot) => self.resync(snapshot).await,
            }
        }
    }

    /// Applies a fresh read of every link: links with no record left at
    /// all are dropped; deletes are applied as entries (signed ones only).
    async fn resync(&mut self, snapshot: Vec<kv::Entry>) {
        let present: std::collections::HashSet<&str> =
            snapshot.iter().map(|e| e.key.as_str()).collect();
        let gone: Vec<String> = self
            .applied
            .keys()
            .filter(|key| !present.contains(key.as_str()))
            .cloned()
            .collect();
        for key in gone {
            self.applied.remove(&key);
            if let Some(key) = parse_link_key(&key) {
                self.host.delete_link(&key);
            }
        }
        for entry in snapshot {
            self.apply(entry).await;
        }
    }

    async fn apply(&mut self, entry: kv::Entry) {
        if self
            .applied
            .get(&entry.key)
            .is_some_and(|seen| *seen >= entry.revision)
        {
            return;
        }
        self.applied.insert(entry.key.clone(), entry.revision);
        let Some(key) = parse_link_key(&entry.key) else {
            tracing::warn!(key = %lattice_interfaces::shown(&entry.key), "unreadable link key in lattice state; ignored");
            return;
        };
        let deleted = entry.operation != Operation::Put;
        match self
            .versions
            .admit_link(&entry.key, deleted, &entry.value, &self.signers)
        {
            Ok(Some(link)) => self.host.apply_lattice_link(link),
            Ok(None) => {
                self.host.delete_link(&key);
            }
            Err(refused) => {
                // Not applied: a link this host serves under the key stays
                // as it was.
                tracing::warn!(%refused, "link entry refused");
                self.events
                    .publish(LatticeEvent::LinkRefused(events::EntryRefused {
                        key: entry.key.clone(),
                        reason: refused.to_string(),
                    }))
                    .await;
            }
        }
    }
}

/// `link.<source>.<namespace>.<package>.<name>` back into a key.
fn parse_link_key(key: &str) -> Option<LinkKey> {
    let mut parts = key.strip_prefix(LINK_PREFIX)?.split('.');
    let (source, namespace, package, name) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(LinkKey {
        source: ComponentId::new(source).ok()?,
        namespace: namespace.to_string(),
        package: package.to_string(),
        name: name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn link_keys_parse_back() {
        let key = parse_link_key("link.http.wasi.http.default").unwrap();
        assert_eq!(keys::link_key(&key).unwrap(), "link.http.wasi.http.default");
        assert!(parse_link_key("link.http.wasi.http").is_none());
        assert!(parse_link_key("link.Http.wasi.http.x").is_none());
        assert!(parse_link_key("config.x").is_none());
    }
}

//! The lattice's state in JetStream KV: writing links, claims and config
//! with compare-and-set, and mirroring the bucket into the host.

use lattice_interfaces::claims::LatticeClaims;
use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation, Store};
use async_nats::jetstream::stream;
use bytes::Bytes;
use futures::StreamExt as _;
use lattice_interfaces::protocol::state::{self as keys, CLAIMS_PREFIX, LINK_PREFIX};
use lattice_interfaces::{ComponentId, Link, LinkKey};

use crate::Host;

/// Why a state operation failed. One line.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The key cannot be formed from the given names.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// Another link holds the key.
    #[error("link {existing} already holds source {source_id}, package {namespace}:{package}, name {name}: delete it first or give the new link another name")]
    Clash {
        /// The link holding the key, displayed.
        existing: String,
        /// Source of both.
        source_id: String,
        /// Namespace of both.
        namespace: String,
        /// Package of both.
        package: String,
        /// Name of both.
        name: String,
    },
    /// Someone else kept writing the same key.
    #[error("key {0} changed under us too many times; try again")]
    Contended(String),
    /// NATS or JetStream failed.
    #[error("lattice state unavailable: {0}")]
    Nats(String),
    /// A value in the bucket is not what it should be.
    #[error("lattice state key {key} holds unreadable data: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

fn nats(e: impl std::fmt::Display) -> StateError {
    StateError::Nats(e.to_string())
}

/// The bucket, opened or created.
#[derive(Clone)]
pub struct LatticeState {
    kv: Store,
}

impl LatticeState {
    /// Opens bucket `bucket`, which must exist (`lattice-ctl` reads and
    /// repairs a lattice's state without a host).
    ///
    /// # Errors
    ///
    /// When the bucket does not exist or JetStream cannot be reached.
    pub async fn existing(
        js: &async_nats::jetstream::Context,
        bucket: &str,
    ) -> Result<Self, StateError> {
        js.get_key_value(bucket)
            .await
            .map(|kv| Self { kv })
            .map_err(|e| {
                StateError::Nats(format!(
                    "no lattice state bucket {bucket}: {e} (has a host of this lattice ever run?)"
                ))
            })
    }

    /// Deletes every entry under `prefix` (`link.`, `config.`, `claims.`);
    /// returns how many. Hosts watching the bucket drop deleted links.
    ///
    /// # Errors
    ///
    /// When the bucket cannot be read or written.
    pub async fn clear(&self, prefix: &str) -> Result<usize, StateError> {
        let entries = self.values(prefix).await?;
        for (key, _) in &entries {
            self.kv.delete(key).await.map_err(nats)?;
        }
        Ok(entries.len())
    }

    /// Opens bucket `bucket`, creating it with `replicas` replicas when it
    /// does not exist yet.
    pub async fn open(
        js: &async_nats::jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self, StateError> {
        if let Ok(kv) = js.get_key_value(bucket).await {
            return Ok(Self { kv });
        }
        // The stream a KV bucket is, created directly: async-nats's
        // create_key_value first reads account info in a shape that
        // nats-server 2.9 (Debian 12's) does not send.
        let created = js
            .create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                description: Some("Lattice state: links, claims, config".to_string()),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                num_replicas: replicas.max(1),
                storage: stream::StorageType::File,
                discard: stream::DiscardPolicy::New,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                duplicate_window: Duration::from_secs(120),
                ..Default::default()
            })
            .await;
        if let Err(error) = created {
            tracing::debug!(%error, bucket, "creating the state bucket failed; another host may have made it");
        }
        js.get_key_value(bucket).await.map(|kv| Self { kv }).map_err(|e| {
            StateError::Nats(format!(
                "cannot open or create KV bucket {bucket}: {e} (is JetStream enabled? run nats-server -js)"
            ))
        })
    }

    /// Stores `link` under its key. A link with the same key and target is
    /// replaced; with another target it is refused. Compare-and-set: a
    /// concurrent writer of the same key makes this re-read, never overwrite.
    pub async fn put_link(&self, link: &Link) -> Result<(), StateError> {
        self.write_link(link, false).await
    }

    /// Stores `link` under its key, replacing whatever link holds it (a
    /// manifest's links are declarative: `lattice-ctl up` owns them).
    pub async fn replace_link(&self, link: &Link) -> Result<(), StateError> {
        self.write_link(link, true).await
    }

    async fn write_link(&self, link: &Link, replace: bool) -> Result<(), StateError> {
        let key = keys::link_key(&link.key())?;
        let value = Bytes::from(serde_json::to_vec(link).map_err(nats)?);
        for _attempt in 0..5 {
            match self.kv.entry(key.clone()).await.map_err(nats)? {
                Some(entry) if entry.operation == Operation::Put => {
                    let existing: Link =
                        serde_json::from_slice(&entry.value).map_err(|e| StateError::Corrupt {
                            key: key.clone(),
                            reason: e.to_string(),
                        })?;
                    if existing.target != link.target && !replace {
                        return Err(StateError::Clash {
                            existing: existing.to_string(),
                            source_id: link.source.to_string(),
                            namespace: link.namespace.clone(),
                            package: link.package.clone(),
                            name: link.name.clone(),
                        });
                    }
                    if self
                        .kv
                        .update(&key, value.clone(), entry.revision)
                        .await
                        .is_ok()
                    {
                        return Ok(());
                    }
                }
                _ => {
                    if self.kv.create(&key, value.clone()).await.is_ok() {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(StateError::Contended(key))
    }

    /// Deletes the link with `key`; returns it if there was one. Compare-
    /// and-set: the link deleted is the one returned, never one written in
    /// between.
    pub async fn delete_link(&self, key: &LinkKey) -> Result<Option<Link>, StateError> {
        self.delete_link_where(key, |_| true).await
    }

    /// Deletes `link` if the bucket still holds exactly it (what
    /// `lattice-ctl up` put, not what someone put over it since).
    pub async fn delete_link_if_unchanged(&self, link: &Link) -> Result<bool, StateError> {
        let deleted = self
            .delete_link_where(&link.key(), |held| held == link)
            .await?;
        Ok(deleted.is_some())
    }

    async fn delete_link_where(
        &self,
        key: &LinkKey,
        wanted: impl Fn(&Link) -> bool,
    ) -> Result<Option<Link>, StateError> {
        let kv_key = keys::link_key(key)?;
        for _attempt in 0..5 {
            let Some(entry) = self.kv.entry(kv_key.clone()).await.map_err(nats)? else {
                return Ok(None);
            };
            if entry.operation != Operation::Put {
                return Ok(None);
            }
            let Ok(existing) = serde_json::from_slice::<Link>(&entry.value) else {
                return Ok(None);
            };
            if !wanted(&existing) {
                return Ok(None);
            }
            if self
                .kv
                .delete_expect_revision(&kv_key, Some(entry.revision))
                .await
                .is_ok()
            {
                return Ok(Some(existing));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(StateError::Contended(kv_key))
    }

    /// Every value under `prefix`, by key.
    async fn values(&self, prefix: &str) -> Result<Vec<(String, Bytes)>, StateError> {
        let mut keys = self.kv.keys().await.map_err(nats)?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(nats)?;
            if key.starts_with(prefix) {
                names.push(key);
            }
        }
        names.sort();
        let mut values = Vec::with_capacity(names.len());
        for key in names {
            if let Some(entry) = self.kv.entry(key.clone()).await.map_err(nats)? {
                if entry.operation == Operation::Put {
                    values.push((key, entry.value));
                }
            }
        }
        Ok(values)
    }

    /// Every value under `prefix`, decoded from JSON, by key; an
    /// undecodable one is an error naming its key.
    async fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        prefix: &str,
    ) -> Result<Vec<T>, StateError> {
        self.values(prefix)
            .await?
            .into_iter()
            .map(|(key, value)| {
                serde_json::from_slice(&value).map_err(|e| StateError::Corrupt {
                    key,
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Every link, by key.
    pub async fn links(&self) -> Result<Vec<Link>, StateError> {
        self.decoded(LINK_PREFIX).await
    }

    /// Stores the claims of an actor or provider binary a host ran.
    pub async fn put_claims(&self, claims: &LatticeClaims) -> Result<(), StateError> {
        let key = keys::claims_key(claims.subject())?;
        self.kv
            .put(key, Bytes::from(serde_json::to_vec(claims).map_err(nats)?))
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Every stored claims set.
    pub async fn claims(&self) -> Result<Vec<LatticeClaims>, StateError> {
        self.decoded(CLAIMS_PREFIX).await
    }

    /// Stores named config.
    pub async fn put_config(
        &self,
        name: &ComponentId,
        values: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StateError> {
        let value = Bytes::from(serde_json::to_vec(values).map_err(nats)?);
        self.kv
            .put(keys::config_key(name), value)
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Reads named config.
    pub async fn config(
        &self,
        name: &ComponentId,
    ) -> Result<Option<std::collections::BTreeMap<String, String>>, StateError> {
        let key = keys::config_key(name);
        match self.kv.entry(key.clone()).await.map_err(nats)? {
            Some(entry) if entry.operation == Operation::Put => {
                serde_json::from_slice(&entry.value)
                    .map(Some)
                    .map_err(|e| StateError::Corrupt {
                        key,
                        reason: e.to_string(),
                    })
            }
            _ => Ok(None),
        }
    }

    /// Deletes named config; returns whether it existed.
    pub async fn delete_config(&self, name: &ComponentId) -> Result<bool, StateError> {
        let existed = self.config(name).await?.is_some();
        if existed {
            self.kv.delete(keys::config_key(name)).await.map_err(nats)?;
        }
        Ok(existed)
    }

    /// Mirrors every link of the bucket into `host`: first what is there
    /// now, then each change as it happens, until the watch ends.
    ///
    /// The watch starts before the snapshot is read, and each key's revision
    /// is remembered, so no change is lost between the two and none is
    /// applied out of order.
    pub async fn mirror_links(&self, host: Host) -> Result<LinkMirror, StateError> {
        let watch = self
            .kv
            .watch(format!("{LINK_PREFIX}>"))
            .await
            .map_err(nats)?;
        let mut applied: HashMap<String, u64> = HashMap::new();
        let mut keys = self.kv.keys().await.map_err(nats)?;
        let mut names = Vec::new();
        while let Some(key) = keys.next().await {
            let key = key.map_err(nats)?;
            if key.starts_with(LINK_PREFIX) {
                names.push(key);
            }
        }
        for key in names {
            if let Some(entry) = self.kv.entry(key.clone()).await.map_err(nats)? {
                apply(&host, &mut applied, entry);
            }
        }
        Ok(LinkMirror {
            watch,
            applied,
            host,
        })
    }
}

/// The live half of [`LatticeState::mirror_links`].
pub struct LinkMirror {
    watch: kv::Watch,
    applied: HashMap<String, u64>,
    host: Host,
}

impl LinkMirror {
    /// Applies changes until the watch ends (the connection closed for good).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future stops mirroring; nothing half-applied is left.
    pub async fn run(mut self) {
        while let Some(entry) = self.watch.next().await {
            match entry {
                Ok(entry) => apply(&self.host, &mut self.applied, entry),
                Err(error) => tracing::warn!(%error, "lattice state watch error"),
            }
        }
        tracing::info!("lattice state watch ended");
    }
}

fn apply(host: &Host, applied: &mut HashMap<String, u64>, entry: kv::Entry) {
    if applied
        .get(&entry.key)
        .is_some_and(|seen| *seen >= entry.revision)
    {
        return;
    }
    applied.insert(entry.key.clone(), entry.revision);
    match entry.operation {
        Operation::Put => match serde_json::from_slice::<Link>(&entry.value) {
            Ok(link) => host.apply_lattice_link(link),
            Err(error) => {
                tracing::warn!(key = %entry.key, %error, "unreadable link in lattice state; ignored")
            }
        },
        Operation::Delete | Operation::Purge => match parse_link_key(&entry.key) {
            Some(key) => {
                host.delete_link(&key);
            }
            None => {
                tracing::warn!(key = %entry.key, "unreadable link key in lattice state; ignored")
            }
        },
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

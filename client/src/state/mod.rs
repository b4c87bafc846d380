//! The lattice's state in JetStream KV: links and named config (signed,
//! see [`lattice_interfaces::protocol::link_entry`]), claims, revocations,
//! apps and the reconciler's lease, each written with compare-and-set.
//! Hosts write it with their cluster key; `lattice-ctl` reads it, and
//! repairs it when no host runs. Hosts mirror it into what they serve
//! (`lattice_host::lattice`).

use lattice_interfaces::claims::LatticeClaims;
use std::time::Duration;

use async_nats::jetstream::kv::{Operation, Store};
use async_nats::jetstream::stream;
use bytes::Bytes;
use futures::StreamExt as _;
use lattice_interfaces::protocol::control::Refusal;
use lattice_interfaces::protocol::link_entry::{self, EntryRefused, LinkSigners};
use lattice_interfaces::protocol::state::{self as keys, CLAIMS_PREFIX, LINK_PREFIX};
use lattice_interfaces::{ComponentId, ErrorKind, Link, LinkKey};
use nkeys::KeyPair;
use std::sync::Arc;

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
    /// Links can be deleted with this handle, not written.
    #[error("this client holds no cluster key to sign links with")]
    CannotSign,
    /// A value in the bucket is not what it should be.
    #[error("lattice state key {key} holds unreadable data: {reason}")]
    Corrupt {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
}

impl StateError {
    /// The stable kind a control reply refuses it as.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Key(_) => ErrorKind::BadRequest,
            Self::Clash { .. } | Self::Contended(_) => ErrorKind::Conflict,
            Self::Nats(_) | Self::CannotSign | Self::Corrupt { .. } => ErrorKind::Failed,
        }
    }
}

impl From<StateError> for Refusal {
    fn from(error: StateError) -> Self {
        Refusal::new(error.kind(), error.to_string())
    }
}

pub(crate) fn nats(e: impl std::fmt::Display) -> StateError {
    StateError::Nats(e.to_string())
}

/// What [`LatticeState::delete_link`] deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletedLink {
    /// A link.
    Link(Link),
    /// An entry that held no readable link (bare, garbled or not a link).
    Unreadable {
        /// Its KV key.
        key: String,
    },
}

impl std::fmt::Display for DeletedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(link) => write!(f, "link {link}"),
            Self::Unreadable { key } => write!(f, "unreadable link entry {key}"),
        }
    }
}

/// The key a host signs link entries with, and whose entries it accepts.
#[derive(Clone)]
pub struct LinkSigning {
    /// Signs the links this host writes.
    pub signer: Arc<KeyPair>,
    /// Whose entries are applied and listed.
    pub signers: LinkSigners,
}

/// The bucket, opened or created.
#[derive(Clone)]
pub struct LatticeState {
    kv: Store,
    /// Writes what `Store` cannot: delete markers carrying a tombstone.
    js: async_nats::jetstream::Context,
    signing: Option<LinkSigning>,
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
            .map(|kv| Self {
                kv,
                js: js.clone(),
                signing: None,
            })
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
            return Ok(Self {
                kv,
                js: js.clone(),
                signing: None,
            });
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
        js.get_key_value(bucket).await.map(|kv| Self {
                kv,
                js: js.clone(),
                signing: None,
            }).map_err(|e| {
            StateError::Nats(format!(
                "cannot open or create KV bucket {bucket}: {e} (is JetStream enabled? run nats-server -js)"
            ))
        })
    }

    /// This state, writing links signed by `signing.signer` and reading only
    /// the entries `signing.signers` signed.
    pub fn with_signing(self, signing: LinkSigning) -> Self {
        Self {
            signing: Some(signing),
            ..self
        }
    }

    /// The bucket itself, for readers that follow it (a host's mirrors).
    pub fn kv(&self) -> &Store {
        &self.kv
    }

    /// Whose entries this state's mirrors apply.
    ///
    /// # Errors
    ///
    /// [`StateError::CannotSign`] when it has no signing policy.
    pub fn signers(&self) -> Result<LinkSigners, StateError> {
        self.signing
            .as_ref()
            .map(|s| s.signers.clone())
            .ok_or(StateError::CannotSign)
    }

    /// The link in the entry at `key`: checked when this state has a
    /// signing policy, else read as it is (tools that only delete).
    fn link_in(&self, key: &str, value: &[u8]) -> Result<Option<Link>, EntryRefused> {
        match &self.signing {
            Some(signing) => link_entry::open(key, value, &signing.signers).map(|s| s.value),
            None => link_entry::read_unchecked(key, value).map(Some),
        }
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
        let signing = self.signing.as_ref().ok_or(StateError::CannotSign)?;
        let key = keys::link_key(&link.key())?;
        for _attempt in 0..5 {
            let current = self.kv.entry(key.clone()).await.map_err(nats)?;
            if let Some(entry) = current.as_ref().filter(|e| e.operation == Operation::Put) {
                self.refuse_clash(&key, &entry.value, link, replace)?;
            }
            // Above whatever version the key held, tombstones included.
            let version = link_entry::next_version(
                current
                    .as_ref()
                    .map_or(0, |entry| link_entry::version_unchecked(&entry.value)),
            );
            let (_, value) = link_entry::seal(link, version, &signing.signer).map_err(nats)?;
            let value = Bytes::from(value);
            // A delete marker is written over at its revision too.
            let written = match current {
                Some(entry) => self.kv.update(&key, value, entry.revision).await.is_ok(),
                None => self.kv.create(&key, value).await.is_ok(),
            };
            if written {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(StateError::Contended(key))
    }

    /// `Err` when the entry `value` at `key` holds a link to another target
    /// than `link`'s and `replace` is off. An entry no host can verify holds
    /// nothing: it is overwritten, never a reason to refuse a real link.
    fn refuse_clash(
        &self,
        key: &str,
        value: &[u8],
        link: &Link,
        replace: bool,
    ) -> Result<(), StateError> {
        match self.link_in(key, value) {
            Ok(Some(existing)) if existing.target != link.target && !replace => {
                Err(StateError::Clash {
                    existing: existing.to_string(),
                    source_id: link.source.to_string(),
                    namespace: link.namespace.clone(),
                    package: link.package.clone(),
                    name: link.name.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Deletes the entry at `key` (of revision `revision`, version
    /// `version`): with a signed tombstone when this state signs, so hosts
    /// and provider processes apply the delete; a bare delete otherwise
    /// (tools without a cluster key), which running readers refuse and
    /// hosts that start later see as nothing there. `Ok(false)`: another
    /// writer came first.
    async fn delete_entry(
        &self,
        key: &str,
        revision: u64,
        version: u64,
    ) -> Result<bool, StateError> {
        let Some(signing) = &self.signing else {
            return Ok(self
                .kv
                .delete_expect_revision(key, Some(revision))
                .await
                .is_ok());
        };
        let tombstone =
            link_entry::seal_delete(key, link_entry::next_version(version), &signing.signer)
                .map_err(nats)?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("KV-Operation", "DEL");
        headers.insert(
            async_nats::header::NATS_EXPECTED_LAST_SUBJECT_SEQUENCE,
            revision.to_string().as_str(),
        );
        let subject = format!(
            "{}{key}",
            self.kv.put_prefix.as_ref().unwrap_or(&self.kv.prefix)
        );
        let acked = match self
            .js
            .publish_with_headers(subject, headers, tombstone.into())
            .await
        {
            Ok(ack) => ack.await,
            Err(error) => Err(error),
        };
        match acked {
            Ok(_) => Ok(true),
            Err(error)
                if error.kind()
                    == async_nats::jetstream::context::PublishErrorKind::WrongLastSequence =>
            {
                Ok(false)
            }
            Err(error) => Err(nats(error)),
        }
    }

    /// Deletes whatever entry holds `key`, readable or not (an operator
    /// cleaning up a forged or garbled entry must be able to); returns what
    /// it held. Compare-and-set: the entry deleted is the one returned,
    /// never one written in between.
    pub async fn delete_link(&self, key: &LinkKey) -> Result<Option<DeletedLink>, StateError> {
        self.delete_link_where(key, |_| true).await
    }

    /// Deletes `link` if the bucket still holds exactly it (what
    /// `lattice-ctl up` put, not what someone put over it since).
    pub async fn delete_link_if_unchanged(&self, link: &Link) -> Result<bool, StateError> {
        let deleted = self
            .delete_link_where(&link.key(), |held| held == Some(link))
            .await?;
        Ok(deleted.is_some())
    }

    async fn delete_link_where(
        &self,
        key: &LinkKey,
        wanted: impl Fn(Option<&Link>) -> bool,
    ) -> Result<Option<DeletedLink>, StateError> {
        let kv_key = keys::link_key(key)?;
        for _attempt in 0..5 {
            let Some(entry) = self.kv.entry(kv_key.clone()).await.map_err(nats)? else {
                return Ok(None);
            };
            if entry.operation != Operation::Put {
                return Ok(None);
            }
            let held = link_entry::read_unchecked(&kv_key, &entry.value).ok();
            if !wanted(held.as_ref()) {
                return Ok(None);
            }
            let version = link_entry::version_unchecked(&entry.value);
            if self.delete_entry(&kv_key, entry.revision, version).await? {
                return Ok(Some(match held {
                    Some(link) => DeletedLink::Link(link),
                    None => DeletedLink::Unreadable { key: kv_key },
                }));
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

    /// Every link, by key: those this state's signing policy accepts (an
    /// entry it refuses is left out and logged).
    pub async fn links(&self) -> Result<Vec<Link>, StateError> {
        Ok(self
            .values(LINK_PREFIX)
            .await?
            .into_iter()
            .filter_map(|(key, value)| match self.link_in(&key, &value) {
                Ok(link) => link,
                Err(refused) => {
                    tracing::warn!(%refused, "link entry left out");
                    None
                }
            })
            .collect())
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

    /// Keeps `revocation` in the bucket (`revoked.<key>`), where hosts and
    /// provider processes follow it.
    ///
    /// # Errors
    ///
    /// The bucket cannot be written.
    pub async fn put_revocation(
        &self,
        revocation: &lattice_interfaces::protocol::rpc::GrantRevocation,
    ) -> Result<(), StateError> {
        let key = format!(
            "{}{}",
            lattice_interfaces::protocol::state::REVOKED_PREFIX,
            revocation.key
        );
        let value = serde_json::to_vec(revocation).map_err(nats)?;
        self.kv.put(key, value.into()).await.map_err(nats)?;
        Ok(())
    }

    /// Stores named config.
    pub async fn put_config(
        &self,
        name: &ComponentId,
        values: &std::collections::BTreeMap<String, String>,
    ) -> Result<(), StateError> {
        let signing = self.signing.as_ref().ok_or(StateError::CannotSign)?;
        let key = keys::config_key(name);
        let previous = self
            .kv
            .entry(key.clone())
            .await
            .map_err(nats)?
            .map_or(0, |entry| link_entry::version_unchecked(&entry.value));
        let value = link_entry::seal_config(
            &key,
            values,
            link_entry::next_version(previous),
            &signing.signer,
        )
        .map_err(nats)?;
        self.kv.put(key, Bytes::from(value)).await.map_err(nats)?;
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
                let values = match &self.signing {
                    Some(signing) => link_entry::open_config(&key, &entry.value, &signing.signers)
                        .map(|signed| signed.value),
                    None => link_entry::read_config_unchecked(&key, &entry.value).map(Some),
                };
                values.map_err(|refused| StateError::Corrupt {
                    key,
                    reason: refused.to_string(),
                })
            }
            _ => Ok(None),
        }
    }

    /// Deletes named config; returns whether it existed.
    pub async fn delete_config(&self, name: &ComponentId) -> Result<bool, StateError> {
        let key = keys::config_key(name);
        for _attempt in 0..5 {
            let Some(entry) = self.kv.entry(key.clone()).await.map_err(nats)? else {
                return Ok(false);
            };
            if entry.operation != Operation::Put {
                return Ok(false);
            }
            let version = link_entry::version_unchecked(&entry.value);
            if self.delete_entry(&key, entry.revision, version).await? {
                return Ok(true);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Err(StateError::Contended(key))
    }
}

mod apps;

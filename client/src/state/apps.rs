//! Apps, their status and the reconciler's lease in the lattice's bucket,
//! each written with compare-and-set on the entry's revision.

use async_nats::jetstream::kv::Operation;
use bytes::Bytes;
use lattice_interfaces::protocol::app::{AppStatus, Apps, Lease};
use lattice_interfaces::protocol::state::{self as keys, APPS_KEY, LEASE_KEY};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{nats, LatticeState, StateError};

/// Tries of a compare-and-set before giving up as contended.
const TRIES: usize = 10;

impl LatticeState {
    /// The JSON value at `key` and its revision (0 when there is none).
    async fn read_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<(Option<T>, u64), StateError> {
        match self.kv.entry(key).await.map_err(nats)? {
            Some(entry) if entry.operation == Operation::Put => {
                let value =
                    serde_json::from_slice(&entry.value).map_err(|e| StateError::Corrupt {
                        key: key.to_string(),
                        reason: e.to_string(),
                    })?;
                Ok((Some(value), entry.revision))
            }
            Some(entry) => Ok((None, entry.revision)),
            None => Ok((None, 0)),
        }
    }

    /// Writes `value` at `key` if the entry is still at `revision` (0: no
    /// entry); the new revision, or `None` when another writer came first.
    async fn write_json_if<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        revision: u64,
    ) -> Result<Option<u64>, StateError> {
        let bytes = Bytes::from(serde_json::to_vec(value).map_err(nats)?);
        use async_nats::jetstream::kv::{CreateErrorKind, UpdateErrorKind};
        if revision == 0 {
            match self.kv.create(key, bytes).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(nats(e)),
            }
        } else {
            match self.kv.update(key, bytes, revision).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(nats(e)),
            }
        }
    }

    /// Every app, and the revision of their record.
    pub async fn apps(&self) -> Result<(Apps, u64), StateError> {
        let (apps, revision) = self.read_json::<Apps>(APPS_KEY).await?;
        Ok((apps.unwrap_or_default(), revision))
    }

    /// Changes the apps with `change` (which may refuse with a reason, or
    /// answer something), re-reading and trying again when another writer
    /// came first.
    ///
    /// # Errors
    ///
    /// `Ok(Err(reason))` when `change` refused; `Err` when the bucket
    /// failed or stayed contended.
    pub async fn update_apps<R>(
        &self,
        mut change: impl FnMut(&mut Apps) -> Result<R, String>,
    ) -> Result<Result<R, String>, StateError> {
        for _ in 0..TRIES {
            let (mut apps, revision) = self.apps().await?;
            let answer = match change(&mut apps) {
                Ok(answer) => answer,
                Err(reason) => return Ok(Err(reason)),
            };
            if self
                .write_json_if(APPS_KEY, &apps, revision)
                .await?
                .is_some()
            {
                return Ok(Ok(answer));
            }
        }
        Err(StateError::Contended(APPS_KEY.to_string()))
    }

    /// The reconciler's lease and its revision.
    pub async fn lease(&self) -> Result<(Option<Lease>, u64), StateError> {
        self.read_json(LEASE_KEY).await
    }

    /// Writes `lease` if the entry is still at `revision`; the new revision,
    /// or `None` when another host wrote first.
    pub async fn write_lease_if(
        &self,
        lease: &Lease,
        revision: u64,
    ) -> Result<Option<u64>, StateError> {
        self.write_json_if(LEASE_KEY, lease, revision).await
    }

    /// The reconciler's last status of app `name`.
    pub async fn app_status(&self, name: &str) -> Result<Option<AppStatus>, StateError> {
        Ok(self.read_json(&keys::app_status_key(name)?).await?.0)
    }

    /// Records the status of app `name`.
    pub async fn put_app_status(&self, name: &str, status: &AppStatus) -> Result<(), StateError> {
        let value = Bytes::from(serde_json::to_vec(status).map_err(nats)?);
        self.kv
            .put(keys::app_status_key(name)?, value)
            .await
            .map_err(nats)?;
        Ok(())
    }

    /// Forgets the status of app `name`.
    pub async fn delete_app_status(&self, name: &str) -> Result<(), StateError> {
        self.kv
            .delete(keys::app_status_key(name)?)
            .await
            .map_err(nats)?;
        Ok(())
    }
}

//! A host's identity: its server key (`N…`), whose public key is the host id
//! other hosts and clients address it by.

use std::fmt;
use std::sync::Arc;

use lattice_interfaces::claims::{parse_key_pair, KeyError, KeyKind};
use lattice_interfaces::HostId;
use nkeys::KeyPair;

/// The host's server key. Debug and Display show the public key only.
#[derive(Clone)]
pub struct HostIdentity {
    key: Arc<KeyPair>,
    host_id: HostId,
}

impl HostIdentity {
    /// A fresh identity: a new server key.
    pub fn generate() -> Self {
        let (key, host_id) = HostId::generate();
        Self {
            key: Arc::new(key),
            host_id,
        }
    }

    /// The identity of a server seed (`SN…`) or a file holding one.
    pub fn from_seed(seed_or_file: &str) -> Result<Self, KeyError> {
        let what = "host seed";
        let key = parse_key_pair(seed_or_file, KeyKind::Server, what)?;
        let host_id = HostId::of_key(&key).ok_or_else(|| KeyError::WrongKind {
            what: what.into(),
            expected: KeyKind::Server,
            found: "another".into(),
        })?;
        Ok(Self {
            key: Arc::new(key),
            host_id,
        })
    }

    /// The host id: the server public key.
    pub fn host_id(&self) -> &HostId {
        &self.host_id
    }

    /// The key pair, for signing.
    pub fn key(&self) -> &KeyPair {
        &self.key
    }
}

impl Default for HostIdentity {
    fn default() -> Self {
        Self::generate()
    }
}

impl PartialEq for HostIdentity {
    fn eq(&self, other: &Self) -> bool {
        self.host_id == other.host_id
    }
}

impl Eq for HostIdentity {}

impl fmt::Debug for HostIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostIdentity({})", self.host_id)
    }
}

//! Checking an invocation before it is served: addressed to this target,
//! signed by a trusted cluster key (or a provider key its host vouched for)
//! over exactly the bytes received, before its deadline, and each id once.
//! Hosts and provider processes run the same checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lattice_interfaces::protocol::rpc::{unix_ms, Invocation, ProviderGrant, SignedInvocation};
use lattice_interfaces::{ErrorKind, InvocationError};
use nkeys::KeyPair;

/// Checked provider grants remembered (a host starts few providers).
const GRANT_MEMORY: usize = 1_024;

/// Invocation ids remembered against replays.
pub const REPLAY_MEMORY: usize = 100_000;

/// The ids of invocations served, each kept until its deadline passes:
/// after that the deadline check refuses a replay by itself.
#[derive(Default)]
struct ReplayMemory {
    seen: Mutex<HashMap<String, u64>>,
}

impl ReplayMemory {
    /// Remembers `id` until `deadline_ms`; `Err` when it was seen before
    /// (`unauthorized`) or the memory is full of live ids (`busy`).
    fn remember(&self, id: &str, deadline_ms: u64, now: u64) -> Result<(), ErrorKind> {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= REPLAY_MEMORY {
            seen.retain(|_, deadline| *deadline > now);
        }
        if seen.len() >= REPLAY_MEMORY {
            return Err(ErrorKind::Busy);
        }
        match seen.insert(id.to_string(), deadline_ms) {
            Some(_) => Err(ErrorKind::Unauthorized),
            None => Ok(()),
        }
    }
}

/// An invocation that did not pass: why, and the invocation itself when it
/// decoded, so the refusal can name it.
#[derive(Debug)]
pub struct Refused {
    /// The invocation, when it decoded.
    pub invocation: Option<Box<Invocation>>,
    /// Why it was refused.
    pub error: InvocationError,
}

/// The checks one host or provider process applies to every invocation.
pub struct Verifier {
    trusted: HashMap<String, KeyPair>,
    replays: ReplayMemory,
    /// Provider grants already checked, by the whole grant: a provider
    /// sends the same one with every call, so it is verified once.
    grants: Mutex<HashMap<ProviderGrant, Arc<KeyPair>>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("trusted", &self.trusted.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Trusts the cluster public keys `trusted` (decoded once: decoding a
    /// key costs a good part of a verification). Keys that do not decode are
    /// skipped.
    pub fn new<'a>(trusted: impl IntoIterator<Item = &'a String>) -> Self {
        Self {
            trusted: trusted
                .into_iter()
                .filter_map(|key| {
                    KeyPair::from_public_key(key)
                        .ok()
                        .map(|pair| (key.clone(), pair))
                })
                .collect(),
            replays: ReplayMemory::default(),
            grants: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` is trusted.
    pub fn trusts(&self, key: &str) -> bool {
        self.trusted.contains_key(key)
    }

    /// The trusted keys.
    pub fn trusted(&self) -> impl Iterator<Item = &String> {
        self.trusted.keys()
    }

    /// The key a provider grant vouches for, when a trusted key issued it.
    fn check_grant(&self, grant: &ProviderGrant) -> Result<Arc<KeyPair>, String> {
        let cached = self
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(grant)
            .cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        let issuer = self.trusted.get(&grant.issuer).ok_or_else(|| {
            format!(
                "the grant of provider {} was issued by {:?}, which is not trusted here",
                grant.provider_id, grant.issuer
            )
        })?;
        issuer
            .verify(
                &ProviderGrant::signed_bytes(&grant.provider_id, &grant.key),
                &grant.signature,
            )
            .map_err(|_| format!("the grant of provider {} is forged", grant.provider_id))?;
        let key = KeyPair::from_public_key(&grant.key).map_err(|e| {
            format!(
                "the grant of provider {} names a bad key: {e}",
                grant.provider_id
            )
        })?;
        let key = Arc::new(key);
        let mut grants = self.grants.lock().unwrap_or_else(PoisonError::into_inner);
        if grants.len() >= GRANT_MEMORY {
            grants.clear();
        }
        grants.insert(grant.clone(), key.clone());
        Ok(key)
    }

    /// Checks `message`, received on the subject of `target`, and returns
    /// the invocation inside.
    ///
    /// # Errors
    ///
    /// `bad_request` for bytes that are not an invocation; `unauthorized`
    /// naming the reason for anything else refused; `busy` when too many
    /// live invocations are remembered to check for replays. The
    /// invocation, when it decoded, comes with the error so the refusal can
    /// name it.
    pub fn verify(&self, target: &str, message: &SignedInvocation) -> Result<Invocation, Refused> {
        let invocation = message.invocation().map_err(|e| Refused {
            invocation: None,
            error: InvocationError::new(ErrorKind::BadRequest, e.to_string()),
        })?;
        match self.check(target, message, &invocation) {
            Ok(()) => Ok(invocation),
            Err(error) => Err(Refused {
                invocation: Some(Box::new(invocation)),
                error,
            }),
        }
    }

    fn check(
        &self,
        target: &str,
        message: &SignedInvocation,
        invocation: &Invocation,
    ) -> Result<(), InvocationError> {
        let refuse = |why: String| {
            InvocationError::new(
                ErrorKind::Unauthorized,
                format!(
                    "invocation {} refused: {why}",
                    lattice_interfaces::shown(&invocation.id)
                ),
            )
        };
        if invocation.target != target {
            return Err(refuse(format!(
                "addressed to {} on the subject of {target}",
                lattice_interfaces::shown(&invocation.target)
            )));
        }
        let granted;
        let key = match &invocation.grant {
            None => self.trusted.get(&invocation.cluster_key).ok_or_else(|| {
                refuse(format!(
                    "cluster key {:?} is not trusted here",
                    lattice_interfaces::shown(&invocation.cluster_key)
                ))
            })?,
            Some(grant) => {
                granted = self.check_grant(grant).map_err(refuse)?;
                if invocation.source != grant.provider_id {
                    return Err(refuse(format!(
                        "provider {} may only call as itself, not as {}",
                        grant.provider_id,
                        lattice_interfaces::shown(&invocation.source)
                    )));
                }
                if invocation.cluster_key != grant.key {
                    return Err(refuse("signed by a key its grant does not name".into()));
                }
                &*granted
            }
        };
        if key.verify(&message.invocation, &message.signature).is_err() {
            return Err(refuse(
                "bad signature: the envelope was not signed by its cluster key or was changed"
                    .into(),
            ));
        }
        let now = unix_ms();
        if invocation.deadline_ms <= now {
            return Err(refuse(format!(
                "its deadline passed {} ms ago (late or replayed)",
                now - invocation.deadline_ms
            )));
        }
        self.replays
            .remember(&invocation.id, invocation.deadline_ms, now)
            .map_err(|kind| match kind {
                ErrorKind::Busy => InvocationError::new(
                    ErrorKind::Busy,
                    "too many invocations in flight to check for replays",
                ),
                _ => refuse("it was already served (replayed)".into()),
            })
    }
}

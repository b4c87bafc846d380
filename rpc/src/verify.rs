//! Checking an invocation before it is served: addressed to this target,
//! signed by a trusted cluster key (or a provider key its host vouched for)
//! over exactly the bytes received, before its deadline, and each id once.
//! Hosts and provider processes run the same checks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lattice_interfaces::protocol::rpc::{
    unix_ms, GrantRevocation, Invocation, ProviderGrant, SignedInvocation,
};
use lattice_interfaces::{ErrorKind, InvocationError};
use nkeys::KeyPair;

/// Checked provider grants remembered (a host starts few providers).
const GRANT_MEMORY: usize = 1_024;

/// Revoked provider keys remembered, at most; past it, the revocation that
/// expires first is forgotten early.
const REVOCATION_MEMORY: usize = 65_536;

/// The longest a grant may run: one issued for longer is refused, so a key
/// leaked with its grant is good for a day at most, revoked or not.
pub const MAX_GRANT_MS: u64 = 24 * 60 * 60 * 1000;

/// Invocation ids remembered against replays, at most, across all shards.
pub const REPLAY_MEMORY: usize = 1_000_000;

/// The furthest ahead a deadline may lie: an invocation whose deadline is
/// later is refused, so no id has to be remembered for longer.
pub const MAX_DEADLINE_MS: u64 = 60 * 60 * 1000;

/// Shards of the replay memory: calls on different shards never wait for
/// each other's lock.
const REPLAY_SHARDS: usize = 16;

/// The ids of invocations served, each kept until its deadline passes
/// (after that the deadline check refuses a replay by itself). Ids are
/// grouped by the second their deadline falls in, so forgetting expired ids
/// costs only what expired: no check ever scans the whole memory.
struct ReplayMemory {
    shards: Vec<Mutex<ReplayShard>>,
}

#[derive(Default)]
struct ReplayShard {
    /// Id → its deadline's second.
    seen: HashMap<String, u64>,
    /// Deadline second → ids expiring then.
    expiring: std::collections::BTreeMap<u64, Vec<String>>,
}

impl Default for ReplayMemory {
    fn default() -> Self {
        Self {
            shards: (0..REPLAY_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl ReplayShard {
    /// Forgets every id whose deadline's second has passed.
    fn forget_expired(&mut self, now_s: u64) {
        while let Some(entry) = self.expiring.first_entry() {
            if *entry.key() >= now_s {
                break;
            }
            for id in entry.remove() {
                self.seen.remove(&id);
            }
        }
    }
}

impl ReplayMemory {
    /// Remembers `id` until `deadline_ms`; `Err` when it was seen before
    /// (`unauthorized`) or the memory is full of live ids (`busy`).
    fn remember(&self, id: &str, deadline_ms: u64, now: u64) -> Result<(), ErrorKind> {
        // `shard_of` is below the shard count: never `None`.
        let Some(shard) = self.shards.get(shard_of(id)) else {
            return Err(ErrorKind::Busy);
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        shard.forget_expired(now / 1000);
        if shard.seen.contains_key(id) {
            return Err(ErrorKind::Unauthorized);
        }
        if shard.seen.len() >= REPLAY_MEMORY / REPLAY_SHARDS {
            return Err(ErrorKind::Busy);
        }
        // Kept to the end of the deadline's second: never forgotten early.
        let second = deadline_ms.div_ceil(1000);
        shard.seen.insert(id.to_string(), second);
        shard
            .expiring
            .entry(second)
            .or_default()
            .push(id.to_string());
        Ok(())
    }
}

fn shard_of(id: &str) -> usize {
    use std::hash::Hasher as _;
    // A fixed hasher: shards only spread lock contention; an attacker who
    // crowds one shard gains nothing the signature check did not allow.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    hasher.write(id.as_bytes());
    (hasher.finish() as usize) % REPLAY_SHARDS
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
    /// Provider keys revoked by their issuers, each until its last grant
    /// would have expired.
    revoked: Mutex<HashMap<String, u64>>,
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
            revoked: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `revocation` to heart when a trusted key issued it: calls under
    /// any grant of its key are refused until `until_ms`.
    ///
    /// # Errors
    ///
    /// When its issuer is not trusted or its signature does not hold.
    pub fn revoke(&self, revocation: &GrantRevocation) -> Result<(), String> {
        let issuer = self.trusted.get(&revocation.issuer).ok_or_else(|| {
            format!(
                "a revocation of {} from {}, which is not trusted here",
                lattice_interfaces::shown(&revocation.key),
                lattice_interfaces::shown(&revocation.issuer)
            )
        })?;
        issuer
            .verify(
                &GrantRevocation::signed_bytes(&revocation.key, revocation.until_ms),
                &revocation.signature,
            )
            .map_err(|_| {
                format!(
                    "the revocation of {} is forged",
                    lattice_interfaces::shown(&revocation.key)
                )
            })?;
        let now = unix_ms();
        let until = revocation.until_ms.min(now + MAX_GRANT_MS);
        let mut revoked = self.revoked.lock().unwrap_or_else(PoisonError::into_inner);
        if revoked.len() >= REVOCATION_MEMORY {
            revoked.retain(|_, until| *until > now);
        }
        if revoked.len() >= REVOCATION_MEMORY {
            if let Some(first) = revoked
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(key, _)| key.clone())
            {
                revoked.remove(&first);
            }
        }
        let entry = revoked.entry(revocation.key.clone()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    /// Whether `key` was revoked (and the revocation still stands at `now`).
    fn is_revoked(&self, key: &str, now: u64) -> bool {
        self.revoked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .is_some_and(|until| *until > now)
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
                &ProviderGrant::signed_bytes(grant.terms()),
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
                let now = unix_ms();
                if grant.expires_ms <= now {
                    return Err(refuse(format!(
                        "the grant of provider {} expired {} s ago",
                        grant.provider_id,
                        (now - grant.expires_ms) / 1000
                    )));
                }
                if grant.expires_ms - now > MAX_GRANT_MS {
                    return Err(refuse(format!(
                        "the grant of provider {} runs {} h, beyond the {} h a grant may",
                        grant.provider_id,
                        (grant.expires_ms - now) / 3_600_000,
                        MAX_GRANT_MS / 3_600_000
                    )));
                }
                if invocation.origin_host != grant.host_id {
                    return Err(refuse(format!(
                        "the grant of provider {} is for calls from host {}, not from {}",
                        grant.provider_id,
                        grant.host_id,
                        lattice_interfaces::shown(&invocation.origin_host)
                    )));
                }
                if self.is_revoked(&grant.key, now) {
                    return Err(refuse(format!(
                        "the key of provider {} was revoked (the provider stopped)",
                        grant.provider_id
                    )));
                }
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
        if invocation.deadline_ms - now > MAX_DEADLINE_MS {
            return Err(refuse(format!(
                "its deadline is {} s away, beyond the {} s a call may take",
                (invocation.deadline_ms - now) / 1000,
                MAX_DEADLINE_MS / 1000
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

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn invocation(id: &str, key: &KeyPair, deadline_ms: u64) -> SignedInvocation {
        let invocation = Invocation {
            id: id.into(),
            source: "http".into(),
            target: "hello".into(),
            interface: "wasi:http/incoming-handler".into(),
            function: "handle".into(),
            link_name: "default".into(),
            deadline_ms,
            traceparent: None,
            origin_host: "NHOST".into(),
            cluster_key: key.public_key(),
            payload: Vec::new(),
            payload_ref: None,
            grant: None,
        };
        SignedInvocation::decode(&invocation.sign(key).unwrap()).unwrap()
    }

    fn kind(result: Result<Invocation, Refused>) -> Option<ErrorKind> {
        result.err().map(|refused| refused.error.kind)
    }

    #[test]
    fn an_id_is_served_once_while_its_deadline_lasts() {
        let key = KeyPair::new_cluster();
        let verifier = Verifier::new(&[key.public_key()]);
        let once = invocation("i-1", &key, unix_ms() + 30_000);
        assert_eq!(kind(verifier.verify("hello", &once)), None);
        assert_eq!(
            kind(verifier.verify("hello", &once)),
            Some(ErrorKind::Unauthorized)
        );
        // Another id is not held up by it.
        let other = invocation("i-2", &key, unix_ms() + 30_000);
        assert_eq!(kind(verifier.verify("hello", &other)), None);
    }

    #[test]
    fn a_deadline_beyond_the_maximum_is_refused_so_no_id_is_pinned() {
        let key = KeyPair::new_cluster();
        let verifier = Verifier::new(&[key.public_key()]);
        let far = invocation("i-far", &key, unix_ms() + MAX_DEADLINE_MS + 60_000);
        let refused = verifier.verify("hello", &far).unwrap_err();
        assert_eq!(refused.error.kind, ErrorKind::Unauthorized);
        assert!(
            refused.error.message.contains("beyond the 3600 s"),
            "{}",
            refused.error.message
        );
    }

    #[test]
    fn expired_ids_are_forgotten_without_scanning_the_rest() {
        let memory = ReplayMemory::default();
        let now = 1_000_000_000;
        for n in 0..1_000 {
            memory
                .remember(&format!("old-{n}"), now + 1_000, now)
                .unwrap();
        }
        memory.remember("live", now + 60_000, now).unwrap();
        // Two seconds later, as new ids arrive on every shard, each shard
        // forgets its expired ones; the live one stays.
        let later = now + 2_500;
        for n in 0..1_000 {
            memory
                .remember(&format!("new-{n}"), later + 1_000, later)
                .unwrap();
        }
        let remembered: usize = memory
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().seen.len())
            .sum();
        assert_eq!(remembered, 1 + 1_000);
        assert_eq!(
            memory.remember("live", now + 60_000, later),
            Err(ErrorKind::Unauthorized)
        );
    }
}

//! Checking an invocation before it is served: addressed to this target,
//! signed by a trusted cluster key (or a provider key its host vouched for)
//! over exactly the bytes received, before its deadline, and each id once.
//! Hosts and provider processes run the same checks. A host that holds a
//! trusted key's seed also accepts that key's MAC in place of its signature
//! (`lattice_interfaces::protocol::rpc::seal`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use lattice_interfaces::protocol::rpc::{
    unix_ms, GrantRevocation, Invocation, MacKey, ProviderGrant, SignedInvocation,
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

/// The share of the replay memory one provider key (a granted signer) may
/// hold: a provider cannot fill the memory and put its host into `busy`
/// for everyone else (an eighth is 125,000 live ids: 4,000 calls a second
/// with 30 s deadlines).
pub const REPLAY_SHARE_PER_GRANT: usize = REPLAY_MEMORY / 8;

/// Longest invocation id accepted, in bytes (a host's are `<host id>-<nuid>-<n>`,
/// about 100): no caller pins memory with long ids.
pub const MAX_INVOCATION_ID: usize = 160;

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
    /// Signer and id (`<key> <id>`) → its deadline's second.
    seen: HashMap<String, u64>,
    /// Deadline second → what expires then, and whether it counts against
    /// its signer's share (a provider key's).
    expiring: std::collections::BTreeMap<u64, Vec<(String, bool)>>,
    /// Live ids per provider key (granted signers only).
    per_grant: HashMap<String, usize>,
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
            for (id, granted) in entry.remove() {
                self.seen.remove(&id);
                // The signer is the key's first word.
                let signer = id.split_once(' ').map_or(id.as_str(), |(signer, _)| signer);
                if granted {
                    if let Some(count) = self.per_grant.get_mut(signer) {
                        *count = count.saturating_sub(1);
                        if *count == 0 {
                            self.per_grant.remove(signer);
                        }
                    }
                }
            }
        }
    }
}

impl ReplayMemory {
    /// Remembers `id`, signed by `signer`, until `deadline_ms`; `Err` when
    /// that signer's `id` was seen before (`unauthorized`), or the memory
    /// (or, for a provider key, its share) is full of live ids (`busy`).
    /// Ids are the signer's own: nobody can claim another's.
    fn remember(
        &self,
        signer: &Signer<'_>,
        id: &str,
        deadline_ms: u64,
        now: u64,
    ) -> Result<(), ErrorKind> {
        let key = format!("{} {id}", signer.key());
        // `shard_of` is below the shard count: never `None`.
        let Some(shard) = self.shards.get(shard_of(&key)) else {
            return Err(ErrorKind::Busy);
        };
        let mut shard = shard.lock().unwrap_or_else(PoisonError::into_inner);
        shard.forget_expired(now / 1000);
        if shard.seen.contains_key(&key) {
            return Err(ErrorKind::Unauthorized);
        }
        if shard.seen.len() >= REPLAY_MEMORY / REPLAY_SHARDS {
            return Err(ErrorKind::Busy);
        }
        let granted = match signer {
            Signer::Trusted(_) => false,
            Signer::Granted(provider_key) => {
                let live = shard.per_grant.get(*provider_key).copied().unwrap_or(0);
                if live >= REPLAY_SHARE_PER_GRANT / REPLAY_SHARDS {
                    return Err(ErrorKind::Busy);
                }
                shard.per_grant.insert(provider_key.to_string(), live + 1);
                true
            }
        };
        // Kept to the end of the deadline's second: never forgotten early.
        let second = deadline_ms.div_ceil(1000);
        shard.seen.insert(key.clone(), second);
        shard
            .expiring
            .entry(second)
            .or_default()
            .push((key, granted));
        Ok(())
    }
}

/// Who signed an invocation, for the replay memory.
enum Signer<'a> {
    /// A trusted cluster key (a host).
    Trusted(&'a str),
    /// A provider's key, under its host's grant.
    Granted(&'a str),
}

impl Signer<'_> {
    fn key(&self) -> &str {
        match self {
            Self::Trusted(key) | Self::Granted(key) => key,
        }
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
    /// It came sealed with a MAC this process cannot check: the caller may
    /// send it signed.
    pub wants_signature: bool,
}

/// The checks one host or provider process applies to every invocation.
pub struct Verifier {
    trusted: HashMap<String, KeyPair>,
    /// The MAC keys of the trusted keys whose seeds this process holds.
    macs: HashMap<String, MacKey>,
    replays: ReplayMemory,
    /// Provider grants already checked, by the whole grant: a provider
    /// sends the same one with every call, so it is verified once.
    grants: Mutex<HashMap<ProviderGrant, Arc<KeyPair>>>,
    /// Provider keys revoked by their issuers, each until its last grant
    /// would have expired.
    revoked: Mutex<HashMap<String, u64>>,
    /// The lattice served: invocations, grants and revocations of any other
    /// are refused, whoever signed them (lattices may share a cluster key).
    lattice: std::sync::OnceLock<String>,
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
            macs: HashMap::new(),
            replays: ReplayMemory::default(),
            grants: Mutex::new(HashMap::new()),
            revoked: Mutex::new(HashMap::new()),
            lattice: std::sync::OnceLock::new(),
        }
    }

    /// Serves lattice `lattice` only, from now on: what belongs to another
    /// is refused. Set once; a later call changes nothing.
    pub fn serve_lattice(&self, lattice: &str) {
        let _ = self.lattice.set(lattice.to_string());
    }

    /// `Err` naming `what` when `claimed` is not the lattice served.
    fn in_lattice(&self, what: &str, claimed: &str) -> Result<(), String> {
        match self.lattice.get() {
            Some(served) if served != claimed => Err(format!(
                "{what} belongs to lattice {:?}, not {served}",
                lattice_interfaces::shown(claimed)
            )),
            _ => Ok(()),
        }
    }

    /// Also accepts invocations sealed with `key`, the MAC key of a seed
    /// this process holds, in place of their signature. A key that is not
    /// trusted here is ignored: its MACs are refused like its signatures.
    #[must_use]
    pub fn holding(mut self, key: MacKey) -> Self {
        if self.trusted.contains_key(key.cluster_key()) {
            self.macs.insert(key.cluster_key().to_string(), key);
        }
        self
    }

    /// Takes `revocation` to heart when a trusted key issued it: calls under
    /// any grant of its key are refused until `until_ms`.
    ///
    /// # Errors
    ///
    /// When its issuer is not trusted or its signature does not hold.
    pub fn revoke(&self, revocation: &GrantRevocation) -> Result<(), String> {
        self.in_lattice(
            &format!(
                "the revocation of {}",
                lattice_interfaces::shown(&revocation.key)
            ),
            &revocation.lattice,
        )?;
        let issuer = self.trusted.get(&revocation.issuer).ok_or_else(|| {
            format!(
                "a revocation of {} from {}, which is not trusted here",
                lattice_interfaces::shown(&revocation.key),
                lattice_interfaces::shown(&revocation.issuer)
            )
        })?;
        issuer
            .verify(
                &GrantRevocation::signed_bytes(
                    &revocation.lattice,
                    &revocation.key,
                    revocation.until_ms,
                ),
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
            wants_signature: false,
        })?;
        let checked = if self.cannot_check_mac_of(message, &invocation) {
            let why = format!(
                "it is sealed with a MAC of cluster key {}, whose seed this process \
                 does not hold: it must be signed",
                lattice_interfaces::shown(&invocation.cluster_key)
            );
            Err((refusal_of(&invocation, &why), true))
        } else {
            self.check(target, message, &invocation)
                .map_err(|error| (error, false))
        };
        match checked {
            Ok(()) => Ok(invocation),
            Err((error, wants_signature)) => Err(Refused {
                invocation: Some(Box::new(invocation)),
                error,
                wants_signature,
            }),
        }
    }

    /// Whether `message` is sealed with the MAC of a trusted key whose seed
    /// is not held here (and so could be checked if it were signed).
    fn cannot_check_mac_of(&self, message: &SignedInvocation, invocation: &Invocation) -> bool {
        sealed_with_mac(message, invocation)
            && self.trusted.contains_key(&invocation.cluster_key)
            && !self.macs.contains_key(&invocation.cluster_key)
    }

    fn check(
        &self,
        target: &str,
        message: &SignedInvocation,
        invocation: &Invocation,
    ) -> Result<(), InvocationError> {
        let refuse = |why: String| refusal_of(invocation, &why);
        self.in_lattice("it", &invocation.lattice).map_err(refuse)?;
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
                    "cluster key {:?} is not trusted here: start the hosts of a lattice with the same --cluster-seed, or add this key to the callee's --cluster-issuer",
                    lattice_interfaces::shown(&invocation.cluster_key)
                ))
            })?,
            Some(grant) => {
                self.in_lattice(
                    &format!("the grant of provider {}", grant.provider_id),
                    &grant.lattice,
                )
                .map_err(refuse)?;
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
        // A MAC stands for the signature only where this process holds the
        // key's seed, and never under a grant (no host holds a provider's).
        let mac = self
            .macs
            .get(&invocation.cluster_key)
            .filter(|_| sealed_with_mac(message, invocation));
        match mac {
            Some(mac) => {
                if !mac.checks(&message.invocation, &message.mac) {
                    return Err(refuse(
                        "bad MAC: the envelope was not sealed with its cluster key's seed or was changed"
                            .into(),
                    ));
                }
            }
            None => {
                if key.verify(&message.invocation, &message.signature).is_err() {
                    return Err(refuse(
                        "bad signature: the envelope was not signed by its cluster key or was changed"
                            .into(),
                    ));
                }
            }
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
        if invocation.id.len() > MAX_INVOCATION_ID {
            return Err(refuse(format!(
                "its id is {} bytes, longer than {MAX_INVOCATION_ID}",
                invocation.id.len()
            )));
        }
        let signer = match invocation.grant {
            Some(_) => Signer::Granted(&invocation.cluster_key),
            None => Signer::Trusted(&invocation.cluster_key),
        };
        self.replays
            .remember(&signer, &invocation.id, invocation.deadline_ms, now)
            .map_err(|kind| match kind {
                ErrorKind::Busy => InvocationError::new(
                    ErrorKind::Busy,
                    "too many invocations in flight to check for replays",
                ),
                _ => refuse("it was already served (replayed)".into()),
            })
    }
}

/// Whether `message` carries a MAC in place of a signature, outside any
/// grant: what only a holder of its cluster key's seed can check.
fn sealed_with_mac(message: &SignedInvocation, invocation: &Invocation) -> bool {
    message.signature.is_empty() && !message.mac.is_empty() && invocation.grant.is_none()
}

/// The `unauthorized` refusal of `invocation`, saying `why`.
fn refusal_of(invocation: &Invocation, why: &str) -> InvocationError {
    InvocationError::new(
        ErrorKind::Unauthorized,
        format!(
            "invocation {} refused: {why}",
            lattice_interfaces::shown(&invocation.id)
        ),
    )
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
            lattice: "default".into(),
            payload: Vec::new(),
            payload_ref: None,
            grant: None,
        };
        SignedInvocation::decode(&invocation.sign(key).unwrap()).unwrap()
    }

    /// The refusal of `result`, which must name `why`.
    fn refusal(result: Result<Invocation, Refused>, why: &str) -> Refused {
        let refused = result.unwrap_err();
        assert!(
            refused.error.message.contains(why),
            "{}",
            refused.error.message
        );
        refused
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

    fn sealed(id: &str, key: &KeyPair, mac: &MacKey) -> SignedInvocation {
        let mut message = invocation(id, key, unix_ms() + 30_000);
        message.signature.clear();
        message.mac = mac.mac(&message.invocation);
        message
    }

    #[test]
    fn a_mac_under_a_held_seed_stands_for_the_signature_and_nothing_else_does() {
        let key = KeyPair::new_cluster();
        let mac = MacKey::of(&key).unwrap();
        let verifier = Verifier::new(&[key.public_key()]).holding(mac.clone());
        assert_eq!(
            kind(verifier.verify("hello", &sealed("m-1", &key, &mac))),
            None
        );

        // Changed on the way: the MAC covers the bytes sent.
        let mut changed = sealed("m-2", &key, &mac);
        let other_function = Invocation {
            function: "something-else".into(),
            ..changed.invocation().unwrap()
        };
        changed.invocation = rmp_serde::to_vec_named(&other_function).unwrap();
        let refused = refusal(verifier.verify("hello", &changed), "bad MAC");
        assert!(!refused.wants_signature);

        // A MAC under another seed, claiming this cluster key: forged.
        let stranger = MacKey::of(&KeyPair::new_cluster()).unwrap();
        let mut forged = sealed("m-3", &key, &mac);
        forged.mac = stranger.mac(&forged.invocation);
        refusal(verifier.verify("hello", &forged), "bad MAC");
        // Garbage in place of a MAC.
        for garbage in [vec![0u8], vec![0u8; 32], vec![0xff; 4096]] {
            let mut bad = sealed("m-4", &key, &mac);
            bad.mac = garbage;
            assert_eq!(
                kind(verifier.verify("hello", &bad)),
                Some(ErrorKind::Unauthorized)
            );
        }
        // Replays are refused as for signed envelopes.
        assert_eq!(
            kind(verifier.verify("hello", &sealed("m-1", &key, &mac))),
            Some(ErrorKind::Unauthorized)
        );
    }

    #[test]
    fn a_mac_this_process_cannot_check_asks_for_a_signature() {
        let key = KeyPair::new_cluster();
        let mac = MacKey::of(&key).unwrap();
        // It trusts the key but does not hold its seed.
        let verifier = Verifier::new(&[key.public_key()]);
        let refused = refusal(
            verifier.verify("hello", &sealed("s-1", &key, &mac)),
            "must be signed",
        );
        assert!(refused.wants_signature);
        // Not remembered as served: the same invocation, signed, is served.
        let signed = invocation("s-1", &key, unix_ms() + 30_000);
        assert_eq!(kind(verifier.verify("hello", &signed)), None);

        // A MAC of a key not trusted here is simply refused.
        let stranger = KeyPair::new_cluster();
        let stranger_mac = MacKey::of(&stranger).unwrap();
        let refused = refusal(
            verifier.verify("hello", &sealed("s-2", &stranger, &stranger_mac)),
            "not trusted",
        );
        assert!(!refused.wants_signature);
        // Holding the MAC key of a key it does not trust changes nothing.
        let verifier = Verifier::new(&[key.public_key()]).holding(stranger_mac.clone());
        refusal(
            verifier.verify("hello", &sealed("s-3", &stranger, &stranger_mac)),
            "not trusted",
        );
    }

    #[test]
    fn a_call_under_a_provider_grant_must_be_signed_whatever_macs_are_held() {
        let host_key = KeyPair::new_cluster();
        let provider = KeyPair::new_cluster();
        let provider_mac = MacKey::of(&provider).unwrap();
        // Even a process that held the provider's MAC key would not take it.
        let verifier = Verifier::new(&[host_key.public_key()])
            .holding(MacKey::of(&host_key).unwrap())
            .holding(provider_mac.clone());
        let call = granted_call("g-1", &host_key, &provider);
        let bytes = rmp_serde::to_vec_named(&call).unwrap();
        let sealed = SignedInvocation {
            mac: provider_mac.mac(&bytes),
            invocation: bytes,
            signature: Vec::new(),
        };
        let refused = refusal(verifier.verify("hello", &sealed), "bad signature");
        assert!(!refused.wants_signature);
        let signed = SignedInvocation::decode(&call.sign(&provider).unwrap()).unwrap();
        assert_eq!(kind(verifier.verify("hello", &signed)), None);
    }

    #[test]
    fn a_deadline_beyond_the_maximum_is_refused_so_no_id_is_pinned() {
        let key = KeyPair::new_cluster();
        let verifier = Verifier::new(&[key.public_key()]);
        let far = invocation("i-far", &key, unix_ms() + MAX_DEADLINE_MS + 60_000);
        let refused = refusal(verifier.verify("hello", &far), "beyond the 3600 s");
        assert_eq!(refused.error.kind, ErrorKind::Unauthorized);
    }

    #[test]
    fn expired_ids_are_forgotten_without_scanning_the_rest() {
        let memory = ReplayMemory::default();
        let now = 1_000_000_000;
        for n in 0..1_000 {
            memory
                .remember(&Signer::Trusted("K"), &format!("old-{n}"), now + 1_000, now)
                .unwrap();
        }
        memory
            .remember(&Signer::Trusted("K"), "live", now + 60_000, now)
            .unwrap();
        // Two seconds later, as new ids arrive on every shard, each shard
        // forgets its expired ones; the live one stays.
        let later = now + 2_500;
        for n in 0..1_000 {
            memory
                .remember(
                    &Signer::Trusted("K"),
                    &format!("new-{n}"),
                    later + 1_000,
                    later,
                )
                .unwrap();
        }
        let remembered: usize = memory
            .shards
            .iter()
            .map(|shard| shard.lock().unwrap().seen.len())
            .sum();
        assert_eq!(remembered, 1 + 1_000);
        assert_eq!(
            memory.remember(&Signer::Trusted("K"), "live", now + 60_000, later),
            Err(ErrorKind::Unauthorized)
        );
    }

    /// A call of provider `provider` under `host_key`'s grant, id `id`.
    fn granted_call(id: &str, host_key: &KeyPair, provider: &KeyPair) -> Invocation {
        let grant = ProviderGrant::issue(
            host_key,
            lattice_interfaces::protocol::rpc::GrantTerms {
                provider_id: "http",
                key: &provider.public_key(),
                host_id: "NHOST",
                lattice: "default",
                expires_ms: unix_ms() + 60_000,
            },
        )
        .unwrap();
        Invocation {
            grant: Some(grant),
            ..invocation(id, provider, unix_ms() + 30_000)
                .invocation()
                .unwrap()
        }
    }

    /// That call, signed.
    fn granted(id: &str, host_key: &KeyPair, provider: &KeyPair) -> SignedInvocation {
        let call = granted_call(id, host_key, provider);
        SignedInvocation::decode(&call.sign(provider).unwrap()).unwrap()
    }

    #[test]
    fn a_provider_cannot_claim_another_callers_ids_nor_pin_memory_with_long_ones() {
        let host_key = KeyPair::new_cluster();
        let provider = KeyPair::new_cluster();
        let verifier = Verifier::new(&[host_key.public_key()]);
        // Having seen a host's id, the provider sends it first...
        let id = "NHOST-abcdefghijklmnopqrstuv-7";
        assert_eq!(
            kind(verifier.verify("hello", &granted(id, &host_key, &provider))),
            None
        );
        // ...and the host's own call with that id is still served once.
        let from_host = invocation(id, &host_key, unix_ms() + 30_000);
        assert_eq!(kind(verifier.verify("hello", &from_host)), None);
        assert_eq!(
            kind(verifier.verify("hello", &from_host)),
            Some(ErrorKind::Unauthorized)
        );
        // Long ids are refused before anything is remembered.
        let long = "x".repeat(MAX_INVOCATION_ID + 1);
        let refused = refusal(
            verifier.verify("hello", &granted(&long, &host_key, &provider)),
            "longer than",
        );
        assert_eq!(refused.error.kind, ErrorKind::Unauthorized);
    }

    #[test]
    fn one_provider_fills_only_its_share_of_the_replay_memory() {
        let memory = ReplayMemory::default();
        let now = 1_000_000_000;
        let provider = Signer::Granted("PROVIDER");
        let mut served = 0;
        let busy = loop {
            match memory.remember(&provider, &format!("p-{served}"), now + 60_000, now) {
                Ok(()) => served += 1,
                Err(kind) => break kind,
            }
            assert!(served <= REPLAY_MEMORY, "a provider fills the whole memory");
        };
        assert_eq!(busy, ErrorKind::Busy);
        assert!(served <= REPLAY_SHARE_PER_GRANT, "{served}");
        // Hosts and other providers are still served.
        memory
            .remember(&Signer::Trusted("HOST"), "h-1", now + 60_000, now)
            .unwrap();
        memory
            .remember(&Signer::Granted("OTHER"), "o-1", now + 60_000, now)
            .unwrap();
        // Its ids expire and its share comes back.
        let later = now + 61_000;
        memory
            .remember(&provider, "p-again", later + 60_000, later)
            .unwrap();
    }
}

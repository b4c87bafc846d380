//! The invocation MAC: a cheaper seal than the Ed25519 signature, between
//! hosts that hold the same cluster seed.
//!
//! A host signs invocations with its cluster key (`C…`), so it holds that
//! key's seed. From the seed it derives a [`MacKey`] (HKDF-SHA256, salt
//! `lattice`, info `invocation mac v1`), and an envelope may carry an
//! HMAC-SHA256 of its invocation bytes under that key instead of the
//! signature. Only a holder of the seed can make or check such a MAC, so to
//! the hosts that can check it, it proves what the signature proves: they
//! could have signed the envelope themselves. A process that only trusts
//! the public key (a host given it with `--cluster-issuer`, a provider
//! process) cannot check it, and answers `wants_signature`: the caller then
//! signs what it sends that target.
//!
//! Checking a MAC costs about a microsecond; an Ed25519 signature and its
//! verification cost tens (BENCHMARKS.md, "Routing").

use ring::{hkdf, hmac};

use super::envelope::EnvelopeError;

/// Length of an invocation MAC (HMAC-SHA256).
pub const MAC_LEN: usize = 32;

/// The key of the invocation MACs of one cluster key, derived from its
/// seed. Debug shows the public key only; the key never leaves the process.
#[derive(Clone)]
pub struct MacKey {
    cluster_key: String,
    key: hmac::Key,
}

impl std::fmt::Debug for MacKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacKey")
            .field("cluster_key", &self.cluster_key)
            .finish_non_exhaustive()
    }
}

impl MacKey {
    /// The MAC key of cluster key `pair`.
    ///
    /// # Errors
    ///
    /// When `pair` is a public key only (it has no seed to derive from).
    pub fn of(pair: &nkeys::KeyPair) -> Result<Self, EnvelopeError> {
        let seed = pair
            .seed()
            .map_err(|e| EnvelopeError(format!("no MAC key without a seed: {e}")))?;
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"lattice").extract(seed.as_bytes());
        // HKDF's output, as long as the HMAC's own output, is the key.
        let key = prk
            .expand(&[b"invocation mac v1"], hmac::HMAC_SHA256)
            .map(hmac::Key::from)
            .map_err(|_| EnvelopeError("cannot derive the MAC key".into()))?;
        Ok(Self {
            cluster_key: pair.public_key(),
            key,
        })
    }

    /// The public cluster key whose seed this key was derived from.
    pub fn cluster_key(&self) -> &str {
        &self.cluster_key
    }

    /// The MAC of `bytes`.
    pub fn mac(&self, bytes: &[u8]) -> Vec<u8> {
        hmac::sign(&self.key, bytes).as_ref().to_vec()
    }

    /// Whether `mac` is the MAC of `bytes` (compared in constant time; a
    /// MAC of any other length is simply wrong).
    pub fn checks(&self, bytes: &[u8], mac: &[u8]) -> bool {
        hmac::verify(&self.key, bytes, mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn one_seed_gives_one_key_and_another_seed_another() {
        let pair = nkeys::KeyPair::new_cluster();
        let same = nkeys::KeyPair::from_seed(&pair.seed().unwrap()).unwrap();
        let (a, b) = (MacKey::of(&pair).unwrap(), MacKey::of(&same).unwrap());
        let mac = a.mac(b"invocation");
        assert_eq!(mac.len(), MAC_LEN);
        assert!(b.checks(b"invocation", &mac));
        assert!(!b.checks(b"invocatioN", &mac));
        assert!(!b.checks(b"invocation", &mac[..MAC_LEN - 1]));
        assert!(!b.checks(b"invocation", b""));
        let other = MacKey::of(&nkeys::KeyPair::new_cluster()).unwrap();
        assert!(!other.checks(b"invocation", &mac));
        assert_eq!(a.cluster_key(), pair.public_key());
    }

    #[test]
    fn a_public_key_has_no_mac_key_and_debug_shows_no_secret() {
        let pair = nkeys::KeyPair::new_cluster();
        let public = nkeys::KeyPair::from_public_key(&pair.public_key()).unwrap();
        assert!(MacKey::of(&public).is_err());
        let shown = format!("{:?}", MacKey::of(&pair).unwrap());
        assert!(shown.contains(&pair.public_key()), "{shown}");
        assert!(!shown.contains(&pair.seed().unwrap()), "{shown}");
    }
}

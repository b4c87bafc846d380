//! The invocation envelope on `lattice.<L>.rpc.<target>`, exactly as it
//! crosses NATS.
//!
//! A message on an `rpc` subject is a [`SignedInvocation`]: a MessagePack
//! map `{"invocation": bin, "signature": bin}` or `{"invocation": bin,
//! "mac": bin}`. `invocation` holds the [`Invocation`] encoded as a
//! MessagePack map with named fields. `signature` is the Ed25519 signature,
//! by the key named in the invocation's `cluster_key`, over exactly those
//! bytes; `mac` is the HMAC-SHA256 of those bytes under the [`MacKey`] of
//! that key's seed, which hosts holding the seed send each other instead
//! (see [`super::seal`]). A receiver checks the bytes it received, as they
//! are: nothing is re-encoded, so a client in any language signs and
//! verifies without matching this crate's encoder.
//!
//! The answer is an [`InvocationResponse`], unsigned: it comes back on the
//! caller's own inbox, which only the caller's connection can read.
//!
//! Payloads larger than [`INLINE_LIMIT`] do not travel inline: the side that
//! holds them serves them in chunks of [`CHUNK_SIZE`] on a private subject
//! ([`BodyRef`]), and the other side pulls chunk `i` with a request whose
//! payload is `i` in decimal. Nothing is ever truncated.

use serde::{Deserialize, Serialize};

use super::seal::MacKey;
use crate::InvocationError;

/// Payloads up to this size travel inside the envelope.
pub const INLINE_LIMIT: usize = 512 << 10;
/// Size of one pulled chunk.
pub const CHUNK_SIZE: usize = 512 << 10;

/// Largest payload carried either way beyond the inline part (an HTTP body,
/// a value): 64 MiB.
pub const MAX_PAYLOAD_BYTES: usize = 64 << 20;

/// Where a large payload can be pulled from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BodyRef {
    /// Subject that answers chunk requests.
    pub subject: String,
    /// Total length in bytes.
    pub len: u64,
    /// Number of chunks.
    pub chunks: u32,
}

/// One call to a target on another host or in a provider process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// Unique id (origin host id and a sequence number).
    pub id: String,
    /// The calling actor or provider.
    pub source: String,
    /// The called actor or provider.
    pub target: String,
    /// The interface, `ns:pkg/iface`, e.g. `wasi:http/incoming-handler`.
    pub interface: String,
    /// The function, e.g. `handle`.
    pub function: String,
    /// The link the call travels over.
    pub link_name: String,
    /// Deadline, Unix milliseconds; the call is refused after it.
    pub deadline_ms: u64,
    /// W3C `traceparent`, when the call is traced.
    #[serde(default)]
    pub traceparent: Option<String>,
    /// The host the call comes from.
    pub origin_host: String,
    /// Public cluster key (`C…`) that signed the envelope.
    pub cluster_key: String,
    /// The lattice the call belongs to: a callee in another lattice refuses
    /// it even when it trusts the key that signed it (lattices may share a
    /// cluster key).
    #[serde(default)]
    pub lattice: String,
    /// The encoded arguments.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// A large payload to pull instead of `payload`.
    #[serde(default)]
    pub payload_ref: Option<BodyRef>,
    /// Set by a provider process: the grant its host gave it, which lets
    /// `cluster_key` (the provider's own key) sign calls whose `source` is
    /// that provider, over links that start at it, and nothing else.
    #[serde(default)]
    pub grant: Option<ProviderGrant>,
}

/// What travels on an `rpc` subject: an encoded [`Invocation`] and the
/// signature, or the MAC, over exactly those bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedInvocation {
    /// The [`Invocation`], MessagePack with named fields.
    #[serde(with = "serde_bytes")]
    pub invocation: Vec<u8>,
    /// Ed25519 signature over `invocation` by its `cluster_key`; empty
    /// (and not sent) in an envelope sealed with `mac`.
    #[serde(with = "serde_bytes", default, skip_serializing_if = "Vec::is_empty")]
    pub signature: Vec<u8>,
    /// HMAC-SHA256 over `invocation` under the [`MacKey`] of its
    /// `cluster_key`; empty (and not sent) in a signed envelope.
    #[serde(with = "serde_bytes", default, skip_serializing_if = "Vec::is_empty")]
    pub mac: Vec<u8>,
}

/// What a host gives a provider process it starts: its own signing key,
/// vouched for by the host's cluster key, good only for calls made as that
/// provider, from that host, until it expires. A provider never holds the
/// host's key; its host renews the grant while the process runs and revokes
/// the key when the process stops (a [`GrantRevocation`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderGrant {
    /// The provider the key may act as.
    pub provider_id: String,
    /// The provider's public key (`C…`).
    pub key: String,
    /// The host that started the provider: calls under the grant must say
    /// they come from it (`origin_host`).
    pub host_id: String,
    /// The lattice the grant is good in.
    #[serde(default)]
    pub lattice: String,
    /// When the grant ends, Unix milliseconds.
    pub expires_ms: u64,
    /// The host's cluster public key that issued the grant.
    pub issuer: String,
    /// Ed25519 signature by `issuer` over [`ProviderGrant::signed_bytes`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// What a grant says, before it is signed.
#[derive(Debug, Clone, Copy)]
pub struct GrantTerms<'a> {
    /// The provider the key may act as.
    pub provider_id: &'a str,
    /// The provider's public key.
    pub key: &'a str,
    /// The host the calls come from.
    pub host_id: &'a str,
    /// The lattice the calls belong to.
    pub lattice: &'a str,
    /// When the grant ends, Unix milliseconds.
    pub expires_ms: u64,
}

impl ProviderGrant {
    /// The bytes an issuer signs: what the grant says, unambiguously (no
    /// field may hold a newline: ids and keys cannot).
    pub fn signed_bytes(terms: GrantTerms<'_>) -> Vec<u8> {
        format!(
            "lattice provider grant\n{}\n{}\n{}\n{}\n{}",
            terms.lattice, terms.provider_id, terms.key, terms.host_id, terms.expires_ms
        )
        .into_bytes()
    }

    /// What this grant says.
    pub fn terms(&self) -> GrantTerms<'_> {
        GrantTerms {
            provider_id: &self.provider_id,
            key: &self.key,
            host_id: &self.host_id,
            lattice: &self.lattice,
            expires_ms: self.expires_ms,
        }
    }

    /// A grant by `issuer` on `terms`.
    ///
    /// # Errors
    ///
    /// When `issuer` cannot sign (a public key only).
    pub fn issue(issuer: &nkeys::KeyPair, terms: GrantTerms<'_>) -> Result<Self, EnvelopeError> {
        let signature = issuer
            .sign(&Self::signed_bytes(terms))
            .map_err(|e| EnvelopeError(format!("cannot sign a provider grant: {e}")))?;
        Ok(Self {
            provider_id: terms.provider_id.to_string(),
            key: terms.key.to_string(),
            host_id: terms.host_id.to_string(),
            lattice: terms.lattice.to_string(),
            expires_ms: terms.expires_ms,
            issuer: issuer.public_key(),
            signature,
        })
    }
}

/// An issuer's word that a provider key it granted is no longer good, sent
/// to every host when the provider stops. Hosts remember it until the last
/// grant of the key would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRevocation {
    /// The provider key revoked.
    pub key: String,
    /// The lattice it is revoked in.
    #[serde(default)]
    pub lattice: String,
    /// When its last grant expires, Unix milliseconds: after that, the
    /// revocation need not be remembered.
    pub until_ms: u64,
    /// The cluster public key that issued the grants and revokes them.
    pub issuer: String,
    /// Ed25519 signature by `issuer` over [`GrantRevocation::signed_bytes`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl GrantRevocation {
    /// The bytes an issuer signs.
    pub fn signed_bytes(lattice: &str, key: &str, until_ms: u64) -> Vec<u8> {
        format!("lattice provider grant revoked\n{lattice}\n{key}\n{until_ms}").into_bytes()
    }

    /// `issuer`'s revocation of `key` in `lattice`, remembered until
    /// `until_ms`.
    ///
    /// # Errors
    ///
    /// When `issuer` cannot sign (a public key only).
    pub fn issue(
        issuer: &nkeys::KeyPair,
        lattice: &str,
        key: &str,
        until_ms: u64,
    ) -> Result<Self, EnvelopeError> {
        let signature = issuer
            .sign(&Self::signed_bytes(lattice, key, until_ms))
            .map_err(|e| EnvelopeError(format!("cannot sign a grant revocation: {e}")))?;
        Ok(Self {
            key: key.to_string(),
            lattice: lattice.to_string(),
            until_ms,
            issuer: issuer.public_key(),
            signature,
        })
    }
}

/// The answer to an [`Invocation`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// The invocation's id.
    pub id: String,
    /// Set when the call failed.
    #[serde(default)]
    pub error: Option<InvocationError>,
    /// The encoded results.
    #[serde(with = "serde_bytes", default)]
    pub payload: Vec<u8>,
    /// A large result to pull instead of `payload`.
    #[serde(default)]
    pub payload_ref: Option<BodyRef>,
    /// Set when the invocation came sealed with a MAC this callee cannot
    /// check (it does not hold that cluster key's seed): send it signed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wants_signature: bool,
    /// Set when the callee no longer runs the target (it scaled in while
    /// the invocation was on its way) and did nothing with it: the caller
    /// may send it again, to the hosts that run the target now.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_here: bool,
}

/// Why an envelope could not be decoded, encoded or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed invocation: {0}")]
pub struct EnvelopeError(pub String);

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EnvelopeError> {
    rmp_serde::to_vec_named(value).map_err(|e| EnvelopeError(e.to_string()))
}

fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, EnvelopeError> {
    rmp_serde::from_slice(bytes).map_err(|e| EnvelopeError(e.to_string()))
}

impl Invocation {
    /// Encodes and signs the invocation with `signer`, whose public key
    /// must be its `cluster_key`; returns the message for the `rpc` subject.
    ///
    /// # Errors
    ///
    /// When `signer` holds no seed or the invocation cannot be encoded.
    pub fn sign(&self, signer: &nkeys::KeyPair) -> Result<Vec<u8>, EnvelopeError> {
        let invocation = encode(self)?;
        let signature = signer
            .sign(&invocation)
            .map_err(|e| EnvelopeError(format!("cannot sign: {e}")))?;
        encode(&SignedInvocation {
            invocation,
            signature,
            mac: Vec::new(),
        })
    }

    /// Encodes the invocation and seals it with `key`, the MAC key of its
    /// `cluster_key`, for hosts that hold that key's seed; returns the
    /// message for the `rpc` subject.
    ///
    /// # Errors
    ///
    /// When `key` is not the MAC key of the invocation's `cluster_key`, or
    /// the invocation cannot be encoded.
    pub fn seal(&self, key: &MacKey) -> Result<Vec<u8>, EnvelopeError> {
        if key.cluster_key() != self.cluster_key {
            return Err(EnvelopeError(format!(
                "cannot seal an invocation of cluster key {} with the MAC key of {}",
                self.cluster_key,
                key.cluster_key()
            )));
        }
        let invocation = encode(self)?;
        encode(&SignedInvocation {
            mac: key.mac(&invocation),
            invocation,
            signature: Vec::new(),
        })
    }
}

impl SignedInvocation {
    /// Splits a message from an `rpc` subject into the signed bytes and the
    /// signature. Untrusted input: any bytes give an answer, never a panic.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a signed invocation.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        decode(bytes)
    }

    /// The invocation inside, decoded but not yet verified.
    ///
    /// # Errors
    ///
    /// When the signed bytes are not an [`Invocation`].
    pub fn invocation(&self) -> Result<Invocation, EnvelopeError> {
        decode(&self.invocation)
    }
}

impl InvocationResponse {
    /// A successful answer with `payload` inline or by reference.
    pub fn ok(id: String, payload: Vec<u8>, payload_ref: Option<BodyRef>) -> Self {
        Self {
            id,
            error: None,
            payload,
            payload_ref,
            wants_signature: false,
            not_here: false,
        }
    }

    /// A failed answer.
    pub fn failed(id: String, error: InvocationError) -> Self {
        Self {
            id,
            error: Some(error),
            payload: Vec::new(),
            payload_ref: None,
            wants_signature: false,
            not_here: false,
        }
    }

    /// Encodes the response.
    ///
    /// # Errors
    ///
    /// When it cannot be encoded.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        encode(self)
    }

    /// Decodes a response from untrusted bytes.
    ///
    /// # Errors
    ///
    /// When `bytes` is not a response.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        decode(bytes)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn invocation(key: &str) -> Invocation {
        Invocation {
            id: "N1-1".into(),
            source: "http".into(),
            target: "hello".into(),
            interface: "wasi:http/incoming-handler".into(),
            function: "handle".into(),
            link_name: "default".into(),
            deadline_ms: 1,
            traceparent: None,
            origin_host: "N1".into(),
            cluster_key: key.into(),
            lattice: "default".into(),
            payload: vec![1, 2, 3],
            payload_ref: None,
            grant: None,
        }
    }

    #[test]
    fn the_signature_covers_exactly_the_signed_bytes() {
        let key = nkeys::KeyPair::new_cluster();
        let inv = invocation(&key.public_key());
        let message = SignedInvocation::decode(&inv.sign(&key).unwrap()).unwrap();
        assert_eq!(message.invocation().unwrap(), inv);
        assert!(key.verify(&message.invocation, &message.signature).is_ok());
        let mut changed = message.invocation.clone();
        if let Some(last) = changed.last_mut() {
            *last ^= 1;
        }
        assert!(key.verify(&changed, &message.signature).is_err());
    }

    #[test]
    fn a_sealed_envelope_carries_the_mac_of_exactly_the_invocation_bytes() {
        let key = nkeys::KeyPair::new_cluster();
        let mac_key = MacKey::of(&key).unwrap();
        let inv = invocation(&key.public_key());
        let message = SignedInvocation::decode(&inv.seal(&mac_key).unwrap()).unwrap();
        assert_eq!(message.invocation().unwrap(), inv);
        assert!(message.signature.is_empty());
        assert!(mac_key.checks(&message.invocation, &message.mac));
        // Only the MAC key of the invocation's own cluster key seals it.
        let other = MacKey::of(&nkeys::KeyPair::new_cluster()).unwrap();
        let e = inv.seal(&other).unwrap_err();
        assert!(e.to_string().contains("cannot seal"), "{e}");
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bytes in [&b""[..], b"\xff", b"\x80", b"\x91\x01", &[0xde, 0xff, 0xff]] {
            assert!(SignedInvocation::decode(bytes).is_err());
            assert!(InvocationResponse::decode(bytes).is_err());
        }
        let wrapped = SignedInvocation {
            invocation: b"\x91\x01".to_vec(),
            signature: Vec::new(),
            mac: Vec::new(),
        };
        assert!(wrapped.invocation().is_err());
    }
}

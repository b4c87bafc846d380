//! Calls between hosts: the invocation envelope on `lattice.<L>.rpc.<target>`.
//!
//! An [`Invocation`] is MessagePack (`rmp-serde`, named fields). The origin
//! host signs it with its cluster key (nkeys `C…`): the signature covers the
//! envelope encoded with an empty `signature`. A receiving host accepts only
//! invocations signed by a cluster key it trusts, before their deadline, and
//! each id once.
//!
//! Payloads larger than [`INLINE_LIMIT`] do not travel inline: the side that
//! holds them serves them in chunks of [`CHUNK_SIZE`] on a private subject
//! ([`BodyRef`]), and the other side pulls chunk `i` with a request whose
//! payload is `i` in decimal. Nothing is ever truncated.

use serde::{Deserialize, Serialize};

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

/// One call from a host to a target on another host.
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
    /// The encoded arguments.
    #[serde(with = "serde_bytes")]
    pub payload: Vec<u8>,
    /// A large payload to pull instead of `payload`.
    #[serde(default)]
    pub payload_ref: Option<BodyRef>,
    /// Ed25519 signature by `cluster_key` over the envelope with this empty.
    #[serde(with = "serde_bytes", default)]
    pub signature: Vec<u8>,
    /// Set by a provider process: the grant its host gave it, which lets
    /// `cluster_key` (the provider's own key) sign calls whose `source` is
    /// that provider, over links that start at it, and nothing else.
    #[serde(default)]
    pub grant: Option<ProviderGrant>,
}

/// What a host gives a provider process it starts: its own signing key,
/// vouched for by the host's cluster key, good only for calls made as that
/// provider. A provider never holds the host's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderGrant {
    /// The provider the key may act as.
    pub provider_id: String,
    /// The provider's public key (`C…`).
    pub key: String,
    /// The host's cluster public key that issued the grant.
    pub issuer: String,
    /// Ed25519 signature by `issuer` over [`ProviderGrant::signed_bytes`].
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl ProviderGrant {
    /// The bytes an issuer signs: what the grant says, unambiguously.
    pub fn signed_bytes(provider_id: &str, key: &str) -> Vec<u8> {
        format!("lattice provider grant\n{provider_id}\n{key}").into_bytes()
    }

    /// A grant by `issuer` letting `key` act as `provider_id`.
    ///
    /// # Errors
    ///
    /// When `issuer` cannot sign (a public key only).
    pub fn issue(
        issuer: &nkeys::KeyPair,
        provider_id: &str,
        key: &str,
    ) -> Result<Self, EnvelopeError> {
        let signature = issuer
            .sign(&Self::signed_bytes(provider_id, key))
            .map_err(|e| EnvelopeError(format!("cannot sign a provider grant: {e}")))?;
        Ok(Self {
            provider_id: provider_id.to_string(),
            key: key.to_string(),
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
}

/// Why an envelope could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed invocation: {0}")]
pub struct EnvelopeError(pub String);

impl Invocation {
    /// The bytes the signature covers: the envelope with no signature.
    pub fn signed_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let unsigned = Self {
            signature: Vec::new(),
            ..self.clone()
        };
        rmp_serde::to_vec_named(&unsigned).map_err(|e| EnvelopeError(e.to_string()))
    }

    /// Encodes the envelope.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        rmp_serde::to_vec_named(self).map_err(|e| EnvelopeError(e.to_string()))
    }

    /// Decodes an envelope from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        rmp_serde::from_slice(bytes).map_err(|e| EnvelopeError(e.to_string()))
    }
}

impl InvocationResponse {
    /// Encodes the response.
    pub fn encode(&self) -> Result<Vec<u8>, EnvelopeError> {
        rmp_serde::to_vec_named(self).map_err(|e| EnvelopeError(e.to_string()))
    }

    /// Decodes a response from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, EnvelopeError> {
        rmp_serde::from_slice(bytes).map_err(|e| EnvelopeError(e.to_string()))
    }
}

/// The head of an HTTP request carried by a `wasi:http/incoming-handler`
/// invocation; the body is the rest of the payload (or its [`BodyRef`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequestHead {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// The authority the client asked for (Host header).
    pub authority: String,
    /// Headers, in order, values as bytes.
    pub headers: Vec<(String, serde_bytes::ByteBuf)>,
}

/// The head of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpResponseHead {
    /// Status code.
    pub status: u16,
    /// Headers, in order, values as bytes.
    pub headers: Vec<(String, serde_bytes::ByteBuf)>,
}

/// An HTTP request or response: head and body, as one MessagePack value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpMessage<H> {
    /// The head.
    pub head: H,
    /// The body.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn invocation() -> Invocation {
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
            cluster_key: "C1".into(),
            payload: vec![1, 2, 3],
            payload_ref: None,
            signature: vec![9; 64],
            grant: None,
        }
    }

    #[test]
    fn round_trips_and_the_signed_bytes_exclude_the_signature() {
        let inv = invocation();
        assert_eq!(Invocation::decode(&inv.encode().unwrap()).unwrap(), inv);
        let other = Invocation {
            signature: vec![1; 64],
            ..inv.clone()
        };
        assert_eq!(inv.signed_bytes().unwrap(), other.signed_bytes().unwrap());
        let changed = Invocation {
            target: "evil".into(),
            ..inv.clone()
        };
        assert_ne!(inv.signed_bytes().unwrap(), changed.signed_bytes().unwrap());
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for bytes in [&b""[..], b"\xff", b"\x80", b"\x91\x01", &[0xde, 0xff, 0xff]] {
            assert!(Invocation::decode(bytes).is_err());
            assert!(InvocationResponse::decode(bytes).is_err());
        }
    }
}

/// A component-model value on the wire: every WIT type but resources,
/// futures and streams, which cannot leave their host.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum WireVal {
    /// `bool`.
    Bool(bool),
    /// `s8`.
    S8(i8),
    /// `u8`.
    U8(u8),
    /// `s16`.
    S16(i16),
    /// `u16`.
    U16(u16),
    /// `s32`.
    S32(i32),
    /// `u32`.
    U32(u32),
    /// `s64`.
    S64(i64),
    /// `u64`.
    U64(u64),
    /// `f32`.
    F32(f32),
    /// `f64`.
    F64(f64),
    /// `char`.
    Char(char),
    /// `string`.
    String(String),
    /// `list<T>`.
    List(Vec<WireVal>),
    /// `map<K, V>`.
    Map(Vec<(WireVal, WireVal)>),
    /// A record: fields by name, in order.
    Record(Vec<(String, WireVal)>),
    /// A tuple.
    Tuple(Vec<WireVal>),
    /// A variant case and its payload.
    Variant(String, Option<Box<WireVal>>),
    /// An enum case.
    Enum(String),
    /// `option<T>`.
    Option(Option<Box<WireVal>>),
    /// `result<T, E>`.
    Result(Result<Option<Box<WireVal>>, Option<Box<WireVal>>>),
    /// Flags that are set.
    Flags(Vec<String>),
    /// A fixed-length list.
    FixedList(Vec<WireVal>),
    /// A non-empty `list<u8>`, as bytes: a message body or a blob crosses
    /// at its own size rather than a value per byte.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

/// Checks invocations before they are served: addressed to this target,
/// signed by a trusted cluster key, before their deadline, and each id once.
/// Hosts and provider processes use the same checks.
pub struct Verifier {
    trusted: std::collections::HashMap<String, nkeys::KeyPair>,
    seen: std::sync::Mutex<std::collections::HashMap<String, u64>>,
    /// Provider grants already checked, by the whole grant: a provider
    /// sends the same one with every call, so it is verified once.
    grants:
        std::sync::Mutex<std::collections::HashMap<ProviderGrant, std::sync::Arc<nkeys::KeyPair>>>,
}

/// Checked provider grants remembered (a host starts few providers).
const GRANT_MEMORY: usize = 1_024;

/// Invocation ids remembered against replays.
pub const REPLAY_MEMORY: usize = 100_000;

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
                    nkeys::KeyPair::from_public_key(key)
                        .ok()
                        .map(|pair| (key.clone(), pair))
                })
                .collect(),
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
            grants: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// The key a provider grant vouches for, when a trusted key issued it.
    fn check_grant(&self, grant: &ProviderGrant) -> Result<std::sync::Arc<nkeys::KeyPair>, String> {
        let cached = self
            .grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(grant)
            .cloned();
        if let Some(key) = cached {
            return Ok(key);
        }
        let issuer = self.trusted.get(&grant.issuer).ok_or_else(|| {
            format!(
                "the grant of provider {} was issued by {:?}, which this host does not trust",
                grant.provider_id, grant.issuer
            )
        })?;
        issuer
            .verify(
                &ProviderGrant::signed_bytes(&grant.provider_id, &grant.key),
                &grant.signature,
            )
            .map_err(|_| format!("the grant of provider {} is forged", grant.provider_id))?;
        let key = nkeys::KeyPair::from_public_key(&grant.key).map_err(|e| {
            format!(
                "the grant of provider {} names a bad key: {e}",
                grant.provider_id
            )
        })?;
        let key = std::sync::Arc::new(key);
        let mut grants = self
            .grants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if grants.len() >= GRANT_MEMORY {
            grants.clear();
        }
        grants.insert(grant.clone(), key.clone());
        Ok(key)
    }

    /// Whether `key` is trusted.
    pub fn trusts(&self, key: &str) -> bool {
        self.trusted.contains_key(key)
    }

    /// The trusted keys.
    pub fn trusted(&self) -> impl Iterator<Item = &String> {
        self.trusted.keys()
    }

    /// Checks `invocation`, received on the subject of `target`.
    pub fn verify(&self, target: &str, invocation: &Invocation) -> Result<(), InvocationError> {
        use crate::ErrorKind;
        let refuse = |why: String| {
            InvocationError::new(
                ErrorKind::Unauthorized,
                format!("invocation {} refused: {why}", invocation.id),
            )
        };
        if invocation.target != target {
            return Err(refuse(format!(
                "addressed to {} on the subject of {target}",
                invocation.target
            )));
        }
        let granted;
        let key = match &invocation.grant {
            None => self.trusted.get(&invocation.cluster_key).ok_or_else(|| {
                refuse(format!(
                    "cluster key {:?} is not trusted by this host",
                    invocation.cluster_key
                ))
            })?,
            Some(grant) => {
                granted = self.check_grant(grant).map_err(refuse)?;
                if invocation.source != grant.provider_id {
                    return Err(refuse(format!(
                        "provider {} may only call as itself, not as {}",
                        grant.provider_id, invocation.source
                    )));
                }
                if invocation.cluster_key != grant.key {
                    return Err(refuse("signed by a key its grant does not name".into()));
                }
                &*granted
            }
        };
        let signed = invocation
            .signed_bytes()
            .map_err(|e| refuse(e.to_string()))?;
        if key.verify(&signed, &invocation.signature).is_err() {
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
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= REPLAY_MEMORY {
            seen.retain(|_, deadline| *deadline > now);
        }
        if seen.len() >= REPLAY_MEMORY {
            return Err(InvocationError::new(
                ErrorKind::Busy,
                "too many invocations in flight to check for replays",
            ));
        }
        if seen
            .insert(invocation.id.clone(), invocation.deadline_ms)
            .is_some()
        {
            return Err(refuse("it was already served (replayed)".into()));
        }
        Ok(())
    }
}

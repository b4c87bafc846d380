//! The JWT itself: encoding, decoding and checking one token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64URL_NOPAD;
use nkeys::KeyPair;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::keys::KeyKind;

const HEADER_TYPE: &str = "jwt";
const HEADER_ALGORITHM: &str = "Ed25519";

/// The `wascap_revision` we write; wascap checks module hashes from 3 on.
pub const WASCAP_REVISION: u32 = 3;

/// Why claims were refused. Each is one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimsError {
    /// The module around the claims does not parse.
    #[error("the module does not parse: {0}")]
    Unparsable(String),
    /// The JWT or its section cannot be read at all.
    #[error("malformed claims: {0}")]
    Malformed(String),
    /// The header names another algorithm.
    #[error("claims use algorithm {0:?}; only Ed25519 is accepted")]
    Algorithm(String),
    /// The issuer is not an account key.
    #[error("issuer {0:?} is not an account public key (A…)")]
    Issuer(String),
    /// The subject is not a key of the expected kind.
    #[error("subject {subject:?} is not a {expected} public key")]
    Subject {
        /// The subject given.
        subject: String,
        /// The kind needed.
        expected: KeyKind,
    },
    /// The signature does not verify with the issuer's key.
    #[error("bad signature: the claims were not signed by their issuer {0}")]
    BadSignature(String),
    /// The module was changed after it was signed.
    #[error("hash mismatch: the module was changed after it was signed (tampered): claims say {claimed}, module is {actual}")]
    Tampered {
        /// The hash in the claims.
        claimed: String,
        /// The hash of the module now.
        actual: String,
    },
    /// Past `exp`.
    #[error("claims expired since {0}")]
    Expired(String),
    /// Before `nbf`.
    #[error("claims are not valid before {0}")]
    NotYetValid(String),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(String),
}

impl ClaimsError {
    /// The module itself does not parse. wasmparser's messages can span
    /// lines; a refusal is one line.
    pub fn unparsable(e: impl std::fmt::Display) -> Self {
        let text = e.to_string();
        Self::Unparsable(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// A set of JWT claims, with `T` the `wascap` metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims<T> {
    /// Expiry, Unix seconds.
    #[serde(rename = "exp", default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<u64>,
    /// Unique token id.
    #[serde(rename = "jti")]
    pub id: String,
    /// Issued at, Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// The signing account's public key.
    #[serde(rename = "iss")]
    pub issuer: String,
    /// The module's (actor) or service's (provider) public key.
    #[serde(rename = "sub")]
    pub subject: String,
    /// Not valid before, Unix seconds.
    #[serde(rename = "nbf", default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// What is claimed about the subject.
    #[serde(rename = "wascap", skip_serializing_if = "Option::is_none")]
    pub metadata: Option<T>,
    /// wascap's format revision.
    #[serde(
        rename = "wascap_revision",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub revision: Option<u32>,
}

/// What the claims of an actor say about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ComponentMetadata {
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Uppercase hex sha256 of the component without its claims section.
    #[serde(rename = "hash")]
    pub module_hash: String,
    /// Free-form tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Revision, increasing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i32>,
    /// Version for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// wascap's call alias; kept, unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_alias: Option<String>,
    /// Whether the subject is a provider (wascap's `prov`).
    #[serde(rename = "prov", default)]
    pub provider: bool,
    /// WIT interfaces (`ns:pkg/iface`) the actor may import beyond the basic set.
    #[serde(rename = "caps", default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
}

/// What the claims of a provider process say about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProviderMetadata {
    /// A name for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who makes it.
    #[serde(default)]
    pub vendor: String,
    /// Revision, increasing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i32>,
    /// Version for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Uppercase hex sha256 of the binary for each target (`x86_64-linux`).
    #[serde(default)]
    pub target_hashes: std::collections::BTreeMap<String, String>,
}

fn segment<T: Serialize>(value: &T) -> Result<String, ClaimsError> {
    serde_json::to_vec(value)
        .map(|json| BASE64URL_NOPAD.encode(&json))
        .map_err(|e| ClaimsError::Sign(e.to_string()))
}

fn unsegment<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, ClaimsError> {
    let bytes = BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|e| ClaimsError::Malformed(format!("{what} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ClaimsError::Malformed(format!("{what} is not the expected JSON: {e}")))
}

#[derive(Serialize, Deserialize)]
struct Header {
    typ: String,
    alg: String,
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// RFC 3339 UTC for a Unix time, for messages.
pub(crate) fn rfc3339(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

impl<T: Serialize + DeserializeOwned> Claims<T> {
    /// Encodes and signs the claims with `issuer`, which must be the key
    /// named in `self.issuer`.
    pub fn encode(&self, issuer: &KeyPair) -> Result<String, ClaimsError> {
        if issuer.public_key() != self.issuer {
            return Err(ClaimsError::Sign(
                "the signing key is not the claims' issuer".into(),
            ));
        }
        let signed = format!(
            "{}.{}",
            segment(&Header {
                typ: HEADER_TYPE.into(),
                alg: HEADER_ALGORITHM.into()
            })?,
            segment(self)?
        );
        let signature = issuer
            .sign(signed.as_bytes())
            .map_err(|e| ClaimsError::Sign(e.to_string()))?;
        Ok(format!("{signed}.{}", BASE64URL_NOPAD.encode(&signature)))
    }

    /// Decodes `jwt` and checks its header, issuer, subject kind and
    /// signature. Does not check the validity window: see [`Self::check_time`].
    pub fn decode_verified(jwt: &str, subject_kind: KeyKind) -> Result<Self, ClaimsError> {
        let mut parts = jwt.trim().split('.');
        let (Some(header), Some(body), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ClaimsError::Malformed(
                "a JWT has three dot-separated parts".into(),
            ));
        };
        let head: Header = unsegment("the JWT header", header)?;
        if head.alg != HEADER_ALGORITHM {
            return Err(ClaimsError::Algorithm(head.alg));
        }
        if head.typ.to_ascii_lowercase() != HEADER_TYPE {
            return Err(ClaimsError::Malformed(format!(
                "header type {:?} is not jwt",
                head.typ
            )));
        }
        let claims: Self = unsegment("the JWT claims", body)?;
        if KeyKind::of_public_key(&claims.issuer) != Some(KeyKind::Account) {
            return Err(ClaimsError::Issuer(claims.issuer));
        }
        if KeyKind::of_public_key(&claims.subject) != Some(subject_kind) {
            return Err(ClaimsError::Subject {
                subject: claims.subject,
                expected: subject_kind,
            });
        }
        let signature = BASE64URL_NOPAD.decode(signature.as_bytes()).map_err(|e| {
            ClaimsError::Malformed(format!("the JWT signature is not base64url: {e}"))
        })?;
        KeyPair::from_public_key(&claims.issuer)
            .and_then(|key| key.verify(format!("{header}.{body}").as_bytes(), &signature))
            .map_err(|_| ClaimsError::BadSignature(claims.issuer.clone()))?;
        Ok(claims)
    }

    /// Checks `nbf` and `exp` against `now` (Unix seconds).
    pub fn check_time(&self, now: u64) -> Result<(), ClaimsError> {
        if let Some(nbf) = self.not_before.filter(|nbf| now < *nbf) {
            return Err(ClaimsError::NotYetValid(rfc3339(nbf)));
        }
        if let Some(exp) = self.expires.filter(|exp| now >= *exp) {
            return Err(ClaimsError::Expired(rfc3339(exp)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn claims(issuer: &KeyPair) -> Claims<ComponentMetadata> {
        Claims {
            expires: None,
            id: "t".into(),
            issued_at: 1,
            issuer: issuer.public_key(),
            subject: KeyKind::Module.generate().public_key(),
            not_before: None,
            metadata: Some(ComponentMetadata {
                module_hash: "AB".into(),
                ..Default::default()
            }),
            revision: Some(WASCAP_REVISION),
        }
    }

    #[test]
    fn round_trips_and_refuses_a_flipped_signature() {
        let account = KeyKind::Account.generate();
        let original = claims(&account);
        let jwt = original.encode(&account).unwrap();
        let back = Claims::<ComponentMetadata>::decode_verified(&jwt, KeyKind::Module).unwrap();
        assert_eq!(back, original);

        let mut forged = jwt.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        let e = Claims::<ComponentMetadata>::decode_verified(&forged, KeyKind::Module).unwrap_err();
        assert!(
            matches!(e, ClaimsError::BadSignature(_) | ClaimsError::Malformed(_)),
            "{e}"
        );
    }

    #[test]
    fn refuses_claims_signed_by_another_key_than_the_issuer() {
        let account = KeyKind::Account.generate();
        let other = KeyKind::Account.generate();
        let mut c = claims(&account);
        c.issuer = other.public_key();
        // Sign the claims naming `other` with `account`'s key, by hand.
        let signed = format!(
            "{}.{}",
            segment(&Header {
                typ: "jwt".into(),
                alg: "Ed25519".into()
            })
            .unwrap(),
            segment(&c).unwrap()
        );
        let jwt = format!(
            "{signed}.{}",
            BASE64URL_NOPAD.encode(&account.sign(signed.as_bytes()).unwrap())
        );
        let e = Claims::<ComponentMetadata>::decode_verified(&jwt, KeyKind::Module).unwrap_err();
        assert_eq!(e, ClaimsError::BadSignature(other.public_key()));
    }

    #[test]
    fn garbage_is_malformed_never_a_panic() {
        for jwt in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!!.!!!.!!!",
            "e30.e30.e30",
            "eyJ0eXAiOiJqd3QiLCJhbGciOiJIUzI1NiJ9.e30.AA",
        ] {
            assert!(
                Claims::<ComponentMetadata>::decode_verified(jwt, KeyKind::Module).is_err(),
                "{jwt}"
            );
        }
    }

    #[test]
    fn time_window_is_checked() {
        let account = KeyKind::Account.generate();
        let mut c = claims(&account);
        c.not_before = Some(100);
        c.expires = Some(200);
        assert_eq!(
            c.check_time(99),
            Err(ClaimsError::NotYetValid("1970-01-01T00:01:40Z".into()))
        );
        assert_eq!(c.check_time(150), Ok(()));
        assert_eq!(
            c.check_time(200),
            Err(ClaimsError::Expired("1970-01-01T00:03:20Z".into()))
        );
    }
}

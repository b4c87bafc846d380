//! Claims of a provider that runs as its own process: the same JWT, kept in
//! a file beside the binary (`BINARY.jwt`), with the binary's hash for each
//! target it was built for.

use std::collections::BTreeMap;

use data_encoding::HEXUPPER;
use nkeys::KeyPair;
use sha2::{Digest, Sha256};

use super::jwt::{unix_now, Claims, ClaimsError, ProviderMetadata, WASCAP_REVISION};
use super::keys::KeyKind;

/// The target this process runs on, as provider claims name it: `x86_64-linux`.
pub fn current_target() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// What to claim when signing a provider binary.
#[derive(Debug, Default, Clone)]
pub struct ProviderSigning {
    /// A name for people.
    pub name: Option<String>,
    /// Who makes it.
    pub vendor: String,
    /// Version for people.
    pub ver: Option<String>,
    /// Revision.
    pub rev: Option<i32>,
    /// Valid until (Unix seconds).
    pub expires: Option<u64>,
}

/// A binary's hash as provider claims record it: uppercase hex sha256.
pub fn binary_hash(binary: &[u8]) -> String {
    HEXUPPER.encode(&Sha256::digest(binary))
}

/// The target whose hash in `claims` is `actual` (a binary's
/// [`binary_hash`]), if any.
pub fn claimed_target(claims: &Claims<ProviderMetadata>, actual: &str) -> Option<String> {
    claims
        .metadata
        .as_ref()?
        .target_hashes
        .iter()
        .find(|(_, hash)| hash.eq_ignore_ascii_case(actual))
        .map(|(target, _)| target.clone())
}

/// Signs `binary`, built for `target`, as `subject` (a service key) issued by
/// `issuer` (an account key). Returns the JWT to store beside it.
pub fn sign_provider(
    binary: &[u8],
    target: &str,
    issuer: &KeyPair,
    subject: &KeyPair,
    what: &ProviderSigning,
) -> Result<String, ClaimsError> {
    if KeyKind::of(issuer) != Some(KeyKind::Account) {
        return Err(ClaimsError::Issuer(issuer.public_key()));
    }
    if KeyKind::of(subject) != Some(KeyKind::Service) {
        return Err(ClaimsError::Subject {
            subject: subject.public_key(),
            expected: KeyKind::Service,
        });
    }
    let hash = binary_hash(binary);
    let issued_at = unix_now();
    let claims = Claims {
        expires: what.expires,
        id: HEXUPPER
            .encode(&Sha256::digest(format!("{hash}{issued_at}")))
            .chars()
            .take(22)
            .collect(),
        issued_at,
        issuer: issuer.public_key(),
        subject: subject.public_key(),
        not_before: None,
        metadata: Some(ProviderMetadata {
            name: what.name.clone(),
            vendor: what.vendor.clone(),
            rev: what.rev,
            ver: what.ver.clone(),
            target_hashes: BTreeMap::from([(target.to_string(), hash)]),
        }),
        revision: Some(WASCAP_REVISION),
    };
    claims.encode(issuer)
}

/// Checks that `jwt` is signed by its issuer and vouches for `binary` on
/// `target`. The validity window is the caller's to check.
pub fn read_provider(
    binary: &[u8],
    target: &str,
    jwt: &str,
) -> Result<Claims<ProviderMetadata>, ClaimsError> {
    read_provider_hashed(&binary_hash(binary), target, jwt)
}

/// [`read_provider`] for a binary whose hash ([`binary_hash`]) the caller
/// already has, so a large binary is hashed once.
pub fn read_provider_hashed(
    actual: &str,
    target: &str,
    jwt: &str,
) -> Result<Claims<ProviderMetadata>, ClaimsError> {
    let claims = Claims::<ProviderMetadata>::decode_verified(jwt, KeyKind::Service)?;
    let claimed = claims
        .metadata
        .as_ref()
        .and_then(|m| m.target_hashes.get(target))
        .ok_or_else(|| {
            ClaimsError::Malformed(format!("the claims name no hash for target {target}"))
        })?;
    if !claimed.eq_ignore_ascii_case(actual) {
        return Err(ClaimsError::Tampered {
            claimed: claimed.clone(),
            actual: actual.to_string(),
        });
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn a_signed_binary_verifies_and_a_changed_one_does_not() {
        let account = KeyKind::Account.generate();
        let service = KeyKind::Service.generate();
        let binary = b"\x7fELF pretend provider".to_vec();
        let jwt = sign_provider(
            &binary,
            "x86_64-linux",
            &account,
            &service,
            &ProviderSigning {
                vendor: "lattice".into(),
                ..Default::default()
            },
        )
        .unwrap();
        let claims = read_provider(&binary, "x86_64-linux", &jwt).unwrap();
        assert_eq!(claims.subject, service.public_key());
        assert!(matches!(
            read_provider(b"other", "x86_64-linux", &jwt),
            Err(ClaimsError::Tampered { .. })
        ));
        assert!(matches!(
            read_provider(&binary, "aarch64-macos", &jwt),
            Err(ClaimsError::Malformed(_))
        ));
        let module = KeyKind::Module.generate();
        assert!(sign_provider(
            &binary,
            "x86_64-linux",
            &account,
            &module,
            &ProviderSigning::default()
        )
        .is_err());
    }
}

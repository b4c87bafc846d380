//! Which actors a host will run: the claims check that comes before any
//! compilation.
//!
//! In order, an actor must: carry claims (unless the host runs with
//! `allow_unsigned`, a development flag); carry claims that parse, are
//! signed by their issuer and match the module's hash; be inside its
//! `nbf`/`exp` window; have an issuer on the host's allow-list when there is
//! one; and have every import outside the basic set covered by a claimed
//! capability. A module that carries claims is checked in full even when
//! unsigned modules are allowed: a bad signature is never waved through.

use std::time::{SystemTime, UNIX_EPOCH};

use lattice_interfaces::claims::{
    read_component, Claims, ClaimsError, ComponentMetadata, ProviderClaims,
};
use lattice_interfaces::Contract;
use wasmparser::{Parser, Payload};

use crate::references::{ReferenceError, ReferencePolicy};

/// Interfaces every actor may import without claiming them: they reach
/// nothing outside the instance (clocks, randomness, streams, the host's
/// stderr, exit) or are plain data types. `wasi:http/types` is here because
/// it only describes requests; sending one needs `wasi:http/outgoing-handler`.
/// `wasi:config` reads only the actor's own config, and `wasmcloud:bus`
/// only picks among the actor's own links (calls over them still need
/// their claims).
pub const BASIC_INTERFACES: &[&str] = &[
    "wasi:clocks/*",
    "wasi:random/*",
    "wasi:io/*",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:logging/*",
    "wasi:config/*",
    "wasmcloud:bus/*",
    "wasi:http/types",
    "wasmcloud:messaging/types",
];

/// Who a host trusts to vouch for actors and provider binaries, and which
/// files it reads as them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustPolicy {
    /// Run modules that carry no claims. For development only.
    pub allow_unsigned: bool,
    /// Run provider binaries that carry no claims: a separate flag, as such
    /// a binary runs as a process with the host's NATS access. For
    /// development only.
    pub allow_unsigned_providers: bool,
    /// Account keys allowed as issuers; empty allows any valid signature.
    pub allowed_issuers: Vec<String>,
    /// Where references may be read from, and how much.
    pub references: ReferencePolicy,
}

/// A provider binary that passed [`TrustPolicy::verify_provider`]: the
/// bytes that were checked, their hash, and the claims when signed.
#[derive(Debug, Clone)]
pub struct VerifiedBinary {
    /// The bytes checked.
    pub bytes: Vec<u8>,
    /// Their sha256, uppercase hex.
    pub sha256: String,
    /// The claims that vouched for them; `None` when run unsigned.
    pub claims: Option<ProviderClaims>,
}

/// Why an actor was refused. The message is the reason alone; the caller
/// names the actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// No claims and unsigned modules are not allowed.
    #[error("not signed: sign it with `lattice-ctl claims sign` or run the host with --allow-unsigned (development only)")]
    NotSigned,
    /// A provider binary without claims: `jwt` names where they were
    /// looked for.
    #[error("not signed: no {jwt}; sign it with `lattice-ctl claims sign-provider BINARY --issuer ACCOUNT` or run the host with --allow-unsigned-providers (development only)")]
    ProviderNotSigned {
        /// The claims file it lacks.
        jwt: String,
    },
    /// The file may not or cannot be read.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The claims are bad, the module was changed, or the window is shut.
    #[error(transparent)]
    Claims(#[from] ClaimsError),
    /// The issuer is not on the allow-list.
    #[error("issuer {issuer} is not allowed on this host (allowed: {allowed})")]
    IssuerNotAllowed {
        /// The issuer.
        issuer: String,
        /// The allow-list, comma-separated.
        allowed: String,
    },
    /// Imports need capabilities the claims do not grant: all of them, at
    /// once.
    #[error("{} not claimed (claimed: {claimed}); re-sign with {}", imports_named(.imports), caps(.imports))]
    ImportNotClaimed {
        /// The interfaces imported and not granted.
        imports: Vec<String>,
        /// What the claims grant, comma-separated, or `none`.
        claimed: String,
    },
}

/// `import X is` or `imports X, Y are`.
fn imports_named(imports: &[String]) -> String {
    match imports {
        [one] => format!("import {one} is"),
        many => format!("imports {} are", many.join(", ")),
    }
}

/// `--cap X --cap Y`.
fn caps(imports: &[String]) -> String {
    imports
        .iter()
        .map(|i| format!("--cap {i}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The interface names (`ns:pkg/iface`, without version) a component
/// imports at its top level.
pub fn component_imports(wasm: &[u8]) -> Result<Vec<String>, TrustError> {
    let mut imports = Vec::new();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(ClaimsError::unparsable)?;
        match payload {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 0 => {
                for import in section {
                    let import = import.map_err(ClaimsError::unparsable)?;
                    let name = import.name.name;
                    let name = name.split_once('@').map_or(name, |(name, _version)| name);
                    imports.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(imports)
}

/// The imports of a component that its claims must grant: every one
/// beyond [`BASIC_INTERFACES`], in order, each once. What `lattice-ctl
/// build` signs a component with.
///
/// # Errors
///
/// The bytes are not a component that parses.
pub fn claimable_imports(wasm: &[u8]) -> Result<Vec<String>, TrustError> {
    let mut claimable: Vec<String> = Vec::new();
    for import in component_imports(wasm)? {
        if !covered(&import, BASIC_INTERFACES) && !claimable.contains(&import) {
            claimable.push(import);
        }
    }
    Ok(claimable)
}

fn covered(import: &str, patterns: impl IntoIterator<Item = impl AsRef<str>>) -> bool {
    let Some((package, _interface)) = import.split_once('/') else {
        return false;
    };
    patterns.into_iter().any(|pattern| {
        let pattern = pattern.as_ref();
        pattern == import
            || pattern.strip_suffix("/*") == Some(package)
            || Contract::parse(pattern).is_ok_and(|c| {
                lattice_interfaces::contract::Interface::parse(import)
                    .is_some_and(|interface| c.includes(interface))
            })
    })
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl TrustPolicy {
    /// Checks provider binary `bytes` against this policy: its `claims`
    /// must be signed by their issuer, vouch for these exact bytes on this
    /// target, be inside their validity window and come from an allowed
    /// issuer. A binary without claims runs only with
    /// `allow_unsigned_providers`; `claims_source` names where they were
    /// looked for. The bytes checked are returned: what runs is them, not
    /// whatever a path or tag holds later.
    pub fn verify_provider(
        &self,
        bytes: Vec<u8>,
        claims: Option<&str>,
        claims_source: &str,
    ) -> Result<VerifiedBinary, TrustError> {
        let sha256 = lattice_interfaces::claims::binary_hash(&bytes);
        let Some(jwt) = claims else {
            if self.allow_unsigned_providers {
                return Ok(VerifiedBinary {
                    bytes,
                    sha256,
                    claims: None,
                });
            }
            return Err(TrustError::ProviderNotSigned {
                jwt: claims_source.to_string(),
            });
        };
        let claims = lattice_interfaces::claims::read_provider_hashed(
            &sha256,
            &lattice_interfaces::claims::current_target(),
            jwt,
        )?;
        claims.check_time(unix_now())?;
        if !self.allowed_issuers.is_empty() && !self.allowed_issuers.contains(&claims.issuer) {
            return Err(TrustError::IssuerNotAllowed {
                issuer: claims.issuer.clone(),
                allowed: self.allowed_issuers.join(", "),
            });
        }
        Ok(VerifiedBinary {
            bytes,
            sha256,
            claims: Some(claims),
        })
    }

    /// Checks `wasm` against this policy at time `now` (Unix seconds; `None`
    /// for the clock). Returns the claims, or `None` for an allowed unsigned
    /// module.
    pub fn verify(
        &self,
        wasm: &[u8],
        now: Option<u64>,
    ) -> Result<Option<Claims<ComponentMetadata>>, TrustError> {
        let Some((_jwt, claims)) = read_component(wasm)? else {
            return if self.allow_unsigned {
                Ok(None)
            } else {
                Err(TrustError::NotSigned)
            };
        };
        claims.check_time(now.unwrap_or_else(unix_now))?;
        if !self.allowed_issuers.is_empty() && !self.allowed_issuers.contains(&claims.issuer) {
            return Err(TrustError::IssuerNotAllowed {
                issuer: claims.issuer.clone(),
                allowed: self.allowed_issuers.join(", "),
            });
        }
        let granted: &[String] = claims
            .metadata
            .as_ref()
            .map_or(&[], |m| m.capabilities.as_slice());
        let missing: Vec<String> = component_imports(wasm)?
            .into_iter()
            .filter(|import| !covered(import, BASIC_INTERFACES) && !covered(import, granted))
            .collect();
        if !missing.is_empty() {
            return Err(TrustError::ImportNotClaimed {
                claimed: if granted.is_empty() {
                    "none".into()
                } else {
                    granted.join(", ")
                },
                imports: missing,
            });
        }
        Ok(Some(claims))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_and_claimed_imports_are_covered() {
        assert!(covered("wasi:io/streams", BASIC_INTERFACES));
        assert!(covered("wasi:http/types", BASIC_INTERFACES));
        assert!(!covered("wasi:http/outgoing-handler", BASIC_INTERFACES));
        assert!(!covered("wasi:filesystem/types", BASIC_INTERFACES));
        assert!(covered(
            "wasi:keyvalue/atomics",
            ["wasi:keyvalue/store,atomics"]
        ));
        assert!(!covered(
            "wasi:keyvalue/batch",
            ["wasi:keyvalue/store,atomics"]
        ));
        assert!(covered(
            "example:uppercase/convert",
            ["example:uppercase/*"]
        ));
        assert!(!covered("nonsense", ["nonsense"]));
    }

    #[test]
    fn unsigned_provider_binaries_need_their_own_flag() {
        let binary = b"#!/bin/sh\n".to_vec();
        let actors_only = TrustPolicy {
            allow_unsigned: true,
            ..TrustPolicy::default()
        };
        let refused = actors_only
            .verify_provider(binary.clone(), None, "provider.jwt beside it")
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--allow-unsigned-providers"), "{refused}");
        assert!(refused.contains("no provider.jwt beside it"), "{refused}");
        let providers = TrustPolicy {
            allow_unsigned_providers: true,
            ..TrustPolicy::default()
        };
        let verified = providers
            .verify_provider(binary.clone(), None, "provider.jwt beside it")
            .expect("runs unsigned");
        assert!(verified.claims.is_none());
        assert_eq!(verified.bytes, binary);
        let garbage = providers
            .verify_provider(binary, Some("not a jwt"), "provider.jwt beside it")
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(garbage, TrustError::Claims(_)), "{garbage}");
    }
}

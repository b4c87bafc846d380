//! Claims: who vouches for an actor or provider, what it is, and what it
//! may import, as a JWT signed with Ed25519 nkeys.
//!
//! The format is wasmCloud's `wascap` 0.16, so wascap-based tools read the
//! claims we sign and we read theirs:
//! - header `{"typ":"jwt","alg":"Ed25519"}`, segments base64url without
//!   padding, the signature by the issuer's key over `header.claims`;
//! - `iss` an account key (`A…`), `sub` a module key (`M…`) for actors or a
//!   service key (`V…`) for providers; `iat`, `nbf`, `exp` in Unix seconds;
//! - `wascap`: name, `hash` (uppercase hex sha256 of the component without
//!   its claims section), tags, `rev`, `ver`, and `caps`, the WIT interfaces
//!   the actor may import (wascap ignores the field; we enforce it);
//! - for an actor, the JWT lives in the component's custom section
//!   `wasmcloud_jwt` (`jwt` is read too, as older wascap wrote it).
//!
//! A provider process keeps the same JWT in a file beside its binary
//! (`BINARY.jwt`), subject a service key (`V…`), with the binary's sha256 per
//! target in `target_hashes`: [`sign_provider`], [`read_provider`] (or
//! [`read_provider_hashed`] when the hash is known).
//!
//! Signing: [`sign_component`]. Reading and checking: [`read_component`],
//! which refuses a bad signature or a changed module, and
//! [`Claims::check_time`] for the validity window.

mod jwt;
mod keys;
mod provider;
mod section;

pub use jwt::{Claims, ClaimsError, ComponentMetadata, ProviderMetadata, WASCAP_REVISION};
pub use keys::{parse_key_pair, KeyError, KeyKind};
pub use provider::{
    binary_hash, claimed_target, current_target, read_provider, read_provider_hashed,
    sign_provider, ProviderSigning,
};
pub use section::{
    embed, extract_jwt, module_hash, read_component, sign_component, strip, ComponentSigning,
    SignedComponent, LEGACY_SECTION, SECTION,
};

/// The claims of a signed actor.
pub type ActorClaims = Claims<ComponentMetadata>;

/// The claims of a signed provider binary.
pub type ProviderClaims = Claims<ProviderMetadata>;

/// The claims of anything a lattice ran signed, as `claims.get` lists
/// them: the JWT's claims as they are, told apart by their metadata (an
/// actor's carries the component's `hash`; a provider's, `target_hashes`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum LatticeClaims {
    /// An actor's.
    Actor(ActorClaims),
    /// A provider binary's.
    Provider(ProviderClaims),
}

impl LatticeClaims {
    /// The subject's public key: a module key (M…) or a service key (V…).
    pub fn subject(&self) -> &str {
        match self {
            Self::Actor(claims) => &claims.subject,
            Self::Provider(claims) => &claims.subject,
        }
    }

    /// The issuer's public key (an account, A…).
    pub fn issuer(&self) -> &str {
        match self {
            Self::Actor(claims) => &claims.issuer,
            Self::Provider(claims) => &claims.issuer,
        }
    }

    /// The name and version for people, when claimed.
    pub fn name_and_version(&self) -> (Option<&str>, Option<&str>) {
        match self {
            Self::Actor(claims) => claims
                .metadata
                .as_ref()
                .map_or((None, None), |m| (m.name.as_deref(), m.ver.as_deref())),
            Self::Provider(claims) => claims
                .metadata
                .as_ref()
                .map_or((None, None), |m| (m.name.as_deref(), m.ver.as_deref())),
        }
    }

    /// `actor` or `provider`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Actor(_) => "actor",
            Self::Provider(_) => "provider",
        }
    }
}

//! Key kinds and reading keys from the command line.
//!
//! Errors never echo what they were given: a mistyped seed is still a secret.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use nkeys::{KeyPair, KeyPairType};

/// The kinds of key a lattice uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Signs actors and providers (`A…`).
    Account,
    /// An actor's identity (`M…`).
    Module,
    /// A provider's identity (`V…`).
    Service,
    /// A host's identity (`N…`).
    Server,
    /// Signs invocations between hosts (`C…`).
    Cluster,
    /// A NATS user (`U…`): what a host, an operator or a provider process
    /// authenticates to NATS with (`--nats-nkey`).
    User,
}

impl KeyKind {
    /// Every kind, in the order `keys gen` lists them.
    pub const ALL: [KeyKind; 6] = [
        Self::Account,
        Self::Module,
        Self::Service,
        Self::Server,
        Self::Cluster,
        Self::User,
    ];

    /// The kind's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::Module => "module",
            Self::Service => "service",
            Self::Server => "server",
            Self::Cluster => "cluster",
            Self::User => "user",
        }
    }

    /// The first letter of public keys of this kind.
    pub fn prefix(self) -> char {
        match self {
            Self::Account => 'A',
            Self::Module => 'M',
            Self::Service => 'V',
            Self::Server => 'N',
            Self::Cluster => 'C',
            Self::User => 'U',
        }
    }

    /// A fresh key pair of this kind.
    pub fn generate(self) -> KeyPair {
        KeyPair::new(self.into())
    }

    /// The kind of a key pair, if it is one a lattice uses.
    pub fn of(pair: &KeyPair) -> Option<Self> {
        match pair.key_pair_type() {
            KeyPairType::Account => Some(Self::Account),
            KeyPairType::Module => Some(Self::Module),
            KeyPairType::Service => Some(Self::Service),
            KeyPairType::Server => Some(Self::Server),
            KeyPairType::Cluster => Some(Self::Cluster),
            KeyPairType::User => Some(Self::User),
            _ => None,
        }
    }

    /// The kind of a public key, checked (checksum and all).
    pub fn of_public_key(key: &str) -> Option<Self> {
        KeyPair::from_public_key(key)
            .ok()
            .as_ref()
            .and_then(Self::of)
    }
}

impl From<KeyKind> for KeyPairType {
    fn from(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Account => KeyPairType::Account,
            KeyKind::Module => KeyPairType::Module,
            KeyKind::Service => KeyPairType::Service,
            KeyKind::Server => KeyPairType::Server,
            KeyKind::Cluster => KeyPairType::Cluster,
            KeyKind::User => KeyPairType::User,
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KeyKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown key kind {s:?}: use account, module, service, server, cluster or user"
                )
            })
    }
}

/// Why a key could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither a seed nor a readable file.
    #[error("{what}: not an nkeys seed (S…) and no file of that name ({reason})")]
    Unreadable {
        /// Which key, e.g. `--issuer`.
        what: String,
        /// Why the file could not be read.
        reason: String,
    },
    /// Looks like a seed but does not decode.
    #[error("{what}: the seed is not valid (bad length, alphabet or checksum)")]
    BadSeed {
        /// Which key.
        what: String,
    },
    /// A seed of the wrong kind.
    #[error("{what}: expected a{n} {expected} seed, got a {found} seed", n = if matches!(expected, KeyKind::Account) { "n" } else { "" })]
    WrongKind {
        /// Which key.
        what: String,
        /// The kind needed.
        expected: KeyKind,
        /// The kind given.
        found: String,
    },
}

/// Reads a key pair of `expected` kind from `text`: a seed, or the path of
/// a file holding one. `what` names the key in errors.
pub fn parse_key_pair(text: &str, expected: KeyKind, what: &str) -> Result<KeyPair, KeyError> {
    let text = text.trim();
    let seed = if text.starts_with('S') && !Path::new(text).exists() {
        text.to_string()
    } else {
        std::fs::read_to_string(text)
            .map_err(|e| KeyError::Unreadable {
                what: what.to_string(),
                reason: e.to_string(),
            })?
            .trim()
            .to_string()
    };
    let pair = KeyPair::from_seed(&seed).map_err(|_| KeyError::BadSeed {
        what: what.to_string(),
    })?;
    match KeyKind::of(&pair) {
        Some(kind) if kind == expected => Ok(pair),
        other => Err(KeyError::WrongKind {
            what: what.to_string(),
            expected,
            found: other.map_or_else(
                || format!("{:?}", pair.key_pair_type()).to_lowercase(),
                |k| k.name().to_string(),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn generated_keys_have_their_prefix_and_parse_back() {
        for kind in KeyKind::ALL {
            let pair = kind.generate();
            assert!(pair.public_key().starts_with(kind.prefix()));
            assert_eq!(KeyKind::of_public_key(&pair.public_key()), Some(kind));
            let seed = pair.seed().unwrap();
            assert_eq!(
                parse_key_pair(&seed, kind, "key").unwrap().public_key(),
                pair.public_key()
            );
        }
    }

    #[test]
    fn errors_never_echo_the_seed() {
        let seed = KeyKind::Module.generate().seed().unwrap();
        let e = parse_key_pair(&seed, KeyKind::Account, "--issuer")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "--issuer: expected an account seed, got a module seed");
        let mut broken = seed.clone();
        broken.replace_range(10..11, if &seed[10..11] == "A" { "B" } else { "A" });
        let e = parse_key_pair(&broken, KeyKind::Module, "--subject")
            .unwrap_err()
            .to_string();
        assert!(!e.contains(&broken[3..]), "{e}");
        assert!(e.starts_with("--subject: "), "{e}");
    }

    #[test]
    fn reads_a_seed_from_a_file() {
        let pair = KeyKind::Account.generate();
        let file = std::env::temp_dir().join(format!("lattice-key-{}.nk", std::process::id()));
        std::fs::write(&file, format!("{}\n", pair.seed().unwrap())).unwrap();
        let read = parse_key_pair(file.to_str().unwrap(), KeyKind::Account, "--issuer").unwrap();
        assert_eq!(read.public_key(), pair.public_key());
        std::fs::remove_file(&file).unwrap();
        assert!(matches!(
            parse_key_pair("/no/such/file", KeyKind::Account, "--issuer"),
            Err(KeyError::Unreadable { .. })
        ));
    }
}

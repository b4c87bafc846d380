//! The ids of a lattice's parts: [`ComponentId`], the names operators give
//! actors and providers, and [`HostId`], a host's public key.
//!
//! A component id is 1 to 64 characters of `a-z`, `0-9`, `-` and `_`. The
//! rule is narrow on purpose: ids appear in NATS subjects
//! (`lattice.L.rpc.<id>`), in KV keys and in URLs, and none of those may be
//! confused by a `.`, `*`, `>` or whitespace. A host id is an nkeys server
//! public key (`N` and 55 more characters of base32, checksum included), so
//! it too is safe in a subject.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid component id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id is the empty string.
    #[error("id is empty")]
    Empty,
    /// The id is longer than [`MAX_ID_LEN`].
    #[error("id {id:?} is longer than {MAX_ID_LEN} characters")]
    TooLong {
        /// The rejected id.
        id: String,
    },
    /// The id has a character outside `[a-z0-9_-]`.
    #[error("id {id:?} has {bad:?}; ids use only a-z, 0-9, '-' and '_'")]
    BadCharacter {
        /// The rejected id.
        id: String,
        /// The first character that is not allowed.
        bad: char,
    },
}

/// The conversions of an id that is text checked when made: `as_str`,
/// `TryFrom<String>` and `FromStr` (through `new`), `Display`, `AsRef<str>`
/// and back to `String`.
macro_rules! checked_text_id {
    ($id:ident, $error:ty) => {
        impl $id {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $id {
            type Error = $error;
            fn try_from(id: String) -> Result<Self, $error> {
                Self::new(id)
            }
        }

        impl From<$id> for String {
            fn from(id: $id) -> String {
                id.0
            }
        }

        impl std::str::FromStr for $id {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, $error> {
                Self::new(s)
            }
        }

        impl fmt::Display for $id {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $id {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The id of an actor or provider in a lattice, e.g. `hello` or `http`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ComponentId(String);

impl ComponentId {
    /// Checks `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id = id.into();
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if id.len() > MAX_ID_LEN {
            return Err(IdError::TooLong { id });
        }
        if let Some(bad) = id
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            return Err(IdError::BadCharacter { id, bad });
        }
        Ok(Self(id))
    }
}

checked_text_id!(ComponentId, IdError);

/// The id of a host: its public key, an nkeys server key (`N…`, 56
/// characters). Checked when made or read, so a host id from a message or a
/// command line cannot change the subject it is put into.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostId(String);

/// Why a string is not a host id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{shown:?} is not a host id (a host's public key: N…, 56 characters)")]
pub struct HostIdError {
    /// The start of what was given.
    pub shown: String,
}

impl HostId {
    /// Checks `id` and wraps it.
    pub fn new(id: impl Into<String>) -> Result<Self, HostIdError> {
        let id = id.into();
        if id.starts_with('N') && nkeys::KeyPair::from_public_key(&id).is_ok() {
            Ok(Self(id))
        } else {
            Err(HostIdError {
                shown: id.chars().take(64).collect(),
            })
        }
    }

    /// A new host key and its id.
    pub fn generate() -> (nkeys::KeyPair, Self) {
        let key = nkeys::KeyPair::new_server();
        let id = Self(key.public_key());
        (key, id)
    }

    /// The id of `key`; `None` when it is not a server key.
    pub fn of_key(key: &nkeys::KeyPair) -> Option<Self> {
        Self::new(key.public_key()).ok()
    }
}

checked_text_id!(HostId, HostIdError);

impl std::borrow::Borrow<str> for HostId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for HostId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for HostId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<&HostId> for HostId {
    fn eq(&self, other: &&HostId) -> bool {
        self == *other
    }
}

impl PartialEq<HostId> for String {
    fn eq(&self, other: &HostId) -> bool {
        *self == other.0
    }
}

impl PartialEq<&HostId> for String {
    fn eq(&self, other: &&HostId) -> bool {
        *self == other.0
    }
}

impl PartialEq<String> for HostId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_lowercase_digits_dash_underscore() {
        for id in ["hello", "kv-counter", "a_b", "x1", "0"] {
            assert_eq!(
                ComponentId::new(id).map(|i| i.to_string()),
                Ok(id.to_string())
            );
        }
    }

    #[test]
    fn refuses_what_would_break_a_subject() {
        assert_eq!(ComponentId::new(""), Err(IdError::Empty));
        for (id, bad) in [
            ("a.b", '.'),
            ("a*", '*'),
            ("a>", '>'),
            ("Hello", 'H'),
            ("a b", ' '),
        ] {
            assert_eq!(
                ComponentId::new(id),
                Err(IdError::BadCharacter { id: id.into(), bad })
            );
        }
        assert!(matches!(
            ComponentId::new("a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn a_host_id_is_a_server_public_key() {
        let key = nkeys::KeyPair::new_server().public_key();
        assert_eq!(HostId::new(key.clone()).map(String::from), Ok(key.clone()));
        let user = nkeys::KeyPair::new_user().public_key();
        let mut flipped = key.clone().into_bytes();
        flipped[20] = if flipped[20] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        for bad in ["", "NHOST", "N.>", user.as_str(), flipped.as_str()] {
            let error = HostId::new(bad).unwrap_err();
            assert!(error.to_string().contains("is not a host id"), "{error}");
        }
        let read: Result<HostId, _> = serde_json::from_str(r#""lattice.>""#);
        assert!(read.unwrap_err().to_string().contains("is not a host id"));
    }
}

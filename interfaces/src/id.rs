//! Component ids: the names operators give actors and providers in a lattice.
//!
//! An id is 1 to 64 characters of `a-z`, `0-9`, `-` and `_`. The rule is
//! narrow on purpose: ids appear in NATS subjects (`lattice.L.rpc.<id>`), in
//! KV keys and in URLs, and none of those may be confused by a `.`, `*`, `>`
//! or whitespace.

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

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ComponentId {
    type Error = IdError;
    fn try_from(id: String) -> Result<Self, IdError> {
        Self::new(id)
    }
}

impl From<ComponentId> for String {
    fn from(id: ComponentId) -> String {
        id.0
    }
}

impl std::str::FromStr for ComponentId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ComponentId {
    fn as_ref(&self) -> &str {
        &self.0
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
}

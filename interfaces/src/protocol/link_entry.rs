//! Links and named config as the lattice's bucket holds them: signed by the
//! cluster key of the host that wrote them, so an entry written straight
//! into the bucket by anyone else (a provider process, an actor's messaging
//! link, a plain NATS client) is refused by every host and provider instead
//! of widening a grant or changing what an actor reads.
//!
//! A link entry is `{"link": LINK, "signed_by": "C…", "signature": "…"}`:
//! the link's JSON exactly as signed, the signer's cluster public key, and
//! its Ed25519 signature (base64url, no padding) over
//! `lattice-link\n<kv key>\n<link JSON>`. The key is signed too, so an entry
//! copied to another key is refused, and the link's own key must be the
//! entry's. A named config entry is the same with `"config": {KEY: VALUE}`
//! and `lattice-config\n<kv key>\n<config JSON>`.

use data_encoding::BASE64URL_NOPAD;
use nkeys::KeyPair;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::claims::KeyKind;
use crate::protocol::state::link_key;
use crate::Link;

/// What a host or provider accepts link entries from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkSigners {
    /// Entries signed by one of these cluster public keys.
    Trusted(Vec<String>),
    /// Entries signed by any cluster key (a development lattice whose hosts
    /// were given no cluster key: each has its own, and they share links).
    /// A signature is still required and checked.
    Any,
}

impl LinkSigners {
    fn accepts(&self, key: &str) -> bool {
        match self {
            Self::Trusted(keys) => keys.iter().any(|k| k == key),
            Self::Any => true,
        }
    }
}

/// What a signed entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Link,
    Config,
}

impl Kind {
    /// The entry's field holding the signed JSON.
    fn field(self) -> &'static str {
        match self {
            Self::Link => "link",
            Self::Config => "config",
        }
    }

    fn signed_bytes(self, key: &str, json: &str) -> Vec<u8> {
        format!("lattice-{}\n{key}\n{json}", self.field()).into_bytes()
    }
}

/// Why an entry was refused. One line, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryRefused {
    /// Not a signed entry at all (a bare link, or garbage).
    #[error("entry {key} is not signed by a lattice host: {reason}")]
    Unsigned {
        /// The KV key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Signed by a key this reader does not trust.
    #[error("entry {key} is signed by {signer}, which is not a trusted cluster key")]
    UntrustedSigner {
        /// The KV key.
        key: String,
        /// The signer named.
        signer: String,
    },
    /// The signature does not cover these bytes under this key.
    #[error("entry {key} has a bad signature (changed after signing, or moved from another key)")]
    BadSignature {
        /// The KV key.
        key: String,
    },
    /// The link inside belongs under another key, or is not a valid link.
    #[error("entry {key} holds {reason}")]
    Mismatch {
        /// The KV key.
        key: String,
        /// What it holds instead.
        reason: String,
    },
}

/// An entry as stored: the signed JSON under its kind's field (`link` or
/// `config`; the key's prefix and the signed bytes tell the kinds apart).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry<'a> {
    #[serde(borrow, alias = "config")]
    link: &'a RawValue,
    signed_by: String,
    signature: String,
}

/// The bucket value holding `json` at `key`, signed by `signer`.
fn seal_json(kind: Kind, key: &str, json: &str, signer: &KeyPair) -> Result<Vec<u8>, String> {
    let signature = signer
        .sign(&kind.signed_bytes(key, json))
        .map_err(|e| format!("cannot sign entry {key}: {e}"))?;
    // Written out by hand: the signed JSON must be stored byte for byte
    // (a JSON value in between would reorder its fields).
    let quoted = |text: &str| serde_json::to_string(text).map_err(|e| e.to_string());
    Ok(format!(
        "{{\"{}\":{json},\"signed_by\":{},\"signature\":{}}}",
        kind.field(),
        quoted(&signer.public_key())?,
        quoted(&BASE64URL_NOPAD.encode(&signature))?
    )
    .into_bytes())
}

/// The signed JSON of entry `value` at `key`, when its signature is good and
/// its signer one of `signers`.
fn open_json<'a>(
    kind: Kind,
    key: &str,
    value: &'a [u8],
    signers: &LinkSigners,
) -> Result<Entry<'a>, EntryRefused> {
    let entry = parse(key, value)?;
    if KeyKind::of_public_key(&entry.signed_by) != Some(KeyKind::Cluster)
        || !signers.accepts(&entry.signed_by)
    {
        return Err(EntryRefused::UntrustedSigner {
            key: key.to_string(),
            signer: crate::shown(&entry.signed_by).into_owned(),
        });
    }
    let bad_signature = || EntryRefused::BadSignature {
        key: key.to_string(),
    };
    let signature = BASE64URL_NOPAD
        .decode(entry.signature.as_bytes())
        .map_err(|_| bad_signature())?;
    KeyPair::from_public_key(&entry.signed_by)
        .and_then(|signer| signer.verify(&kind.signed_bytes(key, entry.link.get()), &signature))
        .map_err(|_| bad_signature())?;
    Ok(entry)
}

/// Named config as a signed entry holds it.
pub type NamedConfig = std::collections::BTreeMap<String, String>;

/// The bucket value for named config `values` at `key` (`config.<name>`),
/// signed by `signer` (a cluster key).
///
/// # Errors
///
/// The signer cannot sign.
pub fn seal_config(key: &str, values: &NamedConfig, signer: &KeyPair) -> Result<Vec<u8>, String> {
    let json = serde_json::to_string(values).map_err(|e| e.to_string())?;
    seal_json(Kind::Config, key, &json, signer)
}

/// The named config in entry `value` at `key`, when its signature is good
/// and its signer one of `signers`.
///
/// # Errors
///
/// See [`EntryRefused`].
pub fn open_config(
    key: &str,
    value: &[u8],
    signers: &LinkSigners,
) -> Result<NamedConfig, EntryRefused> {
    let entry = open_json(Kind::Config, key, value, signers)?;
    config_in(key, &entry)
}

/// The named config in entry `value` at `key`, without checking who signed
/// it: for tools that only show or delete what is there.
///
/// # Errors
///
/// The value is not a signed entry holding named config.
pub fn read_config_unchecked(key: &str, value: &[u8]) -> Result<NamedConfig, EntryRefused> {
    let entry = parse(key, value)?;
    config_in(key, &entry)
}

fn config_in(key: &str, entry: &Entry<'_>) -> Result<NamedConfig, EntryRefused> {
    serde_json::from_str(entry.link.get()).map_err(|e| EntryRefused::Mismatch {
        key: key.to_string(),
        reason: format!("no valid named config: {}", crate::shown(&e.to_string())),
    })
}

/// The bucket value for `link`, signed by `signer` (a cluster key).
///
/// # Errors
///
/// The link's names cannot form a key, or the signer cannot sign.
pub fn seal(link: &Link, signer: &KeyPair) -> Result<(String, Vec<u8>), String> {
    let key = link_key(&link.key()).map_err(|e| e.to_string())?;
    let json = serde_json::to_string(link).map_err(|e| e.to_string())?;
    let value = seal_json(Kind::Link, &key, &json, signer)?;
    Ok((key, value))
}

/// The link in entry `value` stored at `key`, without checking who signed
/// it: for tools that only delete or list what is there.
///
/// # Errors
///
/// The value is not a signed entry holding a link.
pub fn read_unchecked(key: &str, value: &[u8]) -> Result<Link, EntryRefused> {
    let entry = parse(key, value)?;
    link_in(key, &entry)
}

/// The link in entry `value` stored at `key`, when its signature is good,
/// its signer one of `signers`, and the link belongs under `key`.
///
/// # Errors
///
/// See [`EntryRefused`].
pub fn open(key: &str, value: &[u8], signers: &LinkSigners) -> Result<Link, EntryRefused> {
    let entry = open_json(Kind::Link, key, value, signers)?;
    link_in(key, &entry)
}

fn parse<'a>(key: &str, value: &'a [u8]) -> Result<Entry<'a>, EntryRefused> {
    serde_json::from_slice(value).map_err(|e| EntryRefused::Unsigned {
        key: key.to_string(),
        reason: crate::shown(&e.to_string()).into_owned(),
    })
}

fn link_in(key: &str, entry: &Entry<'_>) -> Result<Link, EntryRefused> {
    let mismatch = |reason: String| EntryRefused::Mismatch {
        key: key.to_string(),
        reason,
    };
    let link: Link = serde_json::from_str(entry.link.get())
        .map_err(|e| mismatch(format!("no valid link: {}", crate::shown(&e.to_string()))))?;
    crate::Contract::parse(&link.contract().to_string())
        .map_err(|e| mismatch(format!("no valid link: {e}")))?;
    match link_key(&link.key()) {
        Ok(own) if own == key => Ok(link),
        Ok(own) => Err(mismatch(format!("a link whose key is {own}"))),
        Err(e) => Err(mismatch(format!("no valid link: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    fn link(target: &str) -> Link {
        serde_json::from_value(serde_json::json!({
            "source": "http", "target": target, "namespace": "wasi", "package": "http",
            "interfaces": ["incoming-handler"], "name": "default",
            "source_config": {"address": "127.0.0.1:8080"}, "target_config": {}
        }))
        .unwrap()
    }

    #[test]
    fn a_sealed_link_opens_for_its_signer_and_any() {
        let host = KeyPair::new_cluster();
        let (key, value) = seal(&link("hello"), &host).unwrap();
        assert_eq!(key, "link.http.wasi.http.default");
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        assert_eq!(open(&key, &value, &trusted).unwrap(), link("hello"));
        assert_eq!(
            open(&key, &value, &LinkSigners::Any).unwrap(),
            link("hello")
        );
        assert_eq!(read_unchecked(&key, &value).unwrap(), link("hello"));
    }

    #[test]
    fn forged_changed_moved_and_bare_entries_are_refused() {
        let host = KeyPair::new_cluster();
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        let (key, value) = seal(&link("hello"), &host).unwrap();

        // A bare link, as a plain NATS client would write it.
        let bare = serde_json::to_vec(&link("evil")).unwrap();
        for signers in [&trusted, &LinkSigners::Any] {
            assert!(matches!(
                open(&key, &bare, signers),
                Err(EntryRefused::Unsigned { .. })
            ));
        }

        // Signed by a stranger's cluster key.
        let (_, forged) = seal(&link("evil"), &KeyPair::new_cluster()).unwrap();
        assert!(matches!(
            open(&key, &forged, &trusted),
            Err(EntryRefused::UntrustedSigner { .. })
        ));

        // The link changed after signing.
        let changed = String::from_utf8(value.clone())
            .unwrap()
            .replace("\"hello\"", "\"evil\"");
        assert!(matches!(
            open(&key, changed.as_bytes(), &LinkSigners::Any),
            Err(EntryRefused::BadSignature { .. })
        ));

        // Copied to another key.
        assert!(matches!(
            open("link.http.wasi.http.other", &value, &LinkSigners::Any),
            Err(EntryRefused::BadSignature { .. })
        ));

        // Garbage, and a signer that is not a cluster key.
        for garbage in [&b"\xff\x00"[..], b"{}", b"[]", b"{\"link\": 1}"] {
            assert!(open(&key, garbage, &LinkSigners::Any).is_err());
        }
        let account = KeyPair::new_account();
        let (_, by_account) = seal(&link("hello"), &account).unwrap();
        assert!(matches!(
            open(&key, &by_account, &LinkSigners::Any),
            Err(EntryRefused::UntrustedSigner { .. })
        ));
    }

    #[test]
    fn named_config_opens_only_signed_unchanged_and_at_its_own_key() {
        let host = KeyPair::new_cluster();
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        let values = NamedConfig::from([("greeting".to_string(), "Hi".to_string())]);
        let value = seal_config("config.db", &values, &host).unwrap();
        assert_eq!(open_config("config.db", &value, &trusted).unwrap(), values);
        assert_eq!(read_config_unchecked("config.db", &value).unwrap(), values);
        // Bare config, as a plain NATS client would write it.
        let bare = serde_json::to_vec(&values).unwrap();
        assert!(matches!(
            open_config("config.db", &bare, &LinkSigners::Any),
            Err(EntryRefused::Unsigned { .. })
        ));
        // Moved to another name, changed, or signed by a stranger.
        assert!(matches!(
            open_config("config.other", &value, &LinkSigners::Any),
            Err(EntryRefused::BadSignature { .. })
        ));
        let changed = String::from_utf8(value.clone())
            .unwrap()
            .replace("Hi", "Ha");
        assert!(matches!(
            open_config("config.db", changed.as_bytes(), &LinkSigners::Any),
            Err(EntryRefused::BadSignature { .. })
        ));
        let forged = seal_config("config.db", &values, &KeyPair::new_cluster()).unwrap();
        assert!(matches!(
            open_config("config.db", &forged, &trusted),
            Err(EntryRefused::UntrustedSigner { .. })
        ));
        // A link entry's signature does not make config, nor the reverse.
        let (link_key, link_value) = seal(&link("hello"), &host).unwrap();
        assert!(open_config(&link_key, &link_value, &LinkSigners::Any).is_err());
        assert!(open("config.db", &value, &LinkSigners::Any).is_err());
    }

    #[test]
    fn a_signed_link_under_the_wrong_key_is_refused() {
        // Properly signed for key `other`, but the link inside is `http`'s.
        let host = KeyPair::new_cluster();
        let json = serde_json::to_string(&link("hello")).unwrap();
        let key = "link.other.wasi.http.default";
        let signature = host.sign(&Kind::Link.signed_bytes(key, &json)).unwrap();
        let stored = format!(
            "{{\"link\":{json},\"signed_by\":\"{}\",\"signature\":\"{}\"}}",
            host.public_key(),
            BASE64URL_NOPAD.encode(&signature)
        );
        assert!(matches!(
            open(key, stored.as_bytes(), &LinkSigners::Any),
            Err(EntryRefused::Mismatch { .. })
        ));
    }
}

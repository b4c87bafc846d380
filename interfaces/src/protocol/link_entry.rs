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
//!
//! Entries carry a version (`"version": V`, the writer's clock in
//! milliseconds, always above the version it replaces), signed with them
//! (`lattice-link@V\n…`): a reader refuses an entry older than one it
//! applied at the same key, so an old entry put back is not a rollback
//! (issue 29, finding 8). A delete is signed too: the KV delete marker
//! carries the same entry with `null` in place of the link or config (a
//! tombstone); a delete marker without one deletes nothing for a reader
//! that holds the entry. Entries written before versions (no `version`)
//! read as version 0.

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

    fn signed_bytes(self, key: &str, version: u64, json: &str) -> Vec<u8> {
        match version {
            // Entries written before versions.
            0 => format!("lattice-{}\n{key}\n{json}", self.field()).into_bytes(),
            _ => format!("lattice-{}@{version}\n{key}\n{json}", self.field()).into_bytes(),
        }
    }

    /// The kind of entry stored at `key`.
    fn of_key(key: &str) -> Option<Self> {
        if key.starts_with(crate::protocol::state::LINK_PREFIX) {
            Some(Self::Link)
        } else if key.starts_with(crate::protocol::state::CONFIG_PREFIX) {
            Some(Self::Config)
        } else {
            None
        }
    }
}

/// What a signed entry holds at its version: a value, or `None` for a
/// signed delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<T> {
    /// The entry's version (0: written before versions).
    pub version: u64,
    /// What it holds; `None`: the key's value was deleted.
    pub value: Option<T>,
}

/// The version a writer gives an entry that replaces one of version
/// `previous` (0 when there is none): its clock in milliseconds, and
/// always above `previous`.
pub fn next_version(previous: u64) -> u64 {
    crate::protocol::rpc::unix_ms().max(previous.saturating_add(1))
}

/// The version of stored entry `value`, unchecked (0 when it has none or
/// is not an entry): what a writer replaces.
pub fn version_unchecked(value: &[u8]) -> u64 {
    #[derive(Deserialize)]
    struct Versioned {
        #[serde(default)]
        version: u64,
    }
    serde_json::from_slice::<Versioned>(value).map_or(0, |v| v.version)
}

/// Opens a stored entry of one kind: [`open`] or [`open_config`].
type OpenEntry<T> = fn(&str, &[u8], &LinkSigners) -> Result<Signed<T>, EntryRefused>;

/// The versions a reader applied, by key: an entry older than the one
/// applied is refused (an old entry put back).
#[derive(Debug, Default)]
pub struct AppliedVersions(std::collections::HashMap<String, u64>);

impl AppliedVersions {
    /// The link the bucket record at `key` holds (`value`: an entry, or
    /// with `deleted` the payload of a delete marker), `None` for a signed
    /// delete, when one of `signers` signed it and it is not older than
    /// what was applied at `key`; its version is recorded as applied.
    ///
    /// # Errors
    ///
    /// See [`EntryRefused`]; a bare delete is [`EntryRefused::UnsignedDelete`].
    pub fn admit_link(
        &mut self,
        key: &str,
        deleted: bool,
        value: &[u8],
        signers: &LinkSigners,
    ) -> Result<Option<Link>, EntryRefused> {
        self.admit_record(key, deleted, value, signers, open)
    }

    /// As [`Self::admit_link`], for named config.
    ///
    /// # Errors
    ///
    /// See [`EntryRefused`].
    pub fn admit_config(
        &mut self,
        key: &str,
        deleted: bool,
        value: &[u8],
        signers: &LinkSigners,
    ) -> Result<Option<NamedConfig>, EntryRefused> {
        self.admit_record(key, deleted, value, signers, open_config)
    }

    fn admit_record<T>(
        &mut self,
        key: &str,
        deleted: bool,
        value: &[u8],
        signers: &LinkSigners,
        open_entry: OpenEntry<T>,
    ) -> Result<Option<T>, EntryRefused> {
        let signed = if deleted {
            Signed {
                version: open_delete(key, value, signers)?,
                value: None,
            }
        } else {
            open_entry(key, value, signers)?
        };
        self.admit(key, signed.version)?;
        Ok(signed.value)
    }

    /// Records `version` at `key`, unless it is older than what was applied
    /// there; the same version again is accepted (an entry read twice).
    ///
    /// # Errors
    ///
    /// [`EntryRefused::RolledBack`] naming both versions.
    pub fn admit(&mut self, key: &str, version: u64) -> Result<(), EntryRefused> {
        match self.0.get(key) {
            Some(&applied) if version < applied => Err(EntryRefused::RolledBack {
                key: key.to_string(),
                version,
                applied,
            }),
            _ => {
                self.0.insert(key.to_string(), version);
                Ok(())
            }
        }
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
    /// Older than the entry already applied at the key: an old entry put
    /// back.
    #[error("entry {key} is version {version}, older than version {applied} already applied (an old entry put back)")]
    RolledBack {
        /// The KV key.
        key: String,
        /// Its version.
        version: u64,
        /// The version applied.
        applied: u64,
    },
    /// A delete without a signed tombstone: it deletes nothing.
    #[error("entry {key} was deleted without a signed tombstone; what was applied stays")]
    UnsignedDelete {
        /// The KV key.
        key: String,
    },
}

/// An entry as stored: the signed JSON under its kind's field (`link` or
/// `config`; the key's prefix and the signed bytes tell the kinds apart).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry<'a> {
    #[serde(borrow, alias = "config")]
    link: &'a RawValue,
    #[serde(default)]
    version: u64,
    signed_by: String,
    signature: String,
}

impl Entry<'_> {
    /// Whether it is a tombstone (`null` where the value was).
    fn deletes(&self) -> bool {
        self.link.get() == "null"
    }
}

/// The bucket value holding `json` at `key` at `version`, signed by
/// `signer`.
fn seal_json(
    kind: Kind,
    key: &str,
    version: u64,
    json: &str,
    signer: &KeyPair,
) -> Result<Vec<u8>, String> {
    let signature = signer
        .sign(&kind.signed_bytes(key, version, json))
        .map_err(|e| format!("cannot sign entry {key}: {e}"))?;
    // Written out by hand: the signed JSON must be stored byte for byte
    // (a JSON value in between would reorder its fields).
    let quoted = |text: &str| serde_json::to_string(text).map_err(|e| e.to_string());
    Ok(format!(
        "{{\"{}\":{json},\"version\":{version},\"signed_by\":{},\"signature\":{}}}",
        kind.field(),
        quoted(&signer.public_key())?,
        quoted(&BASE64URL_NOPAD.encode(&signature))?
    )
    .into_bytes())
}

/// The tombstone a delete of `key` (a link's or named config's) carries at
/// `version`, signed by `signer`.
///
/// # Errors
///
/// `key` is neither a link's nor a config's, or the signer cannot sign.
pub fn seal_delete(key: &str, version: u64, signer: &KeyPair) -> Result<Vec<u8>, String> {
    let kind =
        Kind::of_key(key).ok_or_else(|| format!("{key} is neither a link nor named config"))?;
    seal_json(kind, key, version, "null", signer)
}

/// What the KV delete marker at `key` (its payload `value`) deletes: a
/// signed tombstone's version, when its signer is one of `signers`.
///
/// # Errors
///
/// [`EntryRefused::UnsignedDelete`] for a bare delete; otherwise as for
/// entries.
pub fn open_delete(key: &str, value: &[u8], signers: &LinkSigners) -> Result<u64, EntryRefused> {
    let unsigned = || EntryRefused::UnsignedDelete {
        key: key.to_string(),
    };
    let kind = Kind::of_key(key).ok_or_else(unsigned)?;
    if value.is_empty() {
        return Err(unsigned());
    }
    let entry = open_json(kind, key, value, signers)?;
    if entry.deletes() {
        Ok(entry.version)
    } else {
        Err(unsigned())
    }
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
        .and_then(|signer| {
            signer.verify(
                &kind.signed_bytes(key, entry.version, entry.link.get()),
                &signature,
            )
        })
        .map_err(|_| bad_signature())?;
    Ok(entry)
}

/// Named config as a signed entry holds it.
pub type NamedConfig = std::collections::BTreeMap<String, String>;

/// The bucket value for named config `values` at `key` (`config.<name>`)
/// at `version`, signed by `signer` (a cluster key).
///
/// # Errors
///
/// The signer cannot sign.
pub fn seal_config(
    key: &str,
    values: &NamedConfig,
    version: u64,
    signer: &KeyPair,
) -> Result<Vec<u8>, String> {
    let json = serde_json::to_string(values).map_err(|e| e.to_string())?;
    seal_json(Kind::Config, key, version, &json, signer)
}

/// The named config in entry `value` at `key`, when its signature is good
/// and its signer one of `signers`, with its version (`None`: a signed
/// delete).
///
/// # Errors
///
/// See [`EntryRefused`].
pub fn open_config(
    key: &str,
    value: &[u8],
    signers: &LinkSigners,
) -> Result<Signed<NamedConfig>, EntryRefused> {
    let entry = open_json(Kind::Config, key, value, signers)?;
    Ok(Signed {
        version: entry.version,
        value: if entry.deletes() {
            None
        } else {
            Some(config_in(key, &entry)?)
        },
    })
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

/// The bucket value for `link` at `version`, signed by `signer` (a
/// cluster key).
///
/// # Errors
///
/// The link's names cannot form a key, or the signer cannot sign.
pub fn seal(link: &Link, version: u64, signer: &KeyPair) -> Result<(String, Vec<u8>), String> {
    let key = link_key(&link.key()).map_err(|e| e.to_string())?;
    let json = serde_json::to_string(link).map_err(|e| e.to_string())?;
    let value = seal_json(Kind::Link, &key, version, &json, signer)?;
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
/// its signer one of `signers`, and the link belongs under `key`, with its
/// version (`None`: a signed delete).
///
/// # Errors
///
/// See [`EntryRefused`].
pub fn open(key: &str, value: &[u8], signers: &LinkSigners) -> Result<Signed<Link>, EntryRefused> {
    let entry = open_json(Kind::Link, key, value, signers)?;
    Ok(Signed {
        version: entry.version,
        value: if entry.deletes() {
            None
        } else {
            Some(link_in(key, &entry)?)
        },
    })
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
        let (key, value) = seal(&link("hello"), 7, &host).unwrap();
        assert_eq!(key, "link.http.wasi.http.default");
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        let opened = open(&key, &value, &trusted).unwrap();
        assert_eq!((opened.version, opened.value), (7, Some(link("hello"))));
        assert_eq!(
            open(&key, &value, &LinkSigners::Any).unwrap().value,
            Some(link("hello"))
        );
        assert_eq!(read_unchecked(&key, &value).unwrap(), link("hello"));
    }

    #[test]
    fn forged_changed_moved_and_bare_entries_are_refused() {
        let host = KeyPair::new_cluster();
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        let (key, value) = seal(&link("hello"), 7, &host).unwrap();

        // A bare link, as a plain NATS client would write it.
        let bare = serde_json::to_vec(&link("evil")).unwrap();
        for signers in [&trusted, &LinkSigners::Any] {
            assert!(matches!(
                open(&key, &bare, signers),
                Err(EntryRefused::Unsigned { .. })
            ));
        }

        // Signed by a stranger's cluster key.
        let (_, forged) = seal(&link("evil"), 7, &KeyPair::new_cluster()).unwrap();
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
        let (_, by_account) = seal(&link("hello"), 7, &account).unwrap();
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
        let value = seal_config("config.db", &values, 7, &host).unwrap();
        assert_eq!(
            open_config("config.db", &value, &trusted).unwrap().value,
            Some(values.clone())
        );
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
        let forged = seal_config("config.db", &values, 7, &KeyPair::new_cluster()).unwrap();
        assert!(matches!(
            open_config("config.db", &forged, &trusted),
            Err(EntryRefused::UntrustedSigner { .. })
        ));
        // A link entry's signature does not make config, nor the reverse.
        let (link_key, link_value) = seal(&link("hello"), 7, &host).unwrap();
        assert!(open_config(&link_key, &link_value, &LinkSigners::Any).is_err());
        assert!(open("config.db", &value, &LinkSigners::Any).is_err());
    }

    #[test]
    fn a_signed_link_under_the_wrong_key_is_refused() {
        // Properly signed for key `other`, but the link inside is `http`'s.
        let host = KeyPair::new_cluster();
        let json = serde_json::to_string(&link("hello")).unwrap();
        let key = "link.other.wasi.http.default";
        let signature = host.sign(&Kind::Link.signed_bytes(key, 0, &json)).unwrap();
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

    /// Finding 8 of issue 29: deletes are signed, and an entry older than
    /// one applied is refused.
    #[test]
    fn deletes_are_signed_and_old_entries_put_back_are_refused() {
        let host = KeyPair::new_cluster();
        let trusted = LinkSigners::Trusted(vec![host.public_key()]);
        let (key, old) = seal(&link("hello"), 5, &host).unwrap();
        let (_, new) = seal(&link("other"), 9, &host).unwrap();
        let mut applied = AppliedVersions::default();
        let opened = open(&key, &new, &trusted).unwrap();
        applied.admit(&key, opened.version).unwrap();
        let put_back = open(&key, &old, &trusted).unwrap();
        assert!(matches!(
            applied.admit(&key, put_back.version),
            Err(EntryRefused::RolledBack {
                version: 5,
                applied: 9,
                ..
            })
        ));
        applied.admit(&key, 9).unwrap();

        // A signed delete opens to its version; a bare one, a stranger's,
        // one moved from another key or changed deletes nothing.
        let tombstone = seal_delete(&key, 10, &host).unwrap();
        assert_eq!(open_delete(&key, &tombstone, &trusted).unwrap(), 10);
        assert_eq!(open(&key, &tombstone, &trusted).unwrap().value, None);
        assert!(matches!(
            open_delete(&key, b"", &trusted),
            Err(EntryRefused::UnsignedDelete { .. })
        ));
        let stranger = seal_delete(&key, 10, &KeyPair::new_cluster()).unwrap();
        assert!(open_delete(&key, &stranger, &trusted).is_err());
        assert!(open_delete("link.other.wasi.http.default", &tombstone, &trusted).is_err());
        let changed = String::from_utf8(tombstone.clone())
            .unwrap()
            .replace("\"version\":10", "\"version\":99");
        assert!(open_delete(&key, changed.as_bytes(), &trusted).is_err());
        // An entry is no tombstone, nor is a tombstone's signature a
        // version for another entry.
        assert!(matches!(
            open_delete(&key, &new, &trusted),
            Err(EntryRefused::UnsignedDelete { .. })
        ));
        // Versions are part of what is signed.
        let bumped = String::from_utf8(old)
            .unwrap()
            .replace("\"version\":5", "\"version\":50");
        assert!(matches!(
            open(&key, bumped.as_bytes(), &trusted),
            Err(EntryRefused::BadSignature { .. })
        ));
        assert!(next_version(u64::MAX - 1) == u64::MAX && next_version(0) > 1_700_000_000_000);
        assert_eq!(version_unchecked(&new), 9);
        assert_eq!(version_unchecked(b"garbage"), 0);
    }
}

//! Registry references: `REGISTRY/REPO[:TAG][@sha256:…]`, `oci://` allowed
//! in front.

use std::fmt;

use crate::error::{OciError, OciFailure};

/// A parsed registry reference. Unlike container tools, the registry is
/// never implied: `hello:1` is not `docker.io/library/hello:1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference(oci_client::Reference);

impl OciReference {
    /// Parses `text`.
    ///
    /// # Errors
    ///
    /// When `text` does not name a registry, or is not a valid reference.
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let bad = |reason: String| OciError::new(text, OciFailure::BadReference(reason));
        let lattice_interfaces::ArtifactRef::Oci(bare) =
            lattice_interfaces::ArtifactRef::parse(text)
        else {
            return Err(bad(
                "no registry in it (write REGISTRY/REPO:TAG, e.g. localhost:5000/hello:1)".into(),
            ));
        };
        let parsed: oci_client::Reference = bare.parse().map_err(|e| bad(format!("{e}")))?;
        if let Some(digest) = parsed.digest() {
            if !is_sha256_digest(digest) {
                return Err(bad(format!(
                    "digest {} is not sha256:<64 hex digits>",
                    lattice_interfaces::shown(digest)
                )));
            }
        }
        // `oci_client` fills in docker.io for names without a registry; we
        // only took text whose first part names one, so it must match.
        if !bare.starts_with(parsed.registry()) {
            return Err(bad("no registry in it".into()));
        }
        Ok(Self(parsed))
    }

    /// The registry host (and port).
    pub fn registry(&self) -> &str {
        self.0.resolve_registry()
    }

    /// The digest, when the reference pins one.
    pub fn digest(&self) -> Option<&str> {
        self.0.digest()
    }

    /// The same repository at `digest`, keeping the tag for people.
    pub fn pinned(&self, digest: &str) -> Self {
        let (registry, repository) = (
            self.0.registry().to_string(),
            self.0.repository().to_string(),
        );
        Self(match self.0.tag() {
            Some(tag) => oci_client::Reference::with_tag_and_digest(
                registry,
                repository,
                tag.to_string(),
                digest.to_string(),
            ),
            None => oci_client::Reference::with_digest(registry, repository, digest.to_string()),
        })
    }

    /// The same repository at `digest`, without a tag: what is fetched.
    pub(crate) fn at(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.0.registry().to_string(),
            self.0.repository().to_string(),
            digest.to_string(),
        )
    }

    /// The reference as `oci_client` takes it.
    pub(crate) fn inner(&self) -> &oci_client::Reference {
        &self.0
    }
}

impl fmt::Display for OciReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.whole())
    }
}

/// Whether `digest` is `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!(
        "sha256:{}",
        data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(bytes))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_keep_their_registry_and_pin_to_a_digest() {
        let tagged = OciReference::parse("oci://localhost:5000/actors/hello:1").expect("parses");
        assert_eq!(tagged.registry(), "localhost:5000");
        assert_eq!(tagged.digest(), None);
        let digest = sha256_digest(b"x");
        assert_eq!(
            tagged.pinned(&digest).to_string(),
            format!("localhost:5000/actors/hello:1@{digest}")
        );
        let latest = OciReference::parse("localhost:5000/hello").expect("parses");
        assert_eq!(
            latest.pinned(&digest).to_string(),
            format!("localhost:5000/hello:latest@{digest}")
        );
        let by_digest =
            OciReference::parse(&format!("localhost:5000/hello@{digest}")).expect("parses");
        assert_eq!(by_digest.digest(), Some(digest.as_str()));
        assert_eq!(
            by_digest.pinned(&digest).to_string(),
            format!("localhost:5000/hello@{digest}")
        );
    }

    #[test]
    fn garbage_is_refused_with_the_reason() {
        for (text, reason) in [
            ("hello:1", "no registry"),
            ("examples/hello.wasm", "no registry"),
            ("localhost:5000/Hello:1", "localhost:5000/Hello:1"),
            (
                "localhost:5000/hello@sha256:abc",
                "not a registry reference",
            ),
            (
                "localhost:5000/hello@md5:0123456789abcdef0123456789abcdef",
                "",
            ),
        ] {
            let error = OciReference::parse(text).expect_err(text).to_string();
            assert!(error.contains(reason), "{text}: {error}");
            assert!(!error.contains('\n'), "{error}");
        }
    }
}

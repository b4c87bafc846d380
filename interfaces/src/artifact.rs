//! Where an actor or provider binary comes from: a file on the host's disk
//! or an artifact in an OCI registry.
//!
//! One string names either, wherever a reference is accepted (manifests,
//! `lattice-ctl start/update`, control requests). The rule that tells them
//! apart is the one container tools use for image names:
//!
//! - `oci://REF` is always a registry reference;
//! - `/abs`, `./rel`, `../rel`, `file:PATH` and anything without a `/` are files;
//! - otherwise the part before the first `/` names a registry when it holds a
//!   `.` or a `:` (`ghcr.io/…`, `localhost:5000/…`) or is `localhost`;
//!   anything else (`examples/hello.wasm`) is a file.

use std::path::PathBuf;

/// A reference, told apart by [`ArtifactRef::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactRef {
    /// A file on the host's disk.
    File(PathBuf),
    /// An artifact in a registry: `REGISTRY/REPO[:TAG][@sha256:…]`, without
    /// any `oci://`.
    Oci(String),
}

impl ArtifactRef {
    /// Tells what `reference` names. Nothing is checked beyond the form:
    /// a registry reference is parsed in full when it is pulled.
    pub fn parse(reference: &str) -> Self {
        if let Some(oci) = reference.strip_prefix("oci://") {
            return Self::Oci(oci.to_string());
        }
        if let Some(path) = reference.strip_prefix("file:") {
            return Self::File(PathBuf::from(path));
        }
        if reference.starts_with('/') || reference.starts_with("./") || reference.starts_with("../")
        {
            return Self::File(PathBuf::from(reference));
        }
        match reference.split_once('/') {
            Some((first, rest))
                if !rest.is_empty()
                    && (first.contains('.') || first.contains(':') || first == "localhost")
                    && first != "."
                    && first != ".." =>
            {
                Self::Oci(reference.to_string())
            }
            _ => Self::File(PathBuf::from(reference)),
        }
    }

    /// Whether `reference` names a registry artifact.
    pub fn is_oci(reference: &str) -> bool {
        matches!(Self::parse(reference), Self::Oci(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_and_files_are_told_apart() {
        for oci in [
            "localhost:5000/hello:1",
            "localhost/hello",
            "ghcr.io/acme/hello@sha256:0123",
            "oci://registry/hello:1",
            "oci://examples/hello.wasm",
        ] {
            assert!(ArtifactRef::is_oci(oci), "{oci}");
        }
        for file in [
            "examples/hello.wasm",
            "hello.wasm",
            "/tmp/a.b/hello.wasm",
            "./my.dir/hello.wasm",
            "../up.dir/x",
            "file:my.dir/hello.wasm",
            "C:",
            "ghcr.io/",
        ] {
            assert!(!ArtifactRef::is_oci(file), "{file}");
        }
        assert_eq!(
            ArtifactRef::parse("oci://localhost:5000/a:1"),
            ArtifactRef::Oci("localhost:5000/a:1".into())
        );
    }
}

//! Where a host gets the bytes of actors and provider binaries: a file,
//! read under the host's [`ReferencePolicy`], or an artifact pulled from a
//! registry through the host's artifact cache.
//!
//! What is returned names where the bytes came from as the lattice should
//! show it: the path of a file, or the registry reference pinned to the
//! digest it resolved to, so that inventories and events say which bytes
//! run, not which tag was asked for.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use lattice_interfaces::ArtifactRef;
use lattice_oci::{ArtifactCache, OciError, Platform, Puller, Registry, RegistryOptions};

use crate::references::{ReferenceError, ReferencePolicy};

/// A component's bytes and where they came from.
#[derive(Debug)]
pub struct Fetched {
    /// The component.
    pub bytes: Vec<u8>,
    /// The file's path, or the reference pinned to its digest.
    pub origin: String,
}

/// A provider binary, its claims when it has them, and where they came
/// from.
#[derive(Debug)]
pub struct FetchedProvider {
    /// The binary.
    pub bytes: Vec<u8>,
    /// Its claims (a JWT): `BINARY.jwt` beside a file, or the artifact's
    /// claims layer.
    pub claims: Option<String>,
    /// What the claims would be called had they been there, for the
    /// "not signed" error.
    pub claims_source: String,
    /// The file's path, or the reference pinned to its digest.
    pub origin: String,
}

/// Why a reference could not be fetched; the message names it.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A file the policy refuses or that cannot be read.
    #[error(transparent)]
    File(#[from] ReferenceError),
    /// A registry artifact that could not be pulled.
    #[error(transparent)]
    Registry(#[from] OciError),
}

/// How many recently fetched artifacts a host reports (its inventory's
/// `artifacts`).
pub const HELD_SHOWN: usize = 256;

/// Files and registries, with the host's limits.
#[derive(Debug, Clone)]
pub struct Artifacts {
    files: ReferencePolicy,
    puller: Arc<Puller>,
    /// What this host fetched lately (see [`Self::held`]).
    held: Arc<Mutex<VecDeque<String>>>,
    /// The cache's folder when the host has no cache directory: removed
    /// with the host.
    _scratch: Option<Arc<tempfile::TempDir>>,
}

/// The registry client cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArtifactsError(String);

impl Artifacts {
    /// Reads files under `files` and pulls with `registries`, keeping
    /// pulled content under `cache_dir` (a temporary folder when `None`).
    ///
    /// # Errors
    ///
    /// When a CA file cannot be read or the temporary folder not made.
    pub fn new(
        files: ReferencePolicy,
        mut registries: RegistryOptions,
        cache_dir: Option<&Path>,
    ) -> Result<Self, ArtifactsError> {
        registries.max_bytes = files.max_bytes;
        let (dir, scratch): (PathBuf, _) = match cache_dir {
            Some(dir) => (dir.to_path_buf(), None),
            None => {
                let scratch = tempfile::Builder::new()
                    .prefix("lattice-artifacts-")
                    .tempdir()
                    .map_err(|e| ArtifactsError(format!("cannot make an artifact cache: {e}")))?;
                (scratch.path().to_path_buf(), Some(Arc::new(scratch)))
            }
        };
        let registry = Registry::new(registries).map_err(|e| ArtifactsError(e.to_string()))?;
        Ok(Self {
            files,
            puller: Arc::new(Puller::new(registry, ArtifactCache::new(dir))),
            held: Arc::default(),
            _scratch: scratch,
        })
    }

    /// How many blobs this host has downloaded from registries.
    pub fn downloads(&self) -> u64 {
        self.puller.downloads()
    }

    /// The artifacts this host fetched lately, by origin (a registry
    /// artifact pinned to its digest, or a file), least recent first and at
    /// most [`HELD_SHOWN`]: the bytes are in its cache, so placement prefers
    /// it for them.
    pub fn held(&self) -> Vec<String> {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    fn hold(&self, origin: &str) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        held.retain(|o| o != origin);
        if held.len() == HELD_SHOWN {
            held.pop_front();
        }
        held.push_back(origin.to_string());
    }

    /// The component `reference` names.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub async fn component(&self, reference: &str) -> Result<Fetched, FetchError> {
        let fetched = self.fetch_component(reference).await?;
        self.hold(&fetched.origin);
        Ok(fetched)
    }

    async fn fetch_component(&self, reference: &str) -> Result<Fetched, FetchError> {
        match ArtifactRef::parse(reference) {
            ArtifactRef::Oci(_) => {
                let pulled = self.puller.component(reference).await?;
                Ok(Fetched {
                    bytes: pulled.bytes,
                    origin: pulled.pinned,
                })
            }
            ArtifactRef::File(path) => {
                let bytes = self.read_file(path.clone()).await?;
                Ok(Fetched {
                    bytes,
                    origin: reference.to_string(),
                })
            }
        }
    }

    /// The ONNX model `reference` names: a file, or a registry artifact
    /// pushed as a model.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub async fn model(&self, reference: &str) -> Result<Fetched, FetchError> {
        let fetched = match ArtifactRef::parse(reference) {
            ArtifactRef::Oci(_) => {
                let pulled = self.puller.model(reference).await?;
                Fetched {
                    bytes: pulled.bytes,
                    origin: pulled.pinned,
                }
            }
            ArtifactRef::File(path) => Fetched {
                bytes: self.read_file(path).await?,
                origin: reference.to_string(),
            },
        };
        self.hold(&fetched.origin);
        Ok(fetched)
    }

    /// The provider binary `reference` names, for this platform, with its
    /// claims.
    ///
    /// # Errors
    ///
    /// See [`FetchError`].
    pub async fn provider(&self, reference: &str) -> Result<FetchedProvider, FetchError> {
        let fetched = self.fetch_provider(reference).await?;
        self.hold(&fetched.origin);
        Ok(fetched)
    }

    async fn fetch_provider(&self, reference: &str) -> Result<FetchedProvider, FetchError> {
        match ArtifactRef::parse(reference) {
            ArtifactRef::Oci(_) => {
                let pulled = self
                    .puller
                    .provider(reference, &Platform::current())
                    .await?;
                Ok(FetchedProvider {
                    bytes: pulled.binary,
                    claims: pulled.claims,
                    claims_source: "a claims layer in the artifact".into(),
                    origin: pulled.pinned,
                })
            }
            ArtifactRef::File(path) => {
                let bytes = self.read_file(path.clone()).await?;
                let mut jwt_path = path.into_os_string();
                jwt_path.push(".jwt");
                let jwt_path = PathBuf::from(jwt_path);
                let claims = tokio::fs::read_to_string(&jwt_path).await.ok();
                Ok(FetchedProvider {
                    bytes,
                    claims,
                    claims_source: jwt_path
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
                        + " beside it",
                    origin: reference.to_string(),
                })
            }
        }
    }

    async fn read_file(&self, path: PathBuf) -> Result<Vec<u8>, ReferenceError> {
        let policy = self.files.clone();
        let shown = lattice_interfaces::shown(&path.to_string_lossy()).into_owned();
        tokio::task::spawn_blocking(move || policy.read(&path))
            .await
            .unwrap_or_else(|e| {
                Err(ReferenceError::Unreadable {
                    path: shown,
                    reason: e.to_string(),
                })
            })
    }
}

/// Whether an actor started from `origin` runs what `reference` names:
/// the same text, or `reference` is a registry tag `origin` was pinned from.
pub fn runs(origin: &str, reference: &str) -> bool {
    let reference = reference.strip_prefix("oci://").unwrap_or(reference);
    if origin == reference {
        return true;
    }
    let Some(rest) = origin.strip_prefix(reference) else {
        return false;
    };
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || last.contains('@') {
        rest.starts_with("@sha256:")
    } else {
        // An untagged reference means `latest`.
        rest.starts_with(":latest@sha256:")
    }
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn a_pinned_origin_runs_the_tag_it_came_from() {
        let digest = format!("@sha256:{}", "a".repeat(64));
        let pinned = format!("localhost:5000/hello:1{digest}");
        assert!(runs(&pinned, "localhost:5000/hello:1"));
        assert!(runs(&pinned, "oci://localhost:5000/hello:1"));
        assert!(runs(&pinned, &pinned));
        assert!(!runs(&pinned, "localhost:5000/hello:2"));
        assert!(!runs(&pinned, "localhost:5000/hello"));
        assert!(runs(
            &format!("localhost:5000/hello:latest{digest}"),
            "localhost:5000/hello"
        ));
        assert!(runs("/srv/hello.wasm", "/srv/hello.wasm"));
        assert!(!runs("/srv/hello.wasm", "/srv/other.wasm"));
    }
}

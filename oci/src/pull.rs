//! Pulling components and provider binaries through the cache.
//!
//! A reference with a digest whose content is cached never reaches the
//! network, so a host whose registry is down still starts what it has run
//! before. A tag is resolved to a digest once per pull. Downloads of one
//! digest are serialized: a hundred starts of one new artifact at once
//! download it once.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use oci_client::manifest::{OciDescriptor, OciImageIndex, OciImageManifest};

use crate::cache::ArtifactCache;
use crate::error::{OciError, OciFailure};
use crate::media;
use crate::reference::OciReference;
use crate::registry::Registry;

/// Largest claims layer read.
const MAX_CLAIMS_BYTES: u64 = 64 << 10;

/// An operating system and CPU, as OCI names them (`linux/amd64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `macos`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
}

impl Platform {
    /// The platform this process runs on.
    pub fn current() -> Self {
        Self::from_rust(std::env::consts::ARCH, std::env::consts::OS)
    }

    fn from_rust(arch: &str, os: &str) -> Self {
        let architecture = match arch {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Self {
            os: if os == "macos" {
                "darwin".into()
            } else {
                os.into()
            },
            architecture: architecture.into(),
        }
    }

    /// The platform of a claims target such as `x86_64-linux`.
    pub fn from_target(target: &str) -> Option<Self> {
        let (arch, os) = target.split_once('-')?;
        Some(Self::from_rust(arch, os))
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)
    }
}

/// A component pulled and checked against its digest.
#[derive(Debug, Clone)]
pub struct PulledComponent {
    /// The reference pinned to the manifest's digest: what to show and to
    /// run elsewhere.
    pub pinned: String,
    /// The manifest's digest.
    pub digest: String,
    /// The component.
    pub bytes: Vec<u8>,
}

/// A provider binary for this platform, with its claims.
#[derive(Debug, Clone)]
pub struct PulledProvider {
    /// The reference pinned to the digest it resolved to.
    pub pinned: String,
    /// That digest (of the index, or of the manifest when there is none).
    pub digest: String,
    /// The binary.
    pub binary: Vec<u8>,
    /// Its claims (a JWT), when the artifact carries them.
    pub claims: Option<String>,
}

/// One platform of a provider artifact.
#[derive(Debug, Clone)]
pub struct ProviderPlatform {
    /// The platform.
    pub platform: Platform,
    /// Its manifest's digest.
    pub digest: String,
    /// The binary's size.
    pub size: u64,
    /// Its claims, when carried.
    pub claims: Option<String>,
}

/// What a reference holds, for `lattice-ctl inspect`.
#[derive(Debug, Clone)]
pub enum ArtifactDescription {
    /// A Wasm component.
    Component(PulledComponent),
    /// A provider, by platform.
    Provider {
        /// The reference pinned to its digest.
        pinned: String,
        /// The index's (or single manifest's) digest.
        digest: String,
        /// Each platform it has.
        platforms: Vec<ProviderPlatform>,
    },
}

/// A manifest as pulled: an index or an image manifest.
enum Manifest {
    Index(OciImageIndex),
    Image(Box<OciImageManifest>),
}

fn parse_manifest(bytes: &[u8], expected: &'static str) -> Result<Manifest, OciFailure> {
    let not = |detail: String| OciFailure::NotAnArtifact { expected, detail };
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| not(format!("its manifest is not JSON ({e})")))?;
    let is_index = value.get("manifests").is_some()
        || value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .is_some_and(|m| m == media::OCI_INDEX || m == media::DOCKER_MANIFEST_LIST);
    if is_index {
        serde_json::from_value(value)
            .map(Manifest::Index)
            .map_err(|e| not(format!("its index does not parse ({e})")))
    } else {
        serde_json::from_value(value)
            .map(|m| Manifest::Image(Box::new(m)))
            .map_err(|e| not(format!("its manifest does not parse ({e})")))
    }
}

fn layer_types(manifest: &OciImageManifest) -> String {
    let types: Vec<&str> = manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect();
    if types.is_empty() {
        "no layers".into()
    } else {
        format!("layers {}", types.join(", "))
    }
}

/// The one Wasm layer of a component manifest.
fn wasm_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, OciFailure> {
    one_layer(
        manifest,
        "Wasm component",
        media::WASM_LAYER,
        media::is_wasm_layer,
    )
}

/// The one ONNX layer of a model manifest.
fn model_layer(manifest: &OciImageManifest) -> Result<&OciDescriptor, OciFailure> {
    one_layer(manifest, "model for wasi:nn", media::MODEL_LAYER, |t| {
        t == media::MODEL_LAYER
    })
}

/// The one layer of a manifest holding one file (`expected`, whose layer
/// type `accepts`, `layer_type` said in errors).
fn one_layer<'a>(
    manifest: &'a OciImageManifest,
    expected: &'static str,
    layer_type: &str,
    accepts: fn(&str) -> bool,
) -> Result<&'a OciDescriptor, OciFailure> {
    match manifest.layers.as_slice() {
        [layer] if accepts(&layer.media_type) => Ok(layer),
        _ => Err(OciFailure::NotAnArtifact {
            expected,
            detail: format!(
                "config {}, {} (expected one {layer_type} layer)",
                manifest.config.media_type,
                layer_types(manifest),
            ),
        }),
    }
}

/// The binary and claims layers of a provider manifest.
fn provider_layers(
    manifest: &OciImageManifest,
) -> Result<(&OciDescriptor, Option<&OciDescriptor>), OciFailure> {
    let find = |media_type: &str| manifest.layers.iter().find(|l| l.media_type == media_type);
    let binary = find(media::PROVIDER_BINARY).ok_or_else(|| OciFailure::NotAnArtifact {
        expected: "provider",
        detail: format!(
            "{} (expected a {} layer)",
            layer_types(manifest),
            media::PROVIDER_BINARY
        ),
    })?;
    Ok((binary, find(media::PROVIDER_CLAIMS)))
}

fn index_platforms(index: &OciImageIndex) -> Vec<(Platform, &str)> {
    index
        .manifests
        .iter()
        .filter_map(|entry| {
            let platform = entry.platform.as_ref()?;
            Some((
                Platform {
                    os: platform.os.to_string(),
                    architecture: platform.architecture.to_string(),
                },
                entry.digest.as_str(),
            ))
        })
        .collect()
}

/// Pulls through a cache, one download per digest at a time.
pub struct Puller {
    registry: Registry,
    cache: ArtifactCache,
    downloading: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    downloads: AtomicU64,
}

impl fmt::Debug for Puller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Puller")
            .field("cache", &self.cache)
            .field("downloads", &self.downloads())
            .finish_non_exhaustive()
    }
}

impl Puller {
    /// A puller using `registry`, keeping content in `cache`.
    pub fn new(registry: Registry, cache: ArtifactCache) -> Self {
        Self {
            registry,
            cache,
            downloading: Mutex::new(HashMap::new()),
            downloads: AtomicU64::new(0),
        }
    }

    /// The registry client, for pushing.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// How many blobs this puller has downloaded.
    pub fn downloads(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    /// The lock of `digest`'s download.
    fn lock_of(&self, digest: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut downloading = self
            .downloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        downloading.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = downloading.get(digest).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        downloading.insert(digest.to_string(), Arc::downgrade(&lock));
        lock
    }

    fn failed(reference: &OciReference, failure: OciFailure) -> OciError {
        OciError::new(&reference.to_string(), failure)
    }

    /// The manifest `reference` names and its digest, from the cache when
    /// the reference pins a digest already there.
    async fn resolve(&self, reference: &OciReference) -> Result<(Vec<u8>, String), OciError> {
        if let Some(digest) = reference.digest() {
            if let Some(bytes) = self
                .cache
                .get(digest)
                .map_err(|f| Self::failed(reference, f))?
            {
                return Ok((bytes, digest.to_string()));
            }
        }
        let (bytes, digest) = self.registry.manifest(reference).await?;
        self.cache
            .put(&digest, &bytes)
            .map_err(|f| Self::failed(reference, f))?;
        Ok((bytes, digest))
    }

    /// The manifest at `digest` in `reference`'s repository.
    async fn manifest_at(
        &self,
        reference: &OciReference,
        digest: &str,
    ) -> Result<Vec<u8>, OciError> {
        if let Some(bytes) = self
            .cache
            .get(digest)
            .map_err(|f| Self::failed(reference, f))?
        {
            return Ok(bytes);
        }
        let bytes = self.registry.manifest_at(reference, digest).await?;
        self.cache
            .put(digest, &bytes)
            .map_err(|f| Self::failed(reference, f))?;
        Ok(bytes)
    }

    /// The content of `layer`, downloaded unless cached.
    async fn blob(
        &self,
        reference: &OciReference,
        layer: &OciDescriptor,
    ) -> Result<Vec<u8>, OciError> {
        let lock = self.lock_of(&layer.digest);
        let _downloading = lock.lock().await;
        if let Some(bytes) = self
            .cache
            .get(&layer.digest)
            .map_err(|f| Self::failed(reference, f))?
        {
            return Ok(bytes);
        }
        tracing::debug!(reference = %reference, digest = %layer.digest, size = layer.size, "pulling");
        self.downloads.fetch_add(1, Ordering::Relaxed);
        self.registry
            .download(reference, layer, &self.cache)
            .await?;
        self.cache
            .get(&layer.digest)
            .map_err(|f| Self::failed(reference, f))?
            .ok_or_else(|| {
                Self::failed(
                    reference,
                    OciFailure::Cache {
                        path: self.cache.dir().display().to_string(),
                        detail: format!("{} vanished after it was written", layer.digest),
                    },
                )
            })
    }

    /// Pulls the component `reference` names.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    #[tracing::instrument(skip(self), fields(reference = %reference))]
    pub async fn component(&self, reference: &str) -> Result<PulledComponent, OciError> {
        self.one_file(reference, "Wasm component", wasm_layer).await
    }

    /// Pulls the ONNX model `reference` names (its bytes are what the
    /// manifest's digest vouches for, checked as they arrive).
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    pub async fn model(&self, reference: &str) -> Result<PulledComponent, OciError> {
        self.one_file(reference, "model for wasi:nn", model_layer)
            .await
    }

    /// The one file of the manifest `reference` names, its layer found by
    /// `layer` (`expected` says what it should be in errors).
    async fn one_file(
        &self,
        reference: &str,
        expected: &'static str,
        layer: fn(&OciImageManifest) -> Result<&OciDescriptor, OciFailure>,
    ) -> Result<PulledComponent, OciError> {
        let reference = OciReference::parse(reference)?;
        let (bytes, digest) = self.resolve(&reference).await?;
        let manifest = match parse_manifest(&bytes, expected) {
            Ok(Manifest::Image(manifest)) => *manifest,
            Ok(Manifest::Index(_)) => {
                return Err(Self::failed(
                    &reference,
                    OciFailure::NotAnArtifact {
                        expected,
                        detail: "it is an image index (a provider?)".into(),
                    },
                ))
            }
            Err(failure) => return Err(Self::failed(&reference, failure)),
        };
        let layer = layer(&manifest).map_err(|f| Self::failed(&reference, f))?;
        let bytes = self.blob(&reference, layer).await?;
        Ok(PulledComponent {
            pinned: reference.pinned(&digest).to_string(),
            digest,
            bytes,
        })
    }

    /// Pulls the provider binary for `platform` that `reference` names,
    /// with its claims.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    #[tracing::instrument(skip(self), fields(reference = %reference, %platform))]
    pub async fn provider(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> Result<PulledProvider, OciError> {
        let reference = OciReference::parse(reference)?;
        let (bytes, digest) = self.resolve(&reference).await?;
        let manifest = match parse_manifest(&bytes, "provider")
            .map_err(|f| Self::failed(&reference, f))?
        {
            Manifest::Image(manifest) => *manifest,
            Manifest::Index(index) => {
                let platforms = index_platforms(&index);
                let Some((_, chosen)) = platforms.iter().find(|(p, _)| p == platform) else {
                    let available: Vec<String> =
                        platforms.iter().map(|(p, _)| p.to_string()).collect();
                    return Err(Self::failed(
                        &reference,
                        OciFailure::NoPlatform {
                            platform: platform.to_string(),
                            available: if available.is_empty() {
                                "none".into()
                            } else {
                                available.join(", ")
                            },
                        },
                    ));
                };
                let bytes = self.manifest_at(&reference, chosen).await?;
                match parse_manifest(&bytes, "provider").map_err(|f| Self::failed(&reference, f))? {
                    Manifest::Image(manifest) => *manifest,
                    Manifest::Index(_) => {
                        return Err(Self::failed(
                            &reference,
                            OciFailure::NotAnArtifact {
                                expected: "provider",
                                detail: "an index inside an index".into(),
                            },
                        ))
                    }
                }
            }
        };
        let (binary, claims) =
            provider_layers(&manifest).map_err(|f| Self::failed(&reference, f))?;
        let claims = match claims {
            Some(layer) => Some(self.claims(&reference, layer).await?),
            None => None,
        };
        let binary = self.blob(&reference, binary).await?;
        Ok(PulledProvider {
            pinned: reference.pinned(&digest).to_string(),
            digest,
            binary,
            claims,
        })
    }

    async fn claims(
        &self,
        reference: &OciReference,
        layer: &OciDescriptor,
    ) -> Result<String, OciError> {
        let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if size > MAX_CLAIMS_BYTES {
            return Err(Self::failed(
                reference,
                OciFailure::NotAnArtifact {
                    expected: "provider",
                    detail: format!(
                        "its claims layer is {size} bytes (claims are at most {MAX_CLAIMS_BYTES})"
                    ),
                },
            ));
        }
        let bytes = self.blob(reference, layer).await?;
        String::from_utf8(bytes).map_err(|_| {
            Self::failed(
                reference,
                OciFailure::NotAnArtifact {
                    expected: "provider",
                    detail: "its claims layer is not text".into(),
                },
            )
        })
    }

    /// One platform of a provider: its binary's size and its claims.
    async fn platform_of(
        &self,
        reference: &OciReference,
        manifest: &OciImageManifest,
        platform: Platform,
        digest: &str,
    ) -> Result<ProviderPlatform, OciError> {
        let (binary, claims) = provider_layers(manifest).map_err(|f| Self::failed(reference, f))?;
        let claims = match claims {
            Some(layer) => Some(self.claims(reference, layer).await?),
            None => None,
        };
        Ok(ProviderPlatform {
            platform,
            digest: digest.to_string(),
            size: u64::try_from(binary.size).unwrap_or(0),
            claims,
        })
    }

    /// What `reference` holds: a component (pulled), or a provider's
    /// platforms with their claims (binaries not pulled). Nothing runs.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    pub async fn describe(&self, reference: &str) -> Result<ArtifactDescription, OciError> {
        let parsed = OciReference::parse(reference)?;
        let (bytes, digest) = self.resolve(&parsed).await?;
        let manifest = parse_manifest(&bytes, "component or provider")
            .map_err(|f| Self::failed(&parsed, f))?;
        let mut platforms = Vec::new();
        match manifest {
            Manifest::Image(image) if wasm_layer(&image).is_ok() => {
                // By digest: the manifest just resolved is cached, not asked again.
                return self
                    .component(&parsed.pinned(&digest).to_string())
                    .await
                    .map(ArtifactDescription::Component);
            }
            Manifest::Image(image) => {
                platforms.push(
                    self.platform_of(&parsed, &image, Platform::current(), &digest)
                        .await?,
                );
            }
            Manifest::Index(index) => {
                for (platform, entry) in index_platforms(&index) {
                    let bytes = self.manifest_at(&parsed, entry).await?;
                    if let Manifest::Image(image) =
                        parse_manifest(&bytes, "provider").map_err(|f| Self::failed(&parsed, f))?
                    {
                        platforms.push(self.platform_of(&parsed, &image, platform, entry).await?);
                    }
                }
            }
        }
        Ok(ArtifactDescription::Provider {
            pinned: parsed.pinned(&digest).to_string(),
            digest,
            platforms,
        })
    }
}

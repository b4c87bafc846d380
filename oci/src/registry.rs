//! Talking to registries: TLS by default (plain HTTP only for registries
//! named as insecure), extra CA certificates, connect and read timeouts,
//! retries with backoff for what may pass, and a size cap on everything
//! read.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt as _;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::OciDescriptor;

use crate::cache::ArtifactCache;
use crate::credentials::Credentials;
use crate::error::{classify, OciError, OciFailure};
use crate::media;
use crate::reference::{sha256_digest, OciReference};

/// Largest manifest read.
const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// How to reach registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Who we are to each registry.
    pub credentials: Credentials,
    /// Registries (`host[:port]`) reached over plain HTTP.
    pub insecure: Vec<String>,
    /// PEM files of CA certificates trusted beside the system's.
    pub ca_files: Vec<PathBuf>,
    /// Largest blob pulled, in bytes.
    pub max_bytes: u64,
    /// Limit on connecting.
    pub connect_timeout: Duration,
    /// Limit on a read that makes no progress.
    pub read_timeout: Duration,
    /// Tries of an operation that fails transiently.
    pub attempts: u32,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        Self {
            credentials: Credentials::anonymous(),
            insecure: Vec::new(),
            ca_files: Vec::new(),
            max_bytes: 256 << 20,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            attempts: 3,
        }
    }
}

/// Who we say we are to registries.
const USER_AGENT: &str = concat!("lattice/", env!("CARGO_PKG_VERSION"));

/// A client for every registry, with its options.
pub struct Registry {
    client: oci_client::Client,
    /// Reads manifests a chunk at a time, so one over the cap is refused
    /// when the cap is passed: `oci_client` reads a whole body first, and
    /// an endless one would take the host's memory (issue 29, finding 7).
    manifests: reqwest::Client,
    options: RegistryOptions,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("options", &self.options)
            .finish()
    }
}

/// A CA file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("registry CA file {path}: {reason}")]
pub struct CaFileError {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
}

impl Registry {
    /// A client with `options`.
    ///
    /// # Errors
    ///
    /// When a CA file cannot be read.
    pub fn new(options: RegistryOptions) -> Result<Self, CaFileError> {
        // reqwest is built without a default crypto provider: use ring, as
        // the NATS client does. Installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut extra_root_certificates = Vec::new();
        for path in &options.ca_files {
            let data = std::fs::read(path).map_err(|e| CaFileError {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            if !String::from_utf8_lossy(&data).contains("-----BEGIN CERTIFICATE-----") {
                return Err(CaFileError {
                    path: path.display().to_string(),
                    reason: "no PEM certificate in it".into(),
                });
            }
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let mut manifests = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(USER_AGENT);
        for (certificate, path) in extra_root_certificates.iter().zip(&options.ca_files) {
            let bundle = reqwest::Certificate::from_pem_bundle(&certificate.data).map_err(|e| {
                CaFileError {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                }
            })?;
            for one in bundle {
                manifests = manifests.add_root_certificate(one);
            }
        }
        let manifests = manifests.build().map_err(|e| CaFileError {
            path: options
                .ca_files
                .first()
                .map_or_else(|| "(none)".into(), |p| p.display().to_string()),
            reason: e.to_string(),
        })?;
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(options.insecure.clone()),
            extra_root_certificates,
            platform_resolver: None,
            connect_timeout: Some(options.connect_timeout),
            read_timeout: Some(options.read_timeout),
            user_agent: USER_AGENT,
            ..ClientConfig::default()
        };
        Ok(Self {
            client: oci_client::Client::new(config),
            manifests,
            options,
        })
    }

    /// The options.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Runs `attempt` until it succeeds, fails for good, or the tries are
    /// spent; waits 250 ms, then 1 s, … between tries.
    async fn retrying<T, F, Fut>(
        &self,
        reference: &OciReference,
        mut attempt: F,
    ) -> Result<T, OciError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, OciFailure>>,
    {
        let mut wait = Duration::from_millis(250);
        let mut tries = 0;
        loop {
            tries += 1;
            match attempt().await {
                Ok(value) => return Ok(value),
                Err(failure) => {
                    let error = OciError::new(&reference.to_string(), failure);
                    if !error.is_transient() || tries >= self.options.attempts.max(1) {
                        return Err(self.explained(error));
                    }
                    tracing::warn!(%error, retry_in = ?wait, "registry operation failed; trying again");
                    tokio::time::sleep(wait).await;
                    wait *= 4;
                }
            }
        }
    }

    /// Adds where the refused credentials came from.
    fn explained(&self, mut error: OciError) -> OciError {
        if let OciFailure::Unauthorized { hint, registry } = &mut error.failure {
            *hint = self.options.credentials.describe(registry);
        }
        error
    }

    /// Gives the client our credentials for `reference`'s registry; it
    /// asks for a token, or sends them, when a request needs them.
    async fn authenticate(&self, reference: &OciReference) {
        let auth = self.options.credentials.for_registry(reference.registry());
        self.client
            .store_auth_if_needed(reference.registry(), &auth)
            .await;
    }

    /// The manifest `reference` names, as bytes, and its digest. A
    /// reference with a digest gets exactly that content or an error.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    pub async fn manifest(&self, reference: &OciReference) -> Result<(Vec<u8>, String), OciError> {
        self.manifest_of(reference, reference.inner()).await
    }

    /// The manifest at `digest` in `reference`'s repository.
    pub(crate) async fn manifest_at(
        &self,
        reference: &OciReference,
        digest: &str,
    ) -> Result<Vec<u8>, OciError> {
        self.manifest_of(reference, &reference.at(digest))
            .await
            .map(|(bytes, _)| bytes)
    }

    async fn manifest_of(
        &self,
        reference: &OciReference,
        target: &oci_client::Reference,
    ) -> Result<(Vec<u8>, String), OciError> {
        self.authenticate(reference).await;
        let registry = reference.registry().to_string();
        self.retrying(reference, || async {
            let (bytes, digest) = self.read_manifest(target, &registry).await?;
            let actual = sha256_digest(&bytes);
            let wanted = target.digest().or(digest.as_deref()).unwrap_or(&actual);
            if actual != wanted {
                return Err(OciFailure::DigestMismatch(format!(
                    "expected {wanted}, got {actual}"
                )));
            }
            Ok((bytes, actual))
        })
        .await
    }

    /// GETs the manifest `target` names, reading at most
    /// [`MAX_MANIFEST_BYTES`] of it, with the digest the registry gives
    /// for it if any.
    async fn read_manifest(
        &self,
        target: &oci_client::Reference,
        registry: &str,
    ) -> Result<(Vec<u8>, Option<String>), OciFailure> {
        let auth = self.options.credentials.for_registry(registry);
        // The token (or the Basic login a registry asks for) as oci_client
        // negotiates it for every other request.
        let token = self
            .client
            .auth(target, &auth, oci_client::RegistryOperation::Pull)
            .await
            .map_err(|e| classify(registry, e))?;
        let host = target.resolve_registry();
        let scheme = if self.options.insecure.iter().any(|r| r == host) {
            "http"
        } else {
            "https"
        };
        let url = format!(
            "{scheme}://{host}/v2/{}/manifests/{}{}",
            target.repository(),
            target.digest().or(target.tag()).unwrap_or("latest"),
            target
                .namespace()
                .map(|ns| format!("?ns={ns}"))
                .unwrap_or_default(),
        );
        let mut request = self
            .manifests
            .get(&url)
            .header(http::header::ACCEPT, media::MANIFESTS.join(", "));
        request = match (token, &auth) {
            (Some(token), _) => request.bearer_auth(token),
            (None, oci_client::secrets::RegistryAuth::Basic(user, password)) => {
                request.basic_auth(user, Some(password))
            }
            (None, _) => request,
        };
        let unreachable = |e: reqwest::Error| OciFailure::Unreachable {
            registry: registry.to_string(),
            detail: crate::error::one_line(&crate::error::source_chain(&e)),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(crate::error::from_status(registry, status.as_u16(), &body));
        }
        let too_large = |size: u64| OciFailure::TooLarge {
            what: "the manifest",
            size,
            limit_mib: (MAX_MANIFEST_BYTES >> 20) as u64,
        };
        if let Some(size) = response
            .content_length()
            .filter(|&n| n > MAX_MANIFEST_BYTES as u64)
        {
            return Err(too_large(size));
        }
        let digest = response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let mut bytes = Vec::new();
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| OciFailure::Truncated(crate::error::one_line(&e.to_string())))?;
            if bytes.len() + chunk.len() > MAX_MANIFEST_BYTES {
                return Err(too_large((bytes.len() + chunk.len()) as u64));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok((bytes, digest))
    }

    /// Downloads blob `layer` of `reference` into `cache`, checking its
    /// size against the cap and the manifest, and its digest.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`]; nothing is left in the cache on error.
    pub async fn download(
        &self,
        reference: &OciReference,
        layer: &OciDescriptor,
        cache: &ArtifactCache,
    ) -> Result<(), OciError> {
        let expected = u64::try_from(layer.size).unwrap_or(0);
        if expected > self.options.max_bytes {
            return Err(OciError::new(
                &reference.to_string(),
                OciFailure::TooLarge {
                    what: "the artifact",
                    size: expected,
                    limit_mib: self.options.max_bytes >> 20,
                },
            ));
        }
        self.authenticate(reference).await;
        let registry = reference.registry().to_string();
        self.retrying(reference, || async {
            let mut writer = cache.writer(&layer.digest)?;
            let mut stream = self
                .client
                .pull_blob_stream(reference.inner(), layer)
                .await
                .map_err(|e| classify(&registry, e))?;
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    // Short content fails the stream's digest check at its
                    // end: say it was cut short, which is what happened.
                    Err(_) if writer.written() < expected => break,
                    Err(e) => {
                        let detail = crate::error::one_line(&e.to_string());
                        let digest_error = e
                            .get_ref()
                            .is_some_and(|inner| inner.is::<oci_client::errors::DigestError>());
                        return Err(if digest_error {
                            OciFailure::DigestMismatch(detail)
                        } else {
                            OciFailure::Truncated(detail)
                        });
                    }
                };
                writer.write(&chunk)?;
                if writer.written() > expected {
                    return Err(OciFailure::DigestMismatch(format!(
                        "more than the {expected} bytes its manifest gives"
                    )));
                }
            }
            if writer.written() < expected {
                return Err(OciFailure::Truncated(format!(
                    "{} of {expected} bytes",
                    writer.written()
                )));
            }
            writer.finish()
        })
        .await
    }

    /// Uploads `bytes` as a blob of `reference`'s repository unless the
    /// registry has it; returns its descriptor.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    pub async fn push_blob(
        &self,
        reference: &OciReference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<OciDescriptor, OciError> {
        self.authenticate(reference).await;
        let registry = reference.registry().to_string();
        let digest = sha256_digest(&bytes);
        let size = bytes.len();
        let bytes = bytes::Bytes::from(bytes);
        self.retrying(reference, || async {
            let exists = self
                .client
                .blob_exists(reference.inner(), &digest)
                .await
                .unwrap_or(false);
            if !exists {
                self.client
                    .push_blob(reference.inner(), bytes.clone(), &digest)
                    .await
                    .map_err(|e| classify(&registry, e))?;
            }
            Ok(())
        })
        .await?;
        Ok(OciDescriptor {
            media_type: media_type.to_string(),
            digest,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        })
    }

    /// Uploads manifest `bytes` of `media_type` as `target` (a tag or a
    /// digest of `reference`'s repository); returns its digest.
    ///
    /// # Errors
    ///
    /// See [`OciFailure`].
    pub async fn push_manifest(
        &self,
        reference: &OciReference,
        target: &oci_client::Reference,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, OciError> {
        self.authenticate(reference).await;
        let registry = reference.registry().to_string();
        let content_type = http::HeaderValue::from_str(media_type).map_err(|e| {
            OciError::new(&reference.to_string(), OciFailure::Refused(e.to_string()))
        })?;
        let digest = sha256_digest(&bytes);
        let bytes = bytes::Bytes::from(bytes);
        self.retrying(reference, || async {
            self.client
                .push_manifest_raw(target, bytes.clone(), content_type.clone())
                .await
                .map_err(|e| classify(&registry, e))
        })
        .await?;
        Ok(digest)
    }
}

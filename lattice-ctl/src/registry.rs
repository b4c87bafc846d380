//! `lattice-ctl push`, `pull` and `inspect`: artifacts in OCI registries.
//!
//! These run on the operator's machine with its own registry credentials;
//! hosts pull with theirs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lattice_interfaces::claims::{
    binary_hash, claimed_target, read_component, Claims, ComponentMetadata, KeyKind, ProviderClaims,
};
use lattice_oci::args::RegistryArgs;
use lattice_oci::pull::{ArtifactDescription, Platform};
use lattice_oci::{ArtifactCache, Puller, Registry};
use serde::Serialize;

use crate::client::spinner;
use crate::output::{print, Format};

/// Largest file pushed or pulled.
const MAX_BYTES: u64 = 1 << 30;

fn puller(args: &RegistryArgs, cache: &Path) -> anyhow::Result<Puller> {
    let mut options = args.options()?;
    options.max_bytes = MAX_BYTES;
    let registry = Registry::new(options)?;
    Ok(Puller::new(registry, ArtifactCache::new(cache)))
}

/// Pushes `file` as `reference`: a component or an ONNX model as is, a
/// provider binary with its claims (`FILE.jwt`) under the platform they
/// vouch for.
pub async fn push(
    reference: &str,
    file: &Path,
    (platform, artifact_type): (Option<&str>, Option<&str>),
    args: &RegistryArgs,
    format: Format,
) -> anyhow::Result<()> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let scratch = tempfile::tempdir()?;
    let puller = puller(args, scratch.path())?;
    let progress = spinner(format!("pushing {} to {reference}", file.display()));
    let model = artifact_type == Some("model")
        || (artifact_type.is_none() && file.extension().is_some_and(|e| e == "onnx"));
    let (kind, digest, shown_platform) = if bytes.starts_with(b"\0asm") {
        let digest = lattice_oci::push::component(puller.registry(), reference, bytes).await;
        ("component", digest, None)
    } else if model {
        // An ONNX model for wasi:nn, pushed as it is.
        let digest = lattice_oci::push::model(puller.registry(), reference, bytes).await;
        ("model", digest, None)
    } else {
        let mut jwt_path = file.as_os_str().to_owned();
        jwt_path.push(".jwt");
        let jwt = std::fs::read_to_string(&jwt_path).ok();
        let platform = match (platform, &jwt) {
            (Some(platform), _) => parse_platform(platform)?,
            (None, Some(jwt)) => {
                let claims = ProviderClaims::decode_verified(jwt, KeyKind::Service)
                    .with_context(|| format!("{}: claims refused", PathBuf::from(&jwt_path).display()))?;
                let target = claimed_target(&claims, &binary_hash(&bytes)).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: its claims do not vouch for this binary (changed since it was signed?)",
                        file.display()
                    )
                })?;
                Platform::from_target(&target)
                    .ok_or_else(|| anyhow::anyhow!("claims target {target:?} is not ARCH-OS"))?
            }
            (None, None) => anyhow::bail!(
                "{}: neither a component nor a signed provider binary (no {} beside it; sign it with `lattice-ctl claims sign-provider`, or pass --platform OS/ARCH to push it unsigned)",
                file.display(),
                PathBuf::from(&jwt_path).display()
            ),
        };
        let digest =
            lattice_oci::push::provider(puller.registry(), reference, &platform, bytes, jwt).await;
        ("provider", digest, Some(platform.to_string()))
    };
    progress.finish_and_clear();
    let digest = digest?;
    #[derive(Serialize)]
    struct Pushed<'a> {
        reference: &'a str,
        kind: &'a str,
        digest: &'a str,
        platform: Option<&'a str>,
    }
    let mut rows = vec![
        ("Pushed", reference.to_string()),
        ("Kind", kind.to_string()),
        ("Digest", digest.clone()),
    ];
    if let Some(platform) = &shown_platform {
        rows.push(("Platform", platform.clone()));
    }
    print(
        format,
        &Pushed {
            reference,
            kind,
            digest: &digest,
            platform: shown_platform.as_deref(),
        },
        &rows,
    )
}

fn parse_platform(text: &str) -> anyhow::Result<Platform> {
    match text.split_once('/') {
        Some((os, architecture)) if !os.is_empty() && !architecture.is_empty() => Ok(Platform {
            os: os.into(),
            architecture: architecture.into(),
        }),
        _ => anyhow::bail!("platform {text:?} is not OS/ARCH (e.g. linux/amd64)"),
    }
}

/// Pulls `reference` into `destination`: a component, or this platform's
/// provider binary (its claims beside it as `DESTINATION.jwt`).
pub async fn pull(
    reference: &str,
    destination: Option<&Path>,
    args: &RegistryArgs,
    format: Format,
) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let puller = puller(args, scratch.path())?;
    let progress = spinner(format!("pulling {reference}"));
    let described = puller.describe(reference).await;
    let pulled = match described {
        Ok(ArtifactDescription::Component(component)) => {
            Ok((component.bytes, None, component.pinned, "component"))
        }
        // By digest: the index just resolved is cached, not asked again.
        Ok(ArtifactDescription::Provider { pinned, .. }) => puller
            .provider(&pinned, &Platform::current())
            .await
            .map(|p| (p.binary, p.claims, p.pinned, "provider")),
        Err(e) => Err(e),
    };
    progress.finish_and_clear();
    let (bytes, claims, pinned, kind) = pulled?;
    let destination =
        destination.map_or_else(|| default_destination(reference, kind), Path::to_path_buf);
    std::fs::write(&destination, &bytes)
        .with_context(|| format!("cannot write {}", destination.display()))?;
    if let Some(jwt) = claims {
        let mut jwt_path = destination.as_os_str().to_owned();
        jwt_path.push(".jwt");
        std::fs::write(&jwt_path, jwt)?;
    }
    if kind == "provider" {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&destination, std::fs::Permissions::from_mode(0o755))?;
    }
    #[derive(Serialize)]
    struct Pulled<'a> {
        reference: &'a str,
        kind: &'a str,
        file: String,
        size: usize,
    }
    let file = destination.display().to_string();
    print(
        format,
        &Pulled {
            reference: &pinned,
            kind,
            file: file.clone(),
            size: bytes.len(),
        },
        &[
            ("Pulled", pinned.clone()),
            ("Kind", kind.to_string()),
            ("File", file),
            ("Size", bytes.len().to_string()),
        ],
    )
}

/// `hello.wasm` for `REGISTRY/…/hello:1`, `hello` for a provider.
fn default_destination(reference: &str, kind: &str) -> PathBuf {
    let name = reference
        .rsplit('/')
        .next()
        .unwrap_or("artifact")
        .split(['@', ':'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("artifact");
    PathBuf::from(if kind == "component" {
        format!("{name}.wasm")
    } else {
        name.to_string()
    })
}

#[derive(Serialize)]
struct ShownClaims {
    issuer: String,
    subject: String,
    name: Option<String>,
    valid: bool,
    problem: Option<String>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Claims as `inspect` shows them, with `name` from their metadata.
fn shown_claims<M: Serialize + serde::de::DeserializeOwned>(
    claims: &Claims<M>,
    name: Option<String>,
) -> ShownClaims {
    let problem = claims.check_time(now()).err().map(|e| e.to_string());
    ShownClaims {
        issuer: claims.issuer.clone(),
        subject: claims.subject.clone(),
        name,
        valid: problem.is_none(),
        problem,
    }
}

fn component_claims(claims: &Claims<ComponentMetadata>) -> ShownClaims {
    shown_claims(
        claims,
        claims.metadata.as_ref().and_then(|m| m.name.clone()),
    )
}

fn provider_claims(jwt: &str) -> ShownClaims {
    match ProviderClaims::decode_verified(jwt, KeyKind::Service) {
        Ok(claims) => shown_claims(
            &claims,
            claims.metadata.as_ref().and_then(|m| m.name.clone()),
        ),
        Err(e) => ShownClaims {
            issuer: String::new(),
            subject: String::new(),
            name: None,
            valid: false,
            problem: Some(e.to_string()),
        },
    }
}

/// Shows what `reference` holds: digest, kind, sizes and claims. Nothing
/// runs; a component is pulled to read its claims.
pub async fn inspect(reference: &str, args: &RegistryArgs, format: Format) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let puller = puller(args, scratch.path())?;
    let progress = spinner(format!("inspecting {reference}"));
    let described = puller.describe(reference).await;
    progress.finish_and_clear();
    #[derive(Serialize)]
    struct Shown {
        reference: String,
        digest: String,
        kind: &'static str,
        media_type: &'static str,
        size: Option<usize>,
        claims: Option<ShownClaims>,
        platforms: Vec<ShownPlatform>,
    }
    #[derive(Serialize)]
    struct ShownPlatform {
        platform: String,
        digest: String,
        size: u64,
        claims: Option<ShownClaims>,
    }
    let shown = match described? {
        ArtifactDescription::Component(component) => {
            let claims = read_component(&component.bytes)
                .ok()
                .flatten()
                .map(|(_, claims)| component_claims(&claims));
            Shown {
                reference: component.pinned,
                digest: component.digest,
                kind: "component",
                media_type: lattice_oci::media::WASM_LAYER,
                size: Some(component.bytes.len()),
                claims,
                platforms: Vec::new(),
            }
        }
        ArtifactDescription::Provider {
            pinned,
            digest,
            platforms,
        } => Shown {
            reference: pinned,
            digest,
            kind: "provider",
            media_type: lattice_oci::media::PROVIDER_BINARY,
            size: None,
            claims: None,
            platforms: platforms
                .into_iter()
                .map(|p| ShownPlatform {
                    platform: p.platform.to_string(),
                    digest: p.digest,
                    size: p.size,
                    claims: p.claims.as_deref().map(provider_claims),
                })
                .collect(),
        },
    };
    let describe_claims = |claims: &Option<ShownClaims>| match claims {
        None => "not signed".to_string(),
        Some(c) => format!(
            "issuer {} subject {}{}",
            c.issuer,
            c.subject,
            c.problem
                .as_ref()
                .map_or_else(String::new, |p| format!(" (not valid: {p})"))
        ),
    };
    let mut rows = vec![
        ("Reference", shown.reference.clone()),
        ("Digest", shown.digest.clone()),
        ("Kind", shown.kind.to_string()),
        ("Media type", shown.media_type.to_string()),
    ];
    if let Some(size) = shown.size {
        rows.push(("Size", size.to_string()));
        rows.push(("Claims", describe_claims(&shown.claims)));
    }
    for platform in &shown.platforms {
        rows.push((
            "Platform",
            format!(
                "{} {} bytes, {}",
                platform.platform,
                platform.size,
                describe_claims(&platform.claims)
            ),
        ));
    }
    print(format, &shown, &rows)
}

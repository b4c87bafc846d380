//! Pushing components and provider binaries.
//!
//! A component becomes one manifest in the CNCF Wasm layout. A provider
//! binary becomes one platform's manifest (binary and claims layers) inside
//! the image index at the tag: pushing the arm64 build after the amd64 one
//! adds to the index instead of replacing it.

use serde_json::json;

use crate::error::{OciError, OciFailure};
use crate::media;
use crate::pull::Platform;
use crate::reference::OciReference;
use crate::registry::Registry;

fn descriptor_json(descriptor: &oci_client::manifest::OciDescriptor) -> serde_json::Value {
    json!({
        "mediaType": descriptor.media_type,
        "digest": descriptor.digest,
        "size": descriptor.size,
    })
}

/// Pushes component `wasm` as `reference`; returns the manifest's digest.
///
/// # Errors
///
/// When the reference does not parse or the registry refuses.
pub async fn component(
    registry: &Registry,
    reference: &str,
    wasm: Vec<u8>,
) -> Result<String, OciError> {
    one_layer(
        registry,
        reference,
        (media::WASM_LAYER, media::WASM_CONFIG),
        wasm,
        |digest| {
            json!({
                "architecture": "wasm",
                "os": "wasip2",
                "layerDigests": [digest],
            })
        },
    )
    .await
}

/// Pushes ONNX model `onnx` as `reference`; returns the manifest's digest.
///
/// # Errors
///
/// When the reference does not parse or the registry refuses.
pub async fn model(
    registry: &Registry,
    reference: &str,
    onnx: Vec<u8>,
) -> Result<String, OciError> {
    one_layer(
        registry,
        reference,
        (media::MODEL_LAYER, media::MODEL_CONFIG),
        onnx,
        |digest| json!({ "format": "onnx", "layerDigests": [digest] }),
    )
    .await
}

/// Pushes `bytes` as the one layer (`layer_type`) of a manifest whose
/// config (`config_type`) `config` makes from the layer's digest.
async fn one_layer(
    registry: &Registry,
    reference: &str,
    (layer_type, config_type): (&str, &str),
    bytes: Vec<u8>,
    config: impl FnOnce(&str) -> serde_json::Value,
) -> Result<String, OciError> {
    let reference = OciReference::parse(reference)?;
    let layer = registry.push_blob(&reference, layer_type, bytes).await?;
    let config = config(&layer.digest);
    let config = registry
        .push_blob(&reference, config_type, config.to_string().into_bytes())
        .await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "config": descriptor_json(&config),
        "layers": [descriptor_json(&layer)],
    });
    registry
        .push_manifest(
            &reference,
            reference.inner(),
            media::OCI_MANIFEST,
            manifest.to_string().into_bytes(),
        )
        .await
}

/// Pushes provider `binary` for `platform`, with its `claims`, into the
/// index at `reference`, replacing that platform's entry if there was one;
/// returns the index's digest.
///
/// # Errors
///
/// When the reference does not parse, names a digest (an index at a digest
/// cannot change), holds something other than a provider index, or the
/// registry refuses.
pub async fn provider(
    registry: &Registry,
    reference: &str,
    platform: &Platform,
    binary: Vec<u8>,
    claims: Option<String>,
) -> Result<String, OciError> {
    let parsed = OciReference::parse(reference)?;
    if parsed.digest().is_some() {
        return Err(OciError::new(
            reference,
            OciFailure::BadReference("push to a tag, not a digest".into()),
        ));
    }
    let mut layers = vec![descriptor_json(
        &registry
            .push_blob(&parsed, media::PROVIDER_BINARY, binary)
            .await?,
    )];
    if let Some(claims) = claims {
        layers.push(descriptor_json(
            &registry
                .push_blob(&parsed, media::PROVIDER_CLAIMS, claims.into_bytes())
                .await?,
        ));
    }
    let config = registry
        .push_blob(&parsed, media::PROVIDER_CONFIG, b"{}".to_vec())
        .await?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": media::PROVIDER_BINARY,
        "config": descriptor_json(&config),
        "layers": layers,
    })
    .to_string()
    .into_bytes();
    let manifest_size = manifest.len();
    let manifest_digest = crate::reference::sha256_digest(&manifest);
    registry
        .push_manifest(
            &parsed,
            &parsed.at(&manifest_digest),
            media::OCI_MANIFEST,
            manifest,
        )
        .await?;
    let mut entries = existing_entries(registry, &parsed).await?;
    entries.retain(|entry| {
        entry.pointer("/platform/os") != Some(&json!(platform.os))
            || entry.pointer("/platform/architecture") != Some(&json!(platform.architecture))
    });
    entries.push(json!({
        "mediaType": media::OCI_MANIFEST,
        "digest": manifest_digest,
        "size": manifest_size,
        "platform": {"os": platform.os, "architecture": platform.architecture},
    }));
    let index = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_INDEX,
        "artifactType": media::PROVIDER_BINARY,
        "manifests": entries,
    });
    registry
        .push_manifest(
            &parsed,
            parsed.inner(),
            media::OCI_INDEX,
            index.to_string().into_bytes(),
        )
        .await
}

/// The entries of the provider index at `reference`, or none when the tag
/// does not exist yet.
async fn existing_entries(
    registry: &Registry,
    reference: &OciReference,
) -> Result<Vec<serde_json::Value>, OciError> {
    let bytes = match registry.manifest(reference).await {
        Ok((bytes, _)) => bytes,
        Err(OciError {
            failure: OciFailure::NotFound,
            ..
        }) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let entries = value
        .get("manifests")
        .and_then(serde_json::Value::as_array)
        .filter(|_| value.get("artifactType") == Some(&json!(media::PROVIDER_BINARY)));
    let Some(entries) = entries else {
        return Err(OciError::new(
            &reference.to_string(),
            OciFailure::NotAnArtifact {
                expected: "provider index",
                detail: "the tag holds something else; push the provider to another tag".into(),
            },
        ));
    };
    Ok(entries.clone())
}

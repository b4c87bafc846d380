//! Media types of the artifacts Lattice pushes and pulls.

/// The config of a Wasm component (CNCF Wasm OCI artifact guidance).
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The one layer of a Wasm component.
pub const WASM_LAYER: &str = "application/wasm";
/// Layer types older tools (wasmCloud's `wash` before the CNCF guidance)
/// used for a component; pulled, never pushed.
pub const LEGACY_WASM_LAYERS: &[&str] = &[
    "application/vnd.wasm.content.layer.v1+wasm",
    "application/vnd.module.wasm.content.layer.v1+wasm",
];

/// The config of an ONNX model (`wasi:nn`'s graphs).
pub const MODEL_CONFIG: &str = "application/vnd.lattice.model.config.v1+json";
/// The one layer of an ONNX model: the `.onnx` file as it is.
pub const MODEL_LAYER: &str = "application/vnd.lattice.model.onnx.v1";

/// The config of one platform's provider manifest.
pub const PROVIDER_CONFIG: &str = "application/vnd.lattice.provider.config.v1+json";
/// A provider binary for one platform.
pub const PROVIDER_BINARY: &str = "application/vnd.lattice.provider.binary.v1";
/// The claims (a JWT) that vouch for the binary beside it.
pub const PROVIDER_CLAIMS: &str = "application/vnd.lattice.provider.claims.v1+jwt";

/// An OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's image manifest, which some registries answer with.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker's manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Every manifest type asked for when resolving a reference.
pub const MANIFESTS: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// Whether `media_type` is a Wasm component layer.
pub fn is_wasm_layer(media_type: &str) -> bool {
    media_type == WASM_LAYER || LEGACY_WASM_LAYERS.contains(&media_type)
}

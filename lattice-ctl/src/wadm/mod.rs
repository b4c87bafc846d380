//! wadm manifests: wasmCloud's OAM `Application` documents, applied as
//! Lattice apps (`lattice-ctl apply app.wadm.yaml`) and written back
//! (`lattice-ctl get app NAME -o wadm`).
//!
//! - [`document`]: the manifest as wadm reads it;
//! - [`to_lattice`]: the mapping onto a Lattice app, refusing in one line
//!   what Lattice cannot honour;
//! - [`providers`]: wasmCloud's provider images served by built-in
//!   providers, and the defaults those providers assume;
//! - [`from_lattice`]: the way back.

mod document;
mod from_lattice;
mod providers;
mod to_lattice;

use std::path::Path;

use anyhow::Context as _;
use lattice_interfaces::Manifest;

/// Whether `text` is a wadm manifest rather than Lattice's TOML: YAML (or
/// JSON) with an `apiVersion`.
pub fn looks_like_wadm(text: &str) -> bool {
    text.lines()
        .map(str::trim_start)
        .filter(|line| !line.is_empty() && !line.starts_with('#') && *line != "---")
        .take(3)
        .any(|line| {
            line.starts_with("apiVersion:") || line.starts_with("{") || line.starts_with("kind:")
        })
}

/// Reads wadm manifest `text` (from `path`, against whose folder `file://`
/// images resolve) as a Lattice app; with a notice per mapping the reader
/// should know of.
pub fn read(text: &str, path: &Path) -> anyhow::Result<(Manifest, Vec<String>)> {
    let file = path.display().to_string();
    let application: document::Application = serde_yaml_ng::from_str(text)
        .map_err(|e| anyhow::anyhow!("{file}: {}", e.to_string().replace('\n', "; ")))?;
    let converted =
        to_lattice::to_lattice(&application).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let mut manifest = Manifest::from_spec(converted.spec, &file)?;
    manifest.resolve_files(path)?;
    Ok((manifest, converted.notices))
}

/// App `name`'s `manifest` as a wadm manifest.
pub fn write(name: &str, manifest: &Manifest) -> anyhow::Result<String> {
    let application = from_lattice::from_lattice(name, manifest)
        .map_err(|e| anyhow::anyhow!("app {name} as a wadm manifest: {e}"))?;
    serde_yaml_ng::to_string(&application).context("writing the wadm manifest")
}

#[cfg(test)]
mod tests;

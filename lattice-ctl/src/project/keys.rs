//! The keys `build` signs with: the developer's account key, one per user
//! (made on first use under the user's config folder, mode 600, its public
//! key printed once), and a module key per project (`.lattice/module.nk`,
//! so a project keeps one identity across builds).

use std::path::PathBuf;

use anyhow::Context as _;
use lattice_interfaces::claims::KeyKind;

use super::build::Project;

/// `$XDG_CONFIG_HOME/lattice`, else `~/.config/lattice`.
fn config_dir() -> anyhow::Result<PathBuf> {
    // A relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|v| v.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .context("neither XDG_CONFIG_HOME nor HOME is set: no folder for the developer key")?;
    Ok(base.join("lattice"))
}

/// Where the developer key lives.
pub fn developer_key_file() -> anyhow::Result<PathBuf> {
    Ok(config_dir()?.join("developer.nk"))
}

/// The developer's account key, made on first use.
pub fn developer_key() -> anyhow::Result<nkeys::KeyPair> {
    let path = developer_key_file()?;
    let (pair, made) = kept_or_made(&path, KeyKind::Account)?;
    if made {
        let public = pair.public_key();
        eprintln!(
            "made your developer key {} (mode 600): public key {public}; hosts run what it signs with --allowed-issuer {public}",
            path.display()
        );
    }
    Ok(pair)
}

/// The module key of `project`, made on its first build.
pub fn module_key(project: &Project) -> anyhow::Result<nkeys::KeyPair> {
    let path = project.dir.join(".lattice").join("module.nk");
    Ok(kept_or_made(&path, KeyKind::Module)?.0)
}

/// The key of `kind` in the seed file at `path`, or a new one written
/// there (its folder made, mode 700); whether it was made.
fn kept_or_made(path: &std::path::Path, kind: KeyKind) -> anyhow::Result<(nkeys::KeyPair, bool)> {
    if let Some(dir) = path.parent().filter(|_| !path.exists()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    crate::keys::kept_or_made(path, kind)
}

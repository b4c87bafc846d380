//! Private copies of verified provider binaries.
//!
//! A host runs the bytes it checked, not whatever the path holds when the
//! process next restarts: each verified binary is written once to a
//! directory only this host writes (mode 700, removed when the host
//! drops), named by its hash, and its hash is checked again before every
//! start ([`check`]).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::trust::VerifiedBinary;

/// The host's directory of provider binaries, made on first use.
#[derive(Default)]
pub(crate) struct ProviderBinaries {
    dir: Mutex<Option<tempfile::TempDir>>,
}

impl ProviderBinaries {
    /// Writes `binary` (if not written already) and returns its path.
    pub(crate) fn install(&self, binary: &VerifiedBinary) -> std::io::Result<PathBuf> {
        let mut dir = self
            .dir
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if dir.is_none() {
            *dir = Some(
                tempfile::Builder::new()
                    .prefix("lattice-providers-")
                    .tempdir()?,
            );
        }
        let Some(dir) = dir.as_ref() else {
            return Err(std::io::Error::other("no directory for provider binaries"));
        };
        let path = dir.path().join(&binary.sha256);
        if check(&path, &binary.sha256).is_ok() {
            return Ok(path);
        }
        // Written under a temporary name and renamed, so a start never sees
        // half a binary; closed before anything executes it.
        let partial = dir.path().join(format!(".{}.partial", binary.sha256));
        {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o700)
                .open(&partial)?;
            file.write_all(&binary.bytes)?;
            file.sync_all()?;
        }
        std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o500))?;
        std::fs::rename(&partial, &path)?;
        Ok(path)
    }
}

/// Checks that the file at `path` still has hash `sha256`.
pub(crate) fn check(path: &Path, sha256: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let actual = lattice_interfaces::claims::binary_hash(&bytes);
    if actual.eq_ignore_ascii_case(sha256) {
        Ok(())
    } else {
        Err(format!(
            "{} changed since it was verified (sha256 {sha256}, now {actual})",
            path.display()
        ))
    }
}

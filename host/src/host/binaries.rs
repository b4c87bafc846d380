//! Private copies of verified provider binaries.
//!
//! A host runs the bytes it checked, not whatever the path holds when the
//! process next restarts: each verified binary is written once to a
//! directory only this host writes (mode 700, removed when the host
//! drops), named by its hash, and its hash is checked again before every
//! start ([`check`]).
//!
//! A host that is killed cannot remove its directory, so the directory
//! names its process (`lattice-providers-<pid>-…`) and the next host on the
//! machine removes those whose process is gone ([`sweep_stale`]).

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
            let temp = std::env::temp_dir();
            sweep_stale(&temp);
            *dir = Some(
                tempfile::Builder::new()
                    .prefix(&format!("{PREFIX}{}-", std::process::id()))
                    .tempdir_in(&temp)?,
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

/// How the directories of provider binaries are named, before the pid.
const PREFIX: &str = "lattice-providers-";

/// Removes the directories of provider binaries under `temp` whose host
/// process is gone (it was killed). Only where `/proc` tells which
/// processes run; a directory it cannot remove is left.
fn sweep_stale(temp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::debug!(dir = %entry.path().display(), "removed the provider binaries of a host that is gone")
                }
                Err(error) => {
                    tracing::debug!(dir = %entry.path().display(), %error, "cannot remove stale provider binaries")
                }
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binaries_of_a_killed_host_are_swept_and_a_live_hosts_kept() {
        let temp = tempfile::tempdir().unwrap();
        // No process has this pid (pid_max is at most 2^22).
        let dead = temp.path().join(format!("{PREFIX}4294967294-abc"));
        let live = temp
            .path()
            .join(format!("{PREFIX}{}-abc", std::process::id()));
        let other = temp.path().join("lattice-providers-notapid");
        for dir in [&dead, &live, &other] {
            std::fs::create_dir(dir).unwrap();
            std::fs::write(dir.join("bin"), b"x").unwrap();
        }
        sweep_stale(temp.path());
        assert!(!dead.exists());
        assert!(live.join("bin").exists());
        assert!(other.exists());
    }
}

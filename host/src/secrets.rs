//! Secrets on this host: an actor's secret references (`file:`, `env:`;
//! see [`lattice_interfaces::secret::SecretRef`]) resolved where it runs,
//! under the host's policy: files only inside the directories the operator
//! named (`--secret-dir`, e.g. where Kubernetes mounts a Secret), variables
//! only named `LATTICE_SECRET_…`. Values go to the actor's
//! `wasi:config/store` and nowhere else: not to logs, events, inventories
//! or the lattice's bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lattice_interfaces::secret::SecretRef;

/// Largest secret read, in bytes.
pub const MAX_SECRET_BYTES: u64 = 64 << 10;

/// Resolves every reference of `secrets` (key → reference) with files
/// allowed under `dirs`; the values by key, or the first refusal, naming
/// the key and the reference (never a value).
///
/// # Errors
///
/// A reference that does not parse, a file outside `dirs`, missing, too
/// large or not UTF-8, or a variable that is not set.
pub fn resolve(
    dirs: &[PathBuf],
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    secrets
        .iter()
        .map(|(key, text)| {
            let refused =
                |reason: String| format!("secret \"{}\": {reason}", lattice_interfaces::shown(key));
            let reference = SecretRef::parse(text).map_err(refused)?;
            let value = match &reference {
                SecretRef::File(path) => read_file(dirs, path),
                SecretRef::Env(name) => {
                    std::env::var(name).map_err(|_| "is not set on this host".to_string())
                }
            }
            .map_err(|reason| refused(format!("{reference} {reason}")))?;
            Ok((key.clone(), value))
        })
        .collect()
}

fn read_file(dirs: &[PathBuf], path: &Path) -> Result<String, String> {
    if dirs.is_empty() {
        return Err(
            "cannot be read: this host reads no secret files (start it with --secret-dir DIR)"
                .into(),
        );
    }
    // Resolved first, so a link cannot lead out of the directories.
    let real = path
        .canonicalize()
        .map_err(|e| format!("cannot be read: {e}"))?;
    let inside = dirs
        .iter()
        .filter_map(|dir| dir.canonicalize().ok())
        .any(|dir| real.starts_with(dir));
    if !inside {
        return Err("is outside this host's secret directories (--secret-dir)".into());
    }
    let metadata = std::fs::metadata(&real).map_err(|e| format!("cannot be read: {e}"))?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    if metadata.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "is {} bytes; a secret is at most {MAX_SECRET_BYTES}",
            metadata.len()
        ));
    }
    let bytes = std::fs::read(&real).map_err(|e| format!("cannot be read: {e}"))?;
    let mut text = String::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(reference: &str, dirs: &[PathBuf]) -> Result<String, String> {
        resolve(
            dirs,
            &BTreeMap::from([("k".to_string(), reference.to_string())]),
        )
        .map(|values| values["k"].clone())
    }

    #[test]
    fn files_inside_the_secret_directories_only() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secrets = vec![dir.path().to_path_buf()];
        std::fs::write(dir.path().join("db"), "hunter2\n").unwrap();
        std::fs::write(outside.path().join("seed"), "SUSECRET").unwrap();
        let file = |p: &Path| format!("file:{}", p.display());

        assert_eq!(
            one(&file(&dir.path().join("db")), &secrets).unwrap(),
            "hunter2"
        );
        let error = one(&file(&outside.path().join("seed")), &secrets).unwrap_err();
        assert!(
            error.contains("outside this host's secret directories"),
            "{error}"
        );
        assert!(!error.contains("SUSECRET"), "{error}");
        // A link inside that leads outside is still outside.
        std::os::unix::fs::symlink(outside.path().join("seed"), dir.path().join("link")).unwrap();
        let error = one(&file(&dir.path().join("link")), &secrets).unwrap_err();
        assert!(error.contains("outside"), "{error}");
        let error = one(&file(&dir.path().join("db")), &[]).unwrap_err();
        assert!(error.contains("--secret-dir"), "{error}");
        let error = one(&file(&dir.path().join("missing")), &secrets).unwrap_err();
        assert!(
            error.starts_with("secret \"k\": file:") && error.contains("cannot be read"),
            "{error}"
        );
        std::fs::write(
            dir.path().join("big"),
            vec![b'x'; MAX_SECRET_BYTES as usize + 1],
        )
        .unwrap();
        assert!(one(&file(&dir.path().join("big")), &secrets)
            .unwrap_err()
            .contains("at most"));
        let error = one("env:LATTICE_SECRET_SURELY_UNSET_HERE", &secrets).unwrap_err();
        assert!(error.contains("is not set"), "{error}");
        assert!(one("env:HOME", &secrets)
            .unwrap_err()
            .contains("LATTICE_SECRET_"));
    }
}

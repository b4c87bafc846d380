//! Files a host reads as actors and provider binaries: which directories
//! they may come from, what kind of file they must be, and how large.
//!
//! A reference arrives over the lattice from whoever may send control
//! requests, so reading it is guarded: the path is resolved (symlinks
//! followed) before the directory check, only regular files are read (not
//! `/dev/zero`, a FIFO or a directory), and no more than the host's limit
//! is ever read, even from a file that grows while it is read.

use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Largest component or provider binary a host reads unless told otherwise.
pub const DEFAULT_MAX_BYTES: u64 = 256 << 20;

/// Where a host may read references from, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferencePolicy {
    /// Directories files must lie in (after resolving symlinks): `None`
    /// reads files anywhere (development), an empty list reads none (only
    /// registry references run).
    pub allowed_dirs: Option<Vec<PathBuf>>,
    /// Largest file read, in bytes.
    pub max_bytes: u64,
}

impl Default for ReferencePolicy {
    fn default() -> Self {
        Self {
            allowed_dirs: None,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// Why a reference was not read. The message names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// It cannot be opened or resolved.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// A directory, device, FIFO or socket.
    #[error("{path} is not a regular file")]
    NotAFile {
        /// The path as given.
        path: String,
    },
    /// Over the host's limit.
    #[error("{path} is larger than this host reads ({limit_mib} MiB; --max-reference-mib)")]
    TooLarge {
        /// The path as given.
        path: String,
        /// The limit, in MiB.
        limit_mib: u64,
    },
    /// The host reads no files at all.
    #[error("{path}: this host reads no files (start it with --allow-file-dir DIR, or push the file to a registry and give its reference)")]
    NoFiles {
        /// The path as given.
        path: String,
    },
    /// Outside every allowed directory.
    #[error("{path} is outside the directories this host reads from ({dirs}; --allow-file-dir)")]
    OutsideAllowedDirs {
        /// The path as given.
        path: String,
        /// The allowed directories, comma-separated.
        dirs: String,
    },
}

impl ReferencePolicy {
    /// Also allows the folders of `files` (when the policy limits folders):
    /// what a manifest the operator applies names is theirs to run.
    pub fn allowing_folders_of<'a>(mut self, files: impl IntoIterator<Item = &'a Path>) -> Self {
        if let Some(dirs) = &mut self.allowed_dirs {
            dirs.extend(
                files
                    .into_iter()
                    .filter_map(|f| f.parent().map(Path::to_path_buf)),
            );
            // A manifest of ten thousand actors in one folder allows it once.
            dirs.sort();
            dirs.dedup();
        }
        self
    }

    /// Reads the file at `path` under this policy.
    ///
    /// # Errors
    ///
    /// See [`ReferenceError`].
    pub fn read(&self, path: &Path) -> Result<Vec<u8>, ReferenceError> {
        let shown = lattice_interfaces::shown(&path.to_string_lossy()).into_owned();
        let unreadable = |e: std::io::Error| ReferenceError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        };
        if self.allowed_dirs.as_ref().is_some_and(Vec::is_empty) {
            return Err(ReferenceError::NoFiles { path: shown });
        }
        let resolved = std::fs::canonicalize(path).map_err(unreadable)?;
        if let Some(allowed_dirs) = self.allowed_dirs.as_ref().filter(|dirs| {
            !dirs
                .iter()
                .any(|dir| std::fs::canonicalize(dir).is_ok_and(|dir| resolved.starts_with(dir)))
        }) {
            return Err(ReferenceError::OutsideAllowedDirs {
                path: shown,
                dirs: allowed_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        // Opened without blocking: a FIFO with no writer would otherwise
        // hold this thread until one came. What was opened is checked, not
        // the path, so nothing swapped in between slips through.
        let file = {
            use std::os::unix::fs::OpenOptionsExt as _;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&resolved)
                .map_err(unreadable)?
        };
        let metadata = file.metadata().map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(ReferenceError::NotAFile { path: shown });
        }
        let too_large = || ReferenceError::TooLarge {
            path: shown.clone(),
            limit_mib: self.max_bytes >> 20,
        };
        if metadata.len() > self.max_bytes {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
        file.take(self.max_bytes.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(unreadable)?;
        if bytes.len() as u64 > self.max_bytes {
            return Err(too_large());
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    #[test]
    fn devices_directories_and_missing_files_are_refused_by_name() {
        let policy = ReferencePolicy::default();
        assert_eq!(
            policy.read(Path::new("/dev/zero")),
            Err(ReferenceError::NotAFile {
                path: "/dev/zero".into()
            })
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            policy.read(dir.path()),
            Err(ReferenceError::NotAFile { .. })
        ));
        let missing = policy.read(&dir.path().join("nope.wasm")).unwrap_err();
        assert!(missing.to_string().contains("nope.wasm"), "{missing}");
    }

    #[test]
    fn a_fifo_is_refused_at_once_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("actor.wasm");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (sender, answer) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(ReferencePolicy::default().read(&fifo));
        });
        // Nobody ever writes to it: a blocking open would never return.
        let refused = answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO returns instead of waiting for a writer");
        assert!(
            matches!(refused, Err(ReferenceError::NotAFile { .. })),
            "{refused:?}"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_and_one_at_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.wasm");
        std::fs::write(&path, vec![0u8; 2048]).unwrap();
        let at = ReferencePolicy {
            max_bytes: 2048,
            ..ReferencePolicy::default()
        };
        assert_eq!(at.read(&path).unwrap().len(), 2048);
        let under = ReferencePolicy {
            max_bytes: 2047,
            ..ReferencePolicy::default()
        };
        assert!(matches!(
            under.read(&path),
            Err(ReferenceError::TooLarge { .. })
        ));
    }

    #[test]
    fn allowed_directories_hold_even_through_symlinks() {
        let allowed = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let inside = allowed.path().join("a.wasm");
        std::fs::write(&inside, b"a").unwrap();
        let outside = elsewhere.path().join("b.wasm");
        std::fs::write(&outside, b"b").unwrap();
        let link = allowed.path().join("link.wasm");
        std::os::unix::fs::symlink(&outside, &link).unwrap();
        let policy = ReferencePolicy {
            allowed_dirs: Some(vec![allowed.path().to_path_buf()]),
            ..ReferencePolicy::default()
        };
        assert_eq!(policy.read(&inside).unwrap(), b"a");
        let none = ReferencePolicy {
            allowed_dirs: Some(Vec::new()),
            ..ReferencePolicy::default()
        };
        let refused = none.read(&inside).unwrap_err().to_string();
        assert!(
            refused.contains("reads no files") && refused.contains("--allow-file-dir"),
            "{refused}"
        );
        let widened = none.allowing_folders_of([inside.as_path()]);
        assert_eq!(widened.read(&inside).unwrap(), b"a");
        for refused in [&outside, &link] {
            assert!(matches!(
                policy.read(refused),
                Err(ReferenceError::OutsideAllowedDirs { .. })
            ));
        }
    }
}

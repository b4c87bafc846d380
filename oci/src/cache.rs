//! Pulled content on disk, by digest: `DIR/blobs/sha256/<hex>`.
//!
//! A file is written under a temporary name in the same folder, its hash
//! checked against the digest, and only then renamed into place: a crash,
//! a truncated download or corrupted content leaves nothing under a digest
//! name. What is read back is hashed again, so a file changed on disk is
//! dropped and pulled anew rather than run.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::error::OciFailure;
use crate::reference::is_sha256_digest;

/// Content by digest under one folder.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

fn cache_error(path: &Path, error: impl std::fmt::Display) -> OciFailure {
    OciFailure::Cache {
        path: path.display().to_string(),
        detail: error.to_string(),
    }
}

impl ArtifactCache {
    /// A cache under `dir`, created when first written.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: &str) -> Result<PathBuf, OciFailure> {
        if !is_sha256_digest(digest) {
            return Err(OciFailure::DigestMismatch(format!(
                "{} is not a sha256 digest",
                lattice_interfaces::shown(digest)
            )));
        }
        let hex = digest.trim_start_matches("sha256:");
        Ok(self.dir.join("blobs").join("sha256").join(hex))
    }

    /// The content of `digest` when cached and intact.
    ///
    /// # Errors
    ///
    /// When the file exists but cannot be read.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, OciFailure> {
        let path = self.path(digest)?;
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(cache_error(&path, e)),
        };
        if crate::reference::sha256_digest(&bytes) != digest {
            tracing::warn!(path = %path.display(), "cached content no longer matches its digest; pulling it again");
            let _ = std::fs::remove_file(&path);
            return Ok(None);
        }
        Ok(Some(bytes))
    }

    /// Whether `digest` has a file (not checked).
    pub fn contains(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Keeps `bytes` as `digest`.
    ///
    /// # Errors
    ///
    /// When the bytes are not `digest`, or the file cannot be written.
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<(), OciFailure> {
        let mut writer = self.writer(digest)?;
        writer.write(bytes)?;
        writer.finish()
    }

    /// A writer that becomes `digest` when [`BlobWriter::finish`] finds the
    /// bytes match, and leaves nothing behind otherwise.
    ///
    /// # Errors
    ///
    /// When the folder cannot be made.
    pub fn writer(&self, digest: &str) -> Result<BlobWriter, OciFailure> {
        let path = self.path(digest)?;
        let folder = path.parent().unwrap_or(&self.dir).to_path_buf();
        std::fs::create_dir_all(&folder).map_err(|e| cache_error(&folder, e))?;
        let file = tempfile::NamedTempFile::new_in(&folder).map_err(|e| cache_error(&folder, e))?;
        Ok(BlobWriter {
            file,
            hasher: sha2::Sha256::new(),
            written: 0,
            digest: digest.to_string(),
            path,
        })
    }
}

/// Content on its way into the cache.
#[derive(Debug)]
pub struct BlobWriter {
    file: tempfile::NamedTempFile,
    hasher: sha2::Sha256,
    written: u64,
    digest: String,
    path: PathBuf,
}

impl BlobWriter {
    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// When the file cannot be written.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), OciFailure> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .map_err(|e| cache_error(self.file.path(), e))
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Checks the hash and moves the file into place. Dropping the writer
    /// instead removes it.
    ///
    /// # Errors
    ///
    /// When the bytes are not the digest, or the file cannot be moved.
    pub fn finish(self) -> Result<(), OciFailure> {
        let actual = format!(
            "sha256:{}",
            data_encoding::HEXLOWER.encode(&self.hasher.finalize())
        );
        if actual != self.digest {
            return Err(OciFailure::DigestMismatch(format!(
                "expected {}, got {actual}",
                self.digest
            )));
        }
        self.file
            .as_file()
            .sync_all()
            .map_err(|e| cache_error(self.file.path(), e))?;
        self.file
            .persist(&self.path)
            .map(drop)
            .map_err(|e| cache_error(&self.path, e.error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::sha256_digest;

    #[test]
    fn only_matching_content_lands_under_its_digest() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let cache = ArtifactCache::new(dir.path());
        let digest = sha256_digest(b"hello");
        assert_eq!(cache.get(&digest).expect("reads"), None);
        let refused = cache.put(&digest, b"jello").expect_err("wrong bytes");
        assert!(refused.to_string().contains("does not match"), "{refused}");
        assert!(!cache.contains(&digest));
        let leftovers = std::fs::read_dir(dir.path().join("blobs/sha256"))
            .expect("the folder")
            .count();
        assert_eq!(leftovers, 0, "a refused write leaves no file");
        cache.put(&digest, b"hello").expect("kept");
        assert_eq!(
            cache.get(&digest).expect("reads").as_deref(),
            Some(&b"hello"[..])
        );
        std::fs::write(cache.path(&digest).expect("a path"), b"tampered").expect("written");
        assert_eq!(
            cache.get(&digest).expect("reads"),
            None,
            "changed on disk: dropped"
        );
        assert!(!cache.contains(&digest));
        assert!(cache.get("sha256:../../etc/passwd").is_err());
    }
}

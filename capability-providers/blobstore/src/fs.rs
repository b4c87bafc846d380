//! The filesystem backend: the link's `root` directory holds a directory
//! per container, and each object is a file under it (an object name's
//! `/` are subdirectories). Writes go to a temporary file under
//! `ROOT/.lattice-tmp` (no container can be named so) and are renamed into
//! place, synced, when finished: a reader sees the old object or the new
//! one, never half of one, and a failed write leaves nothing.
//!
//! Names are checked before they get here ([`lattice_contract_blobstore::names`]);
//! this module also refuses any path through a symbolic link, so a link
//! planted under the root cannot lead outside it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use futures::StreamExt as _;
use lattice_contract_blobstore::{
    container_named, now_seconds, object_named, BlobError, BlobFuture, BlobStore, ContainerInfo,
    ObjectInfo, ObjectPage, ObjectRead, ObjectWriter, CHUNK,
};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use crate::usage::{Backend, Usage};

/// Where writes in progress live, under the root.
const TEMPORARY: &str = ".lattice-tmp";

/// Containers as directories under one root.
#[derive(Debug, Clone)]
pub struct FsStore {
    root: Arc<PathBuf>,
}

fn backend(what: &str, error: &std::io::Error) -> BlobError {
    BlobError::Backend(format!("{what}: {error}"))
}

fn seconds(metadata: &std::fs::Metadata) -> u64 {
    metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

impl FsStore {
    /// The store under `root`, made if missing.
    ///
    /// # Errors
    ///
    /// The root cannot be made or is not a directory.
    pub async fn open(root: &Path) -> Result<Self, BlobError> {
        let temporary = root.join(TEMPORARY);
        tokio::fs::create_dir_all(&temporary).await.map_err(|e| {
            backend(
                &format!("cannot make blob store root {}", root.display()),
                &e,
            )
        })?;
        let root = tokio::fs::canonicalize(root)
            .await
            .map_err(|e| backend(&format!("blob store root {}", root.display()), &e))?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    fn container_dir(&self, container: &str) -> PathBuf {
        self.root.join(container)
    }

    /// The path of an object, refusing one that passes through a symbolic
    /// link (or, for `for_write`, whose container is missing).
    async fn object_path(&self, container: &str, name: &str) -> Result<PathBuf, BlobError> {
        let dir = self.container_dir(container);
        match tokio::fs::symlink_metadata(&dir).await {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(BlobError::Invalid(format!(
                    "{} is not a directory on the blob store's disk",
                    container_named(container)
                )))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(BlobError::NotFound(container_named(container)))
            }
            Err(e) => return Err(backend(&container_named(container), &e)),
        }
        let mut path = dir;
        for segment in name.split('/') {
            path.push(segment);
            match tokio::fs::symlink_metadata(&path).await {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(BlobError::Invalid(format!(
                        "{}: the path passes through a symbolic link, which the blob store does not follow",
                        object_named(container, name)
                    )))
                }
                Ok(_) => {}
                // The rest does not exist yet: nothing to follow.
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    for rest in name.split('/').skip(path_depth(&path, &self.container_dir(container))) {
                        path.push(rest);
                    }
                    return Ok(path);
                }
                Err(e) => return Err(backend(&object_named(container, name), &e)),
            }
        }
        Ok(path)
    }

    async fn file_info(
        &self,
        container: &str,
        name: &str,
    ) -> Result<(PathBuf, ObjectInfo), BlobError> {
        let path = self.object_path(container, name).await?;
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok((
                path,
                ObjectInfo {
                    name: name.to_string(),
                    container: container.to_string(),
                    created_at: seconds(&meta),
                    size: meta.len(),
                },
            )),
            Ok(_) => Err(BlobError::NotFound(object_named(container, name))),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Err(BlobError::NotFound(object_named(container, name)))
            }
            Err(e) => Err(backend(&object_named(container, name), &e)),
        }
    }

    /// Every object name of a container, sorted (a blocking walk).
    async fn names(&self, container: &str) -> Result<Vec<String>, BlobError> {
        let dir = self.container_dir(container);
        let what = container_named(container);
        tokio::task::spawn_blocking(move || walk(&dir, &what))
            .await
            .map_err(|e| BlobError::Backend(format!("listing stopped: {e}")))?
    }
}

/// How many segments `path` has below `base`.
fn path_depth(path: &Path, base: &Path) -> usize {
    path.strip_prefix(base)
        .map_or(0, |rest| rest.components().count())
}

/// The files under `dir`, as `/`-joined names relative to it, sorted;
/// symbolic links are skipped.
fn walk(dir: &Path, what: &str) -> Result<Vec<String>, BlobError> {
    if !dir.is_dir() {
        return Err(BlobError::NotFound(what.to_string()));
    }
    let mut names = Vec::new();
    let mut pending = vec![(dir.to_path_buf(), String::new())];
    while let Some((at, prefix)) = pending.pop() {
        let entries = std::fs::read_dir(&at).map_err(|e| backend(what, &e))?;
        for entry in entries {
            let entry = entry.map_err(|e| backend(what, &e))?;
            let kind = entry.file_type().map_err(|e| backend(what, &e))?;
            let Ok(file) = entry.file_name().into_string() else {
                continue; // Not UTF-8: not written through the blob store.
            };
            let name = format!("{prefix}{file}");
            if kind.is_dir() {
                pending.push((entry.path(), format!("{name}/")));
            } else if kind.is_file() {
                names.push(name);
            }
        }
    }
    names.sort();
    Ok(names)
}

impl BlobStore for FsStore {
    fn create_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            match tokio::fs::create_dir(self.container_dir(name)).await {
                Ok(()) => Ok(ContainerInfo {
                    name: name.to_string(),
                    created_at: now_seconds(),
                }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    Err(BlobError::Exists(container_named(name)))
                }
                Err(e) => Err(backend(&container_named(name), &e)),
            }
        })
    }

    fn container_info<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ContainerInfo> {
        Box::pin(async move {
            match tokio::fs::symlink_metadata(self.container_dir(name)).await {
                Ok(meta) if meta.is_dir() => Ok(ContainerInfo {
                    name: name.to_string(),
                    created_at: seconds(&meta),
                }),
                Ok(_) => Err(BlobError::NotFound(container_named(name))),
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    Err(BlobError::NotFound(container_named(name)))
                }
                Err(e) => Err(backend(&container_named(name), &e)),
            }
        })
    }

    fn delete_container<'a>(&'a self, name: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let dir = self.container_dir(name);
            match tokio::fs::symlink_metadata(&dir).await {
                Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(&dir)
                    .await
                    .map_err(|e| backend(&container_named(name), &e)),
                Ok(_) => Err(BlobError::Invalid(format!(
                    "{} is not a directory on the blob store's disk",
                    container_named(name)
                ))),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
                Err(e) => Err(backend(&container_named(name), &e)),
            }
        })
    }

    fn container_exists<'a>(&'a self, name: &'a str) -> BlobFuture<'a, bool> {
        Box::pin(async move {
            match self.container_info(name).await {
                Ok(_) => Ok(true),
                Err(BlobError::NotFound(_)) => Ok(false),
                Err(error) => Err(error),
            }
        })
    }

    fn list_objects<'a>(
        &'a self,
        container: &'a str,
        after: Option<&'a str>,
        limit: u32,
    ) -> BlobFuture<'a, ObjectPage> {
        Box::pin(async move {
            let names = self.names(container).await?;
            Ok(ObjectPage::after(names, after, limit))
        })
    }

    fn object_info<'a>(&'a self, container: &'a str, name: &'a str) -> BlobFuture<'a, ObjectInfo> {
        Box::pin(async move { self.file_info(container, name).await.map(|(_, info)| info) })
    }

    fn delete_objects<'a>(&'a self, container: &'a str, names: &'a [String]) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            for name in names {
                let path = self.object_path(container, name).await?;
                match tokio::fs::remove_file(&path).await {
                    Ok(()) => remove_empty_parents(&path, &self.container_dir(container)).await,
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(backend(&object_named(container, name), &e)),
                }
            }
            Ok(())
        })
    }

    fn clear<'a>(&'a self, container: &'a str) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            let names = self.names(container).await?;
            self.delete_objects(container, &names).await
        })
    }

    fn read<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
        start: u64,
        end: u64,
    ) -> BlobFuture<'a, ObjectRead> {
        Box::pin(async move {
            let (path, info) = self.file_info(container, name).await?;
            // Held open: a later overwrite (a rename) or delete leaves this
            // read as it was.
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| backend(&object_named(container, name), &e))?;
            let from = start.min(info.size);
            let to = end.saturating_add(1).min(info.size).max(from);
            file.seek(std::io::SeekFrom::Start(from))
                .await
                .map_err(|e| backend(&object_named(container, name), &e))?;
            let what = object_named(container, name);
            let chunks = tokio_util::io::ReaderStream::with_capacity(file.take(to - from), CHUNK)
                .map(move |chunk| chunk.map_err(|e| backend(&what, &e)));
            Ok(ObjectRead {
                size: to - from,
                chunks: Box::pin(chunks),
            })
        })
    }

    fn write<'a>(
        &'a self,
        container: &'a str,
        name: &'a str,
    ) -> BlobFuture<'a, Box<dyn ObjectWriter>> {
        Box::pin(async move {
            let target = self.object_path(container, name).await?;
            let what = object_named(container, name);
            let temporary = tempfile::Builder::new()
                .prefix("write-")
                .tempfile_in(self.root.join(TEMPORARY))
                .map_err(|e| backend(&what, &e))?;
            let file = temporary.reopen().map_err(|e| backend(&what, &e))?;
            Ok(Box::new(FsWrite {
                file: tokio::fs::File::from_std(file),
                temporary: temporary.into_temp_path(),
                target,
                container_dir: self.container_dir(container),
                info: ObjectInfo {
                    name: name.to_string(),
                    container: container.to_string(),
                    created_at: 0,
                    size: 0,
                },
            }) as Box<dyn ObjectWriter>)
        })
    }
}

/// Removes the directories an object's name made, once empty.
async fn remove_empty_parents(path: &Path, container_dir: &Path) {
    let mut at = path.parent();
    while let Some(dir) = at.filter(|dir| *dir != container_dir && dir.starts_with(container_dir)) {
        if tokio::fs::remove_dir(dir).await.is_err() {
            break; // Not empty, or gone: either way, done.
        }
        at = dir.parent();
    }
}

/// A write to a temporary file; removed on drop unless published.
struct FsWrite {
    file: tokio::fs::File,
    temporary: tempfile::TempPath,
    target: PathBuf,
    container_dir: PathBuf,
    info: ObjectInfo,
}

impl ObjectWriter for FsWrite {
    fn write(&mut self, chunk: Bytes) -> BlobFuture<'_, ()> {
        Box::pin(async move {
            self.file
                .write_all(&chunk)
                .await
                .map_err(|e| backend(&object_named(&self.info.container, &self.info.name), &e))?;
            self.info.size += chunk.len() as u64;
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BlobFuture<'static, ObjectInfo> {
        Box::pin(async move {
            let what = object_named(&self.info.container, &self.info.name);
            self.file.flush().await.map_err(|e| backend(&what, &e))?;
            self.file.sync_all().await.map_err(|e| backend(&what, &e))?;
            if tokio::fs::metadata(&self.container_dir).await.is_err() {
                return Err(BlobError::NotFound(container_named(&self.info.container)));
            }
            if let Some(parent) = self.target.parent() {
                tokio::fs::create_dir_all(parent)
                    .await
                    .map_err(|e| backend(&what, &e))?;
            }
            let FsWrite {
                temporary,
                target,
                mut info,
                ..
            } = *self;
            tokio::task::spawn_blocking(move || temporary.persist(&target))
                .await
                .map_err(|e| BlobError::Backend(format!("{what}: {e}")))?
                .map_err(|e| backend(&what, &e.error))?;
            info.created_at = now_seconds();
            Ok(info)
        })
    }
}

impl Backend for FsStore {
    fn usage<'a>(&'a self, container: &'a str) -> BlobFuture<'a, Usage> {
        Box::pin(async move {
            let names = self.names(container).await?;
            let mut usage = Usage::default();
            for name in &names {
                if let Ok((_, info)) = self.file_info(container, name).await {
                    usage.bytes += info.size;
                    usage.objects += 1;
                }
            }
            Ok(usage)
        })
    }
}

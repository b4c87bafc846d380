//! The compile cache: compiled components on disk, keyed by the sha256 of the
//! component's bytes and a hash of the engine's settings, so a restart or a
//! second start of the same actor does not recompile.
//!
//! Files are written to a temporary name and renamed, so a crash never leaves
//! a half-written entry. An entry wasmtime refuses (another wasmtime version,
//! other settings, a damaged file) is compiled again and overwritten.
//!
//! Loading an entry runs the machine code in it: the folder is created
//! private to the user (0700), and whoever can write it can run code as the
//! host. Point `cache_dir` only at a folder the host alone writes.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use super::load_error::ActorLoadError;

/// How a component came to be compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileOutcome {
    /// Taken from the cache: no compilation.
    CacheHit,
    /// Compiled now and written to the cache.
    Compiled,
    /// Compiled now; there is no cache, or writing to it failed.
    CompiledUncached,
    /// Already loaded on this host for another actor: shared, nothing read.
    Shared,
}

/// The on-disk cache of compiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    /// One lock per digest being loaded: starts of one new component at
    /// once compile it once, and the rest take it from the cache.
    loading: Arc<Mutex<HashMap<String, Weak<Mutex<()>>>>>,
}

/// The lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

impl CompileCache {
    /// A cache in `dir`, or no cache.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            loading: Arc::default(),
        }
    }

    /// The lock of loading `digest`.
    fn lock_of(&self, digest: &str) -> Arc<Mutex<()>> {
        let mut loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        loading.retain(|_, lock| lock.strong_count() > 0);
        if let Some(lock) = loading.get(digest).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(Mutex::new(()));
        loading.insert(digest.to_string(), Arc::downgrade(&lock));
        lock
    }

    /// The folder, if caching.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry_path(&self, engine: &Engine, digest: &str) -> Option<PathBuf> {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .as_ref()
            .map(|dir| dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish())))
    }

    /// The compiled form of `wasm`: from the cache when it holds it, else
    /// compiled and stored. `id` and `origin` name the actor in errors.
    pub fn load(
        &self,
        engine: &Engine,
        id: &str,
        origin: &str,
        wasm: &[u8],
    ) -> Result<(Component, CompileOutcome), ActorLoadError> {
        check_is_component(id, origin, wasm)?;
        let digest = sha256_hex(wasm);
        let entry = self.entry_path(engine, &digest);
        // Held until this load is done; called off the async workers.
        let lock = self.lock_of(&digest);
        let _loading = entry
            .is_some()
            .then(|| lock.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(entry) = entry.as_deref().filter(|e| e.is_file()) {
            match deserialize(engine, entry) {
                Ok(component) => {
                    tracing::debug!(actor = id, %digest, "compiled component taken from the cache");
                    return Ok((component, CompileOutcome::CacheHit));
                }
                Err(error) => {
                    tracing::info!(actor = id, entry = %entry.display(), error = %format!("{error:#}"), "cache entry unusable; compiling again");
                }
            }
        }
        let started = std::time::Instant::now();
        let component = Component::new(engine, wasm).map_err(|e| ActorLoadError::Compile {
            id: id.to_string(),
            origin: origin.to_string(),
            reason: format!("{e:#}").replace('\n', "; "),
        })?;
        tracing::info!(actor = id, %digest, elapsed_ms = started.elapsed().as_millis() as u64, "compiled component");
        let outcome = match entry {
            Some(entry) => match store(&component, &entry) {
                Ok(()) => CompileOutcome::Compiled,
                Err(error) => {
                    tracing::warn!(entry = %entry.display(), %error, "cannot write the compile cache; continuing without it");
                    CompileOutcome::CompiledUncached
                }
            },
            None => CompileOutcome::CompiledUncached,
        };
        Ok((component, outcome))
    }
}

/// Refuses what is not a component before wasmtime sees it, with a reason a
/// person can act on.
pub(crate) fn check_is_component(
    id: &str,
    origin: &str,
    wasm: &[u8],
) -> Result<(), ActorLoadError> {
    if wasmparser::Parser::is_component(wasm) {
        return Ok(());
    }
    let (id, origin) = (id.to_string(), origin.to_string());
    if wasmparser::Parser::is_core_wasm(wasm) {
        Err(ActorLoadError::CoreModule { id, origin })
    } else {
        Err(ActorLoadError::NotWasm { id, origin })
    }
}

#[expect(
    unsafe_code,
    reason = "loading precompiled code; see the module docs on who may write the cache"
)]
fn deserialize(engine: &Engine, entry: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the entry was written by `store` below from a component this
    // engine compiled, in a folder private to this user; wasmtime checks that
    // its header matches this engine's version and settings.
    unsafe { Component::deserialize_file(engine, entry) }
}

fn store(component: &Component, entry: &Path) -> std::io::Result<()> {
    let bytes = component.serialize().map_err(std::io::Error::other)?;
    let dir = entry.parent().unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut tmp = tempfile_in(dir)?;
    tmp.1.write_all(&bytes)?;
    tmp.1.sync_all()?;
    std::fs::rename(&tmp.0, entry)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn tempfile_in(dir: &Path) -> std::io::Result<(PathBuf, std::fs::File)> {
    let path = dir.join(format!(".tmp-{}-{:x}", std::process::id(), rand_suffix()));
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    Ok((path, file))
}

fn rand_suffix() -> u64 {
    let mut hasher = DefaultHasher::new();
    std::time::SystemTime::now().hash(&mut hasher);
    std::thread::current().id().hash(&mut hasher);
    hasher.finish()
}

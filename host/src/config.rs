//! The knobs of a host ([`HostConfig`]) and of one actor ([`ActorLimits`]).

use std::path::PathBuf;
use std::time::Duration;

use lattice_interfaces::ActorSpec;

/// What an actor reads through `wasi:config/store`: named config entries,
/// merged in order, then secrets by key (references this host resolves).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// Named config entries, in order; a later entry's key wins.
    pub config: Vec<lattice_interfaces::ComponentId>,
    /// Secret references by key (`file:/…`, `env:LATTICE_SECRET_…`).
    pub secrets: std::collections::BTreeMap<String, String>,
}

impl ConfigSources {
    /// What `spec` names.
    pub fn of(spec: &ActorSpec) -> Self {
        Self {
            config: spec.config.clone(),
            secrets: spec.secrets.clone(),
        }
    }
}

/// Limits of one actor, from its manifest entry or control request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActorLimits {
    /// Most instances running at once; further calls wait for a free one.
    pub max_instances: u32,
    /// Linear memory one instance may grow to, in bytes.
    pub memory_limit: usize,
    /// Deadline of one call, from its start to its last response byte.
    pub timeout: Duration,
    /// How long a call waits for a free instance before it fails as busy.
    pub queue_timeout: Duration,
    /// HTTP calls one instance may serve before it is dropped (its memory
    /// lives on between them); 1 is a fresh instance per call.
    pub instance_reuse: u32,
    /// 1: its component is linked (its code in memory) from the start; 0:
    /// it scales from zero, linked at its first call.
    pub min_instances: u32,
}

impl Default for ActorLimits {
    fn default() -> Self {
        Self {
            max_instances: 100,
            memory_limit: 64 << 20,
            timeout: Duration::from_secs(30),
            queue_timeout: Duration::from_secs(5),
            instance_reuse: 1,
            min_instances: 1,
        }
    }
}

impl ActorLimits {
    /// The defaults, overridden by what `spec` sets.
    pub fn from_spec(spec: &ActorSpec) -> Self {
        let mut limits = Self::default();
        if let Some(n) = spec.max_instances {
            limits.max_instances = n;
        }
        if let Some(mib) = spec.memory_limit_mib {
            limits.memory_limit = (mib as usize).saturating_mul(1 << 20);
        }
        if let Some(ms) = spec.timeout_ms {
            limits.timeout = Duration::from_millis(ms);
        }
        if let Some(n) = spec.instance_reuse {
            limits.instance_reuse = n.max(1);
        }
        if let Some(n) = spec.min_instances {
            limits.min_instances = n.min(1);
        }
        limits
    }
}

/// How the host's wasmtime engine is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Instances the pooling allocator reserves room for, across all actors.
    /// `0` turns pooling off (on-demand allocation, for small devices).
    pub pool_instances: u32,
    /// Largest memory limit any actor may ask for, in bytes. With pooling,
    /// every slot reserves this much address space (not memory).
    pub max_memory: usize,
    /// Folder of compiled components, keyed by the sha256 of the component
    /// and the engine's settings. `None` compiles on every start.
    pub cache_dir: Option<PathBuf>,
    /// How often the epoch advances; deadlines are enforced to this grain.
    pub epoch_tick: Duration,
    /// ONNX Runtime (`libonnxruntime.so`, 1.22 or later) for actors'
    /// `wasi:nn`; none: actors importing it are refused.
    pub onnxruntime: Option<PathBuf>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            pool_instances: 1000,
            max_memory: 4 << 30,
            cache_dir: default_cache_dir(),
            epoch_tick: Duration::from_millis(10),
            onnxruntime: None,
        }
    }
}

/// `$XDG_CACHE_HOME/lattice/compiled`, else `~/.cache/lattice/compiled`.
pub fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .map(|cache| cache.join("lattice").join("compiled"))
}

/// Everything a host is started with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// The wasmtime engine's settings.
    pub runtime: RuntimeConfig,
    /// Which actors the host will run.
    pub trust: crate::trust::TrustPolicy,
    /// The host's key; its public key is the host id.
    pub identity: crate::identity::HostIdentity,
    /// How registries are reached (credentials, plain HTTP, CA files).
    pub registries: lattice_oci::RegistryOptions,
    /// Labels beyond hostname, os and arch, which every host has.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Directories actors' `file:` secrets may be read from (none: no
    /// secret files).
    pub secret_dirs: Vec<std::path::PathBuf>,
    /// Bytes that calls crossing the lattice may hold at once (request
    /// bodies read whole, arguments as component values); `None`:
    /// [`crate::budget::DEFAULT_PAYLOAD_BUDGET`].
    pub payload_budget: Option<usize>,
    /// Whether actors' HTTP client links that set no `allowed_hosts` may
    /// reach anywhere (`--egress allow`) or nowhere (the default): the
    /// `egress` setting of the built-in `http-client` providers this host
    /// runs, unless a provider sets its own.
    pub egress_allow: bool,
    /// A PEM bundle of CA roots the built-in `http-client` providers
    /// this host runs trust for every link, besides the system's
    /// (`--http-ca-file`), unless a provider sets its own `ca_file`.
    pub http_ca_file: Option<std::path::PathBuf>,
}

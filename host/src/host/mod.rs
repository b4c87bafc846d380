//! The host: the actors, providers and links of one process.
//!
//! - this module: the host itself, its labels, applying a manifest,
//!   calls and shutdown;
//! - `actors`: starting, scaling, updating and stopping actors;
//! - `links`: checking, holding and delivering links;
//! - `providers`: the built-in provider kinds (one registration table),
//!   starting and stopping providers in this process and as processes;
//! - `calls`: how actors and providers here call anything, through the
//!   router;
//! - `inbound`: serving calls that arrive from other hosts and provider
//!   processes.
//!
//! Calls are denied by default: every call travels over a link this host
//! holds, checked on every call.

mod actors;
pub(crate) mod binaries;
mod calls;
mod inbound;
mod links;
mod providers;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use lattice_interfaces::http::Endpoint;
use lattice_interfaces::{ComponentId, InvocationError, Manifest};

use crate::artifacts::Artifacts;
use crate::config::HostConfig;
use crate::identity::HostIdentity;
use crate::router::{Local, RemoteCalls, Router, RoutingStats};
use crate::runtime::{Actor, ActorLoadError, Runtime};
use crate::trust::TrustPolicy;
use providers::{Running, RunningProvider};

/// Why the host refused an operation. One line that names the item.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The wasm runtime could not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// An actor could not be loaded.
    #[error(transparent)]
    ActorLoad(#[from] ActorLoadError),
    /// The registry client cannot be set up.
    #[error(transparent)]
    Artifacts(#[from] crate::artifacts::ArtifactsError),
    /// The id is taken on this host.
    #[error("{kind} \"{id}\" already runs on this host")]
    AlreadyRunning {
        /// `actor` or `provider`.
        kind: &'static str,
        /// The id.
        id: ComponentId,
    },
    /// The operation conflicts with what runs.
    #[error("actor \"{id}\" {reason}")]
    Conflict {
        /// The id.
        id: ComponentId,
        /// What conflicts.
        reason: String,
    },
    /// No such actor on this host.
    #[error("no actor \"{id}\" runs on this host")]
    NoSuchActor {
        /// The id.
        id: ComponentId,
    },
    /// A link was refused.
    #[error("link {link}: {reason}")]
    LinkRefused {
        /// The link, displayed.
        link: String,
        /// Why.
        reason: String,
    },
    /// A provider could not start.
    #[error("provider \"{id}\": {reason}")]
    Provider {
        /// The provider's id.
        id: ComponentId,
        /// Why.
        reason: String,
    },
}

/// The labels every host has: hostname, OS and architecture.
fn default_labels() -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    if let Ok(name) = hostname::get() {
        labels.insert("hostname".to_string(), name.to_string_lossy().into_owned());
    }
    labels.insert("os".to_string(), std::env::consts::OS.to_string());
    labels.insert("arch".to_string(), std::env::consts::ARCH.to_string());
    labels
}

/// A verified provider binary, copied where only this host writes.
#[derive(Debug, Clone)]
pub(crate) struct InstalledBinary {
    /// The file's path, or the registry reference pinned to its digest.
    pub(crate) origin: String,
    /// The copy to run.
    pub(crate) path: std::path::PathBuf,
    /// Its sha256, checked again before every start.
    pub(crate) sha256: String,
    /// The claims that vouched for it; `None` when run unsigned.
    pub(crate) claims: Option<lattice_interfaces::claims::ProviderClaims>,
}

struct HostInner {
    identity: HostIdentity,
    router: Router,
    components_changed: tokio::sync::watch::Sender<u64>,
    labels: RwLock<BTreeMap<String, String>>,
    started_at: SystemTime,
    runtime: Runtime,
    trust: TrustPolicy,
    artifacts: Artifacts,
    actors: RwLock<HashMap<ComponentId, Arc<Actor>>>,
    providers: RwLock<HashMap<ComponentId, RunningProvider>>,
    binaries: binaries::ProviderBinaries,
    /// Named config its actors read (`wasi:config/store`).
    named_config: Arc<crate::runtime::NamedConfig>,
    /// Where actors' `file:` secrets may be read from.
    secret_dirs: Vec<std::path::PathBuf>,
    /// The built-in http-client providers' egress default (`--egress`).
    egress_allow: bool,
    /// The built-in http-client providers' CA bundle (`--http-ca-file`).
    http_ca_file: Option<std::path::PathBuf>,
    /// What calls crossing the lattice may hold in memory at once.
    payload_budget: crate::budget::PayloadBudget,
    /// Held while a link from the lattice is stored and delivered, so that
    /// whoever returns from applying a link (the KV watcher or the writer
    /// echoing its own put) finds it served, not merely stored.
    applying_link: Mutex<()>,
}

impl HostInner {
    /// What runs on this host under `id` and can be called in-process.
    fn local(&self, id: &ComponentId) -> Option<Local> {
        if let Some(actor) = read(&self.actors).get(id) {
            return Some(Local::Actor(actor.clone()));
        }
        read(&self.providers)
            .get(id)
            .and_then(RunningProvider::in_process)
            .map(|capability| Local::Provider(capability.clone()))
    }

    /// Whether [`Self::local`] finds `id`, without taking a handle on it.
    fn runs(&self, id: &ComponentId) -> bool {
        read(&self.actors).contains_key(id)
            || read(&self.providers)
                .get(id)
                .is_some_and(|p| p.in_process().is_some())
    }

    fn changed(&self) {
        self.components_changed.send_modify(|n| *n += 1);
    }
}

/// A Lattice host. Cheap to clone; clones share the host.
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// How an actor scales, beside its instance limit: each unset keeps what
/// a running actor has (a new one: a fresh instance per call, linked at
/// its start).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scaling {
    /// HTTP calls one instance may serve (at least 1).
    pub instance_reuse: Option<u32>,
    /// 0: scale from zero (linked at the first call); 1: linked now.
    pub min_instances: Option<u32>,
    /// Models a new actor loads by name through `wasi:nn`.
    pub models: std::collections::BTreeMap<String, String>,
}

impl Host {
    /// Starts a host: builds its wasm runtime. It runs nothing until told.
    ///
    /// # Errors
    ///
    /// When the wasm runtime cannot start.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let runtime = Runtime::new(&config.runtime)?;
        let artifacts = Artifacts::new(
            config.trust.references.clone(),
            config.registries.clone(),
            config
                .runtime
                .cache_dir
                .as_ref()
                .map(|dir| dir.join("artifacts"))
                .as_deref(),
        )?;
        let identity = config.identity.clone();
        let mut labels = default_labels();
        if runtime.serves_nn() {
            // What inference this host offers, for placement constraints.
            labels.insert("nn.onnx".to_string(), "cpu".to_string());
        }
        labels.extend(config.labels.clone());
        tracing::info!(host_id = %identity.host_id(), allocator = ?runtime.allocator(), cache = ?runtime.cache().dir(), "host started");
        let host = Self {
            inner: Arc::new(HostInner {
                identity,
                router: Router::default(),
                components_changed: tokio::sync::watch::Sender::new(0),
                labels: RwLock::new(labels),
                started_at: SystemTime::now(),
                runtime,
                trust: config.trust,
                artifacts,
                actors: RwLock::new(HashMap::new()),
                providers: RwLock::new(HashMap::new()),
                applying_link: Mutex::new(()),
                named_config: Arc::default(),
                secret_dirs: config.secret_dirs.clone(),
                egress_allow: config.egress_allow,
                http_ca_file: config.http_ca_file.clone(),
                payload_budget: crate::budget::PayloadBudget::new(
                    config
                        .payload_budget
                        .unwrap_or(crate::budget::DEFAULT_PAYLOAD_BUDGET),
                ),
                binaries: binaries::ProviderBinaries::default(),
            }),
        };
        host.inner
            .runtime
            .set_calls(Arc::new(calls::HostActorCalls::new(&host.inner)));
        Ok(host)
    }

    /// The host's id: its server public key (`N…`).
    pub fn id(&self) -> &lattice_interfaces::HostId {
        self.inner.identity.host_id()
    }

    /// The host's identity.
    pub fn identity(&self) -> &HostIdentity {
        &self.inner.identity
    }

    /// The host's labels now.
    pub fn labels(&self) -> BTreeMap<String, String> {
        read(&self.inner.labels).clone()
    }

    /// Sets label `key` to `value`.
    pub(crate) fn put_label(&self, key: &str, value: &str) {
        write(&self.inner.labels).insert(key.to_string(), value.to_string());
    }

    /// Removes label `key`; returns whether it was set.
    pub(crate) fn delete_label(&self, key: &str) -> bool {
        write(&self.inner.labels).remove(key).is_some()
    }

    /// When the host started.
    pub(crate) fn started_at(&self) -> SystemTime {
        self.inner.started_at
    }

    /// The actors it runs, sorted by id.
    pub fn actors(&self) -> Vec<Arc<Actor>> {
        let mut actors: Vec<Arc<Actor>> = read(&self.inner.actors).values().cloned().collect();
        actors.sort_by(|a, b| a.id().cmp(b.id()));
        actors
    }

    /// Ids and references (a built-in kind or a binary) of the providers it
    /// runs, sorted.
    pub fn providers(&self) -> Vec<(ComponentId, String)> {
        let mut providers: Vec<(ComponentId, String)> = read(&self.inner.providers)
            .iter()
            .map(|(id, p)| (id.clone(), p.reference.clone()))
            .collect();
        providers.sort();
        providers
    }

    /// The actor `id`, if it runs here.
    pub fn actor(&self, id: &ComponentId) -> Option<Arc<Actor>> {
        read(&self.inner.actors).get(id).cloned()
    }

    /// Sends calls to targets not on this host through `remote` (the
    /// lattice), or, with `None`, refuses them.
    pub(crate) fn set_remote(&self, remote: Option<Arc<dyn RemoteCalls>>) {
        self.inner.router.set_remote(remote);
    }

    /// How calls to each target were routed.
    pub fn routing(&self) -> &RoutingStats {
        self.inner.router.stats()
    }

    /// A receiver that changes whenever an actor starts, stops or is
    /// replaced, or an in-process provider starts or stops.
    pub(crate) fn components_changed(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.components_changed.subscribe()
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Starts everything `manifest` declares: actors, then providers, then
    /// links. Stops at the first error and returns it.
    ///
    /// # Errors
    ///
    /// The first actor, provider or link refused.
    pub async fn apply(&self, manifest: &Manifest) -> Result<(), HostError> {
        for (name, values) in &manifest.config {
            self.inner.named_config.put(name.clone(), values.clone());
        }
        for actor in &manifest.actors {
            self.start_actor(actor).await?;
        }
        for provider in &manifest.providers {
            self.start_provider(provider)?;
        }
        for link in &manifest.links {
            self.put_link(link.clone())?;
        }
        Ok(())
    }

    /// What calls crossing the lattice may hold in memory at once.
    pub fn payload_budget(&self) -> &crate::budget::PayloadBudget {
        &self.inner.payload_budget
    }

    /// The named config this host's actors read; the lattice keeps it in
    /// step with the lattice's bucket.
    pub fn named_config(&self) -> &Arc<crate::runtime::NamedConfig> {
        &self.inner.named_config
    }

    fn check_free(&self, id: &ComponentId, kind: &'static str) -> Result<(), HostError> {
        if read(&self.inner.actors).contains_key(id) || read(&self.inner.providers).contains_key(id)
        {
            return Err(HostError::AlreadyRunning {
                kind,
                id: id.clone(),
            });
        }
        Ok(())
    }

    /// Calls `function` of `interface` (`ns:pkg/iface`) as actor `source`
    /// would: over `source`'s link for it, in-process when the target runs
    /// here, through the lattice otherwise.
    ///
    /// # Errors
    ///
    /// No link, no target, or the target's own failure.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the call.
    pub async fn call(
        &self,
        source: &ComponentId,
        interface: &str,
        function: &str,
        params: Vec<wasmtime::component::Val>,
    ) -> Result<Vec<wasmtime::component::Val>, InvocationError> {
        let calls = calls::HostActorCalls::new(&self.inner);
        crate::runtime::ActorCalls::call(
            &calls,
            source.clone(),
            crate::links::DEFAULT_NAME.to_string(),
            interface.to_string(),
            function.to_string(),
            params,
        )
        .await
    }

    /// Where every HTTP server provider serves which link.
    pub fn http_endpoints(&self) -> Vec<Endpoint> {
        read(&self.inner.providers)
            .values()
            .filter_map(RunningProvider::in_process)
            .flat_map(|capability| capability.endpoints())
            .collect()
    }

    /// Stops the host: providers stop accepting and drain in-flight requests
    /// for up to `grace`; then actors are dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave connections draining in the background.
    pub async fn shutdown(&self, grace: Duration) {
        let running: Vec<RunningProvider> = write(&self.inner.providers)
            .drain()
            .map(|(_, provider)| provider)
            .collect();
        for provider in running {
            match provider.running {
                Running::InProcess(capability) => capability.shutdown(grace).await,
                Running::Process { stop } => stop.cancel(),
            }
        }
        write(&self.inner.actors).clear();
        tracing::info!("host stopped");
    }
}

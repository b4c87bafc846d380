//! The host: the actors, providers and links of one process.
//!
//! - this module: starting and stopping actors and providers, putting and
//!   deleting links, labels;
//! - `providers`: the built-in provider kinds (one registration table)
//!   and provider processes;
//! - `calls`: how actors and providers here call anything, through the
//!   router;
//! - `inbound`: serving calls that arrive from other hosts and provider
//!   processes.
//!
//! Calls are denied by default: every call travels over a link this host
//! holds, checked on every call.

pub(crate) mod binaries;
mod calls;
mod inbound;
mod providers;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use lattice_interfaces::capability::ProviderContext;
use lattice_interfaces::claims::ClaimsError;
use lattice_interfaces::http::Endpoint;
use lattice_interfaces::{
    standard, ActorSpec, ComponentId, Interface, InvocationError, Link, LinkKey, Manifest,
    ProviderSpec,
};
use tokio_util::sync::CancellationToken;

use crate::artifacts::{Artifacts, FetchError};
use crate::config::{ActorLimits, HostConfig};
use crate::identity::HostIdentity;
use crate::references::ReferenceError;
use crate::router::{Local, RemoteCalls, Router, RoutingStats};
use crate::runtime::{Actor, ActorLoadError, Runtime};
use crate::trust::{TrustError, TrustPolicy};
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scaling {
    /// HTTP calls one instance may serve (at least 1).
    pub instance_reuse: Option<u32>,
    /// 0: scale from zero (linked at the first call); 1: linked now.
    pub min_instances: Option<u32>,
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
    pub fn id(&self) -> &str {
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

    /// Loads and starts the actor `spec` describes.
    ///
    /// # Errors
    ///
    /// The id is taken, or the component cannot be read, verified or
    /// compiled.
    #[tracing::instrument(skip_all, fields(actor = %spec.id))]
    pub async fn start_actor(&self, spec: &ActorSpec) -> Result<Arc<Actor>, HostError> {
        self.check_free(&spec.id, "actor")?;
        let config = self.actor_config(&spec.id, crate::config::ConfigSources::of(spec))?;
        let fetched = self.fetch_component(&spec.id, &spec.reference).await?;
        self.start_loaded(
            spec.id.clone(),
            &fetched.origin,
            fetched.bytes,
            ActorLimits::from_spec(spec),
            config,
        )
        .await
    }

    /// What actor `id` reads through `wasi:config/store` when it reads
    /// `sources`: every named entry must exist here, every secret resolve
    /// under this host's policy.
    fn actor_config(
        &self,
        id: &ComponentId,
        sources: crate::config::ConfigSources,
    ) -> Result<Arc<crate::runtime::ActorConfig>, HostError> {
        if let Some(name) = self.inner.named_config.missing(&sources.config) {
            return Err(HostError::ActorLoad(ActorLoadError::MissingConfig {
                id: id.to_string(),
                name: name.to_string(),
            }));
        }
        let secrets = crate::secrets::resolve(&self.inner.secret_dirs, &sources.secrets).map_err(
            |reason| {
                HostError::ActorLoad(ActorLoadError::Reference {
                    id: id.to_string(),
                    reason,
                })
            },
        )?;
        Ok(Arc::new(crate::runtime::ActorConfig::new(
            sources,
            secrets,
            Arc::clone(&self.inner.named_config),
        )))
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

    /// Starts an actor from component bytes already in memory; `origin`
    /// names where they came from in errors.
    ///
    /// # Errors
    ///
    /// As [`Self::start_actor`].
    pub async fn start_actor_from_bytes(
        &self,
        id: ComponentId,
        origin: &str,
        wasm: Vec<u8>,
        limits: ActorLimits,
    ) -> Result<Arc<Actor>, HostError> {
        self.start_loaded(
            id,
            origin,
            wasm,
            limits,
            Arc::new(crate::runtime::ActorConfig::none()),
        )
        .await
    }

    async fn start_loaded(
        &self,
        id: ComponentId,
        origin: &str,
        wasm: Vec<u8>,
        limits: ActorLimits,
        config: Arc<crate::runtime::ActorConfig>,
    ) -> Result<Arc<Actor>, HostError> {
        self.check_free(&id, "actor")?;
        let actor = Arc::new(
            self.load_actor(id.clone(), origin, wasm, limits)
                .await?
                .with_config(config),
        );
        {
            let mut actors = write(&self.inner.actors);
            if actors.contains_key(&id) {
                return Err(HostError::AlreadyRunning { kind: "actor", id });
            }
            actors.insert(id.clone(), actor.clone());
        }
        self.inner.changed();
        tracing::info!(actor = %id, origin, compile = ?actor.compile_outcome(), "actor started");
        Ok(actor)
    }

    /// The component `reference` names, for actor `id`.
    async fn fetch_component(
        &self,
        id: &ComponentId,
        reference: &str,
    ) -> Result<crate::artifacts::Fetched, HostError> {
        self.inner
            .artifacts
            .component(reference)
            .await
            .map_err(|error| {
                HostError::ActorLoad(match error {
                    FetchError::File(ReferenceError::Unreadable { path, reason }) => {
                        ActorLoadError::Read {
                            id: id.to_string(),
                            origin: path,
                            reason,
                        }
                    }
                    refused => ActorLoadError::Reference {
                        id: id.to_string(),
                        reason: refused.to_string(),
                    },
                })
            })
    }

    /// How many blobs this host has downloaded from registries.
    pub fn registry_downloads(&self) -> u64 {
        self.inner.artifacts.downloads()
    }

    /// The artifacts this host fetched lately, by origin (see
    /// [`Artifacts::held`]).
    pub fn artifacts_held(&self) -> Vec<String> {
        self.inner.artifacts.held()
    }

    /// Verifies and compiles an actor without running it.
    async fn load_actor(
        &self,
        id: ComponentId,
        origin: &str,
        wasm: Vec<u8>,
        limits: ActorLimits,
    ) -> Result<Actor, HostError> {
        let runtime = self.inner.runtime.clone();
        let trust = self.inner.trust.clone();
        let (load_id, load_origin) = (id.clone(), origin.to_string());
        // Verifying and compiling are CPU-bound: keep them off the async workers.
        let actor = tokio::task::spawn_blocking(move || {
            // Nothing is compiled before its claims are checked; what is
            // not a component at all is refused as such first.
            crate::runtime::check_is_component(load_id.as_str(), &load_origin, &wasm)?;
            let claims = trust.verify(&wasm, None).map_err(|e| match e {
                TrustError::Claims(ClaimsError::Unparsable(reason)) => ActorLoadError::Compile {
                    id: load_id.to_string(),
                    origin: load_origin.clone(),
                    reason: format!("the module does not parse: {reason}"),
                },
                refusal => ActorLoadError::Refused {
                    id: load_id.to_string(),
                    origin: load_origin.clone(),
                    reason: refusal.to_string(),
                },
            })?;
            Actor::load(&runtime, load_id, &load_origin, &wasm, limits, claims)
        })
        .await
        .map_err(|e| ActorLoadError::Compile {
            id: id.to_string(),
            origin: origin.to_string(),
            reason: e.to_string(),
        })??;
        Ok(actor)
    }

    /// Stops actor `id`: new calls find no target; calls in flight finish.
    ///
    /// # Errors
    ///
    /// When no such actor runs here.
    pub fn stop_actor(&self, id: &ComponentId) -> Result<(), HostError> {
        write(&self.inner.actors)
            .remove(id)
            .ok_or_else(|| HostError::NoSuchActor { id: id.clone() })?;
        self.inner.changed();
        tracing::info!(actor = %id, "actor stopped");
        Ok(())
    }

    /// Runs actor `id` from `reference` with at most `max_instances`
    /// instances (and, when given, `scaling`'s settings): starts it,
    /// changes its scale, or with 0 stops it. `sources`, when
    /// given, is what it reads through `wasi:config/store` (a running
    /// actor's next instances read the new set; unset keeps it). An id that
    /// runs another component is refused: that is an update.
    pub async fn scale_actor(
        &self,
        id: &ComponentId,
        reference: &str,
        max_instances: u32,
        scaling: Scaling,
        sources: Option<&crate::config::ConfigSources>,
    ) -> Result<(), HostError> {
        let Scaling {
            instance_reuse,
            min_instances,
        } = scaling;
        let running = self.actor(id);
        if max_instances == 0 {
            return self.stop_actor(id);
        }
        if instance_reuse == Some(0) {
            return Err(HostError::Conflict {
                id: id.clone(),
                reason: "instance_reuse must be at least 1 (1: a fresh instance per call)".into(),
            });
        }
        if let Some(reason) =
            min_instances.and_then(lattice_interfaces::manifest::min_instances_refusal)
        {
            return Err(HostError::Conflict {
                id: id.clone(),
                reason,
            });
        }
        let spec = ActorSpec {
            id: id.clone(),
            reference: reference.into(),
            max_instances: Some(max_instances),
            memory_limit_mib: None,
            timeout_ms: None,
            instance_reuse,
            min_instances,
            config: sources.map(|s| s.config.clone()).unwrap_or_default(),
            secrets: sources.map(|s| s.secrets.clone()).unwrap_or_default(),
            placement: None,
        };
        match running {
            None => self.start_actor(&spec).await.map(drop),
            Some(actor) if !crate::artifacts::runs(actor.origin(), reference) => {
                Err(HostError::Conflict {
                    id: id.clone(),
                    reason: format!(
                        "runs {} on this host, not {}; use update to change its component",
                        actor.origin(),
                        lattice_interfaces::shown(reference)
                    ),
                })
            }
            Some(actor) => {
                let limits = ActorLimits {
                    max_instances,
                    instance_reuse: instance_reuse.unwrap_or(actor.limits().instance_reuse),
                    min_instances: min_instances.unwrap_or(actor.limits().min_instances),
                    ..actor.limits()
                };
                let config = match sources {
                    Some(sources) if sources != actor.config().sources() => {
                        Some(self.actor_config(id, sources.clone())?)
                    }
                    _ => None,
                };
                if limits == actor.limits() && config.is_none() {
                    return Ok(());
                }
                let mut rescaled = actor.rescaled(limits).map_err(HostError::from)?;
                if limits.min_instances > 0 && !rescaled.is_linked() {
                    // No longer from zero: linked now, as at a start.
                    rescaled.link().await.map_err(|e| HostError::Conflict {
                        id: id.clone(),
                        reason: e.message,
                    })?;
                }
                if let Some(config) = config {
                    rescaled = rescaled.with_config(config);
                    tracing::info!(actor = %id, "actor reads new config");
                }
                write(&self.inner.actors).insert(id.clone(), Arc::new(rescaled));
                self.inner.changed();
                tracing::info!(actor = %id, max_instances, "actor scaled");
                Ok(())
            }
        }
    }

    /// Replaces the component of running actor `id` with `reference`. Calls
    /// in flight finish on the old component; new calls get the new one.
    ///
    /// # Errors
    ///
    /// No such actor, or the new component is refused.
    pub async fn update_actor(&self, id: &ComponentId, reference: &str) -> Result<(), HostError> {
        let actor = self
            .actor(id)
            .ok_or_else(|| HostError::NoSuchActor { id: id.clone() })?;
        self.replace_actor(id, reference, actor.limits()).await
    }

    async fn replace_actor(
        &self,
        id: &ComponentId,
        reference: &str,
        limits: ActorLimits,
    ) -> Result<(), HostError> {
        let fetched = self.fetch_component(id, reference).await?;
        let mut actor = self
            .load_actor(id.clone(), &fetched.origin, fetched.bytes, limits)
            .await?;
        // The new component reads the config the old one read.
        if let Some(running) = self.actor(id) {
            actor = actor.with_config(Arc::clone(running.config()));
        }
        let actor = Arc::new(actor);
        write(&self.inner.actors).insert(id.clone(), actor);
        self.inner.changed();
        tracing::info!(actor = %id, origin = %fetched.origin, "actor replaced");
        Ok(())
    }

    /// Starts a provider of a built-in kind in this process.
    ///
    /// # Errors
    ///
    /// The id is taken or the kind is unknown.
    pub fn start_provider(&self, spec: &ProviderSpec) -> Result<(), HostError> {
        self.check_free(&spec.id, "provider")?;
        let built_in = providers::built_in(&spec.kind).ok_or_else(|| HostError::Provider {
            id: spec.id.clone(),
            reason: format!(
                "unknown kind \"{}\" (built-in kinds: {})",
                lattice_interfaces::shown(&spec.kind),
                providers::kinds()
            ),
        })?;
        let capability = (built_in.build)(ProviderContext {
            id: spec.id.clone(),
            config: spec.config.clone(),
            calls: Arc::new(calls::HostProviderCalls::new(&self.inner, spec.id.clone())),
        });
        // Links stored before the provider started are delivered now.
        let pending: Vec<Link> = self
            .inner
            .router
            .links()
            .involving(&spec.id)
            .cloned()
            .collect();
        for link in pending {
            if let Err(error) = capability.put_link(&link) {
                tracing::warn!(provider = %spec.id, %error, "cannot serve a stored link");
            }
        }
        write(&self.inner.providers).insert(
            spec.id.clone(),
            RunningProvider {
                reference: built_in.kind.to_string(),
                running: Running::InProcess(capability),
            },
        );
        self.inner.changed();
        tracing::info!(provider = %spec.id, kind = %spec.kind, "provider started");
        Ok(())
    }

    /// Checks provider binary `reference` against the trust policy, keeps
    /// a private copy of the bytes checked, and records provider process
    /// `id` (supervised until `stop` is cancelled) as running on this host.
    /// Returns what to run: the copy, its hash, and the claims.
    pub(crate) async fn add_provider_process(
        &self,
        id: &ComponentId,
        reference: &str,
        stop: CancellationToken,
    ) -> Result<InstalledBinary, HostError> {
        self.check_free(id, "provider")?;
        let refused = |reason: String| HostError::Provider {
            id: id.clone(),
            reason: format!("{} refused: {reason}", lattice_interfaces::shown(reference)),
        };
        let fetched = self
            .inner
            .artifacts
            .provider(reference)
            .await
            .map_err(|e| refused(e.to_string()))?;
        // Deny by default: a provider binary runs only with valid claims.
        let verified = self
            .inner
            .trust
            .verify_provider(
                fetched.bytes,
                fetched.claims.as_deref(),
                &fetched.claims_source,
            )
            .map_err(|e| refused(e.to_string()))?;
        self.check_free(id, "provider")?;
        let path = self
            .inner
            .binaries
            .install(&verified)
            .map_err(|e| HostError::Provider {
                id: id.clone(),
                reason: format!(
                    "cannot keep a copy of {}: {e}",
                    lattice_interfaces::shown(reference)
                ),
            })?;
        write(&self.inner.providers).insert(
            id.clone(),
            RunningProvider {
                reference: fetched.origin.clone(),
                running: Running::Process { stop },
            },
        );
        Ok(InstalledBinary {
            origin: fetched.origin,
            path,
            sha256: verified.sha256,
            claims: verified.claims,
        })
    }

    /// Stops provider `id`, draining its in-flight requests for up to
    /// `grace`; returns what it ran.
    ///
    /// # Errors
    ///
    /// When no such provider runs here.
    pub async fn stop_provider(
        &self,
        id: &ComponentId,
        grace: Duration,
    ) -> Result<String, HostError> {
        let provider =
            write(&self.inner.providers)
                .remove(id)
                .ok_or_else(|| HostError::Provider {
                    id: id.clone(),
                    reason: "does not run on this host".into(),
                })?;
        match &provider.running {
            Running::InProcess(capability) => capability.shutdown(grace).await,
            Running::Process { stop } => stop.cancel(),
        }
        self.inner.changed();
        tracing::info!(provider = %id, "provider stopped");
        Ok(provider.reference)
    }

    /// The ids of the providers in this process: callable from elsewhere in
    /// the lattice over their links.
    pub(crate) fn in_process_providers(&self) -> Vec<ComponentId> {
        read(&self.inner.providers)
            .iter()
            .filter(|(_, p)| p.in_process().is_some())
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Hands `link` to the in-process providers at either end of it.
    fn deliver_link(&self, link: &Link) -> Result<(), String> {
        let providers = read(&self.inner.providers);
        for end in [&link.source, &link.target] {
            if let Some(capability) = providers.get(end).and_then(RunningProvider::in_process) {
                capability.put_link(link)?;
            }
        }
        Ok(())
    }

    /// Takes `link` back from the in-process providers at either end of it.
    fn withdraw_link(&self, link: &Link) {
        let providers = read(&self.inner.providers);
        for end in [&link.source, &link.target] {
            if let Some(capability) = providers.get(end).and_then(RunningProvider::in_process) {
                capability.delete_link(link);
            }
        }
    }

    fn applying_link(&self) -> std::sync::MutexGuard<'_, ()> {
        self.inner
            .applying_link
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Stores a link the lattice agreed on (its KV bucket checked the key),
    /// and serves it when its source is a provider here. Unlike
    /// [`Self::put_link`], the ends need not run here: they may start later.
    /// A provider handed a link replaces what it served under the link's key.
    pub(crate) fn apply_lattice_link(&self, link: Link) {
        let _applying = self.applying_link();
        {
            let mut links = self.inner.router.links_mut();
            if links.get(&link.key()) == Some(&link) {
                return; // already applied (our own write, echoed by the bucket)
            }
            links.delete(&link.key());
            if let Err(clash) = links.put(link.clone()) {
                tracing::warn!(%clash, "link from the lattice clashes locally");
                return;
            }
        }
        if let Err(error) = self.deliver_link(&link) {
            tracing::warn!(%link, %error, "cannot serve link");
        }
        tracing::debug!(%link, "link applied from the lattice");
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

    /// Refuses a link to an interface with resources when its target runs
    /// here: resources cannot cross hosts, and any call may.
    pub(crate) fn check_link_contract(&self, link: &Link) -> Result<(), HostError> {
        if let Some(actor) = self.actor(&link.target) {
            for interface in &link.interfaces {
                let name = format!("{}:{}/{interface}", link.namespace, link.package);
                // HTTP crosses hosts as HTTP messages, not as component values.
                if name != standard::HTTP_INCOMING_HANDLER.to_string()
                    && actor.exports_resources(&name)
                {
                    return Err(HostError::LinkRefused {
                        link: link.to_string(),
                        reason: format!(
                            "{name} of actor \"{}\" has resource types, which cannot cross hosts; link only interfaces without resources",
                            link.target
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Checks that both ends of `link` run here, that a provider target
    /// serves every interface the link carries, that an HTTP target exports
    /// the handler, and that the interface has no resources.
    ///
    /// # Errors
    ///
    /// One line naming the link and what is wrong.
    pub fn check_link(&self, link: &Link) -> Result<(), HostError> {
        self.check_link_contract(link)?;
        let refuse = |reason: String| HostError::LinkRefused {
            link: link.to_string(),
            reason,
        };
        for (end, id) in [("source", &link.source), ("target", &link.target)] {
            if !read(&self.inner.actors).contains_key(id)
                && !read(&self.inner.providers).contains_key(id)
            {
                return Err(refuse(format!(
                    "{end} \"{id}\" is neither an actor nor a provider on this host"
                )));
            }
        }
        if let Some(provider) = read(&self.inner.providers).get(&link.target) {
            if let Some(capability) = provider.in_process() {
                for name in &link.interfaces {
                    let interface = Interface::new(&link.namespace, &link.package, name);
                    if !capability.serves(interface) {
                        return Err(refuse(format!(
                            "target \"{}\" is a {} provider, which does not serve {interface}",
                            link.target, provider.reference
                        )));
                    }
                }
            }
        }
        match self.actor(&link.target) {
            // An actor target must export every interface the link carries
            // (a messaging handler link needs `wasmcloud:messaging/handler`).
            Some(actor) => {
                for name in &link.interfaces {
                    let interface = Interface::new(&link.namespace, &link.package, name);
                    if !actor.serves(&interface.to_string()) {
                        return Err(refuse(format!(
                            "actor \"{}\" does not export {interface}, which this link needs",
                            link.target
                        )));
                    }
                }
            }
            None if link.carries(standard::HTTP_INCOMING_HANDLER) => {
                return Err(refuse(format!(
                    "target \"{}\" is not an actor",
                    link.target
                )))
            }
            None => {}
        }
        Ok(())
    }

    /// Puts a link: checks that both ends run here and that the target can
    /// serve the contract, stores it, and hands it to the provider at either
    /// end. A link that fails any step is not stored.
    ///
    /// # Errors
    ///
    /// One line naming the link and why it was refused.
    pub fn put_link(&self, link: Link) -> Result<(), HostError> {
        self.check_link(&link)?;
        let refuse = |reason: String| HostError::LinkRefused {
            link: link.to_string(),
            reason,
        };
        let replaced = self
            .inner
            .router
            .links_mut()
            .put(link.clone())
            .map_err(|clash| refuse(clash.to_string()))?;
        if let Err(error) = self.deliver_link(&link) {
            // Undo: the table holds only links that are served.
            let mut links = self.inner.router.links_mut();
            links.delete(&link.key());
            if let Some(previous) = replaced {
                let _ = links.put(previous);
            }
            return Err(refuse(error.replacen(&format!("link {link}: "), "", 1)));
        }
        tracing::info!(%link, "link put");
        Ok(())
    }

    /// Deletes the link with `key`; returns it.
    pub fn delete_link(&self, key: &LinkKey) -> Option<Link> {
        let _applying = self.applying_link();
        let link = self.inner.router.links_mut().delete(key)?;
        self.withdraw_link(&link);
        tracing::info!(%link, "link deleted");
        Some(link)
    }

    /// Every link this host holds.
    pub fn links(&self) -> Vec<Link> {
        self.inner.router.links().iter().cloned().collect()
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

//! The host: the actors, providers and links of one process, and the glue
//! that lets a provider call an actor.
//!
//! Calls are denied by default: the HTTP server provider may hand a request
//! to an actor only over a link this host holds, checked on every request.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use lattice_interfaces::http::{HandleFuture, HttpBody, IncomingHttp};
use lattice_interfaces::{
    ActorSpec, ComponentId, ErrorKind, InvocationError, Link, LinkKey, Manifest, ProviderSpec,
};
use lattice_provider_http_server::{Endpoint, HttpServerProvider};

use crate::config::{ActorLimits, HostConfig};
use crate::links::LinkTable;
use crate::runtime::{Actor, ActorLoadError, Runtime};
use crate::trust::{TrustError, TrustPolicy};
use lattice_interfaces::claims::ClaimsError;

/// Why the host refused an operation. One line that names the item.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The wasm runtime could not start.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// An actor could not be loaded.
    #[error(transparent)]
    ActorLoad(#[from] ActorLoadError),
    /// The id is taken on this host.
    #[error("{kind} \"{id}\" already runs on this host")]
    AlreadyRunning {
        /// `actor` or `provider`.
        kind: &'static str,
        /// The id.
        id: ComponentId,
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

/// A provider running in this process.
enum Provider {
    HttpServer(Arc<HttpServerProvider>),
}

struct HostInner {
    runtime: Runtime,
    trust: TrustPolicy,
    actors: RwLock<HashMap<ComponentId, Arc<Actor>>>,
    providers: RwLock<HashMap<ComponentId, Provider>>,
    links: RwLock<LinkTable>,
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

impl Host {
    /// Starts a host: builds its wasm runtime. It runs nothing until told.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let runtime = Runtime::new(&config.runtime)?;
        tracing::info!(allocator = ?runtime.allocator(), cache = ?runtime.cache().dir(), "host started");
        Ok(Self {
            inner: Arc::new(HostInner {
                runtime,
                trust: config.trust,
                actors: RwLock::new(HashMap::new()),
                providers: RwLock::new(HashMap::new()),
                links: RwLock::new(LinkTable::default()),
            }),
        })
    }

    /// The wasm runtime.
    pub fn runtime(&self) -> &Runtime {
        &self.inner.runtime
    }

    /// Starts everything `manifest` declares: actors, then providers, then
    /// links. Stops at the first error and returns it.
    pub async fn apply(&self, manifest: &Manifest) -> Result<(), HostError> {
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
    #[tracing::instrument(skip_all, fields(actor = %spec.id))]
    pub async fn start_actor(&self, spec: &ActorSpec) -> Result<Arc<Actor>, HostError> {
        self.check_free(&spec.id, "actor")?;
        let origin = spec.path.display().to_string();
        let wasm = tokio::fs::read(&spec.path)
            .await
            .map_err(|e| ActorLoadError::Read {
                id: spec.id.to_string(),
                origin: origin.clone(),
                reason: e.to_string(),
            })?;
        self.start_actor_from_bytes(spec.id.clone(), &origin, wasm, ActorLimits::from_spec(spec))
            .await
    }

    /// Starts an actor from component bytes already in memory; `origin`
    /// names where they came from in errors.
    pub async fn start_actor_from_bytes(
        &self,
        id: ComponentId,
        origin: &str,
        wasm: Vec<u8>,
        limits: ActorLimits,
    ) -> Result<Arc<Actor>, HostError> {
        self.check_free(&id, "actor")?;
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
            runtime.load_actor(load_id, &load_origin, &wasm, limits, claims)
        })
        .await
        .map_err(|e| ActorLoadError::Compile {
            id: id.to_string(),
            origin: origin.to_string(),
            reason: e.to_string(),
        })??;
        let actor = Arc::new(actor);
        {
            let mut actors = write(&self.inner.actors);
            if actors.contains_key(&id) {
                return Err(HostError::AlreadyRunning { kind: "actor", id });
            }
            actors.insert(id.clone(), actor.clone());
        }
        tracing::info!(actor = %id, origin, compile = ?actor.compile_outcome(), "actor started");
        Ok(actor)
    }

    /// Stops actor `id`: new calls find no target; calls in flight finish.
    pub fn stop_actor(&self, id: &ComponentId) -> Result<(), HostError> {
        write(&self.inner.actors)
            .remove(id)
            .map(|_| tracing::info!(actor = %id, "actor stopped"))
            .ok_or_else(|| HostError::NoSuchActor { id: id.clone() })
    }

    /// The actor `id`, if it runs here.
    pub fn actor(&self, id: &ComponentId) -> Option<Arc<Actor>> {
        read(&self.inner.actors).get(id).cloned()
    }

    /// Starts a built-in provider.
    pub fn start_provider(&self, spec: &ProviderSpec) -> Result<(), HostError> {
        self.check_free(&spec.id, "provider")?;
        let provider = match spec.kind.as_str() {
            lattice_provider_http_server::KIND => {
                let handler = Arc::new(HostHttpHandler {
                    host: Arc::downgrade(&self.inner),
                });
                Provider::HttpServer(Arc::new(HttpServerProvider::new(handler)))
            }
            other => {
                return Err(HostError::Provider {
                    id: spec.id.clone(),
                    reason: format!(
                        "unknown kind \"{other}\" (built-in kinds: {})",
                        lattice_provider_http_server::KIND
                    ),
                })
            }
        };
        write(&self.inner.providers).insert(spec.id.clone(), provider);
        tracing::info!(provider = %spec.id, kind = %spec.kind, "provider started");
        Ok(())
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

    /// Puts a link: checks that both ends run here and that the target can
    /// serve the contract, stores it, and hands it to the provider at either
    /// end. A link that fails any step is not stored.
    pub fn put_link(&self, link: Link) -> Result<(), HostError> {
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
        let serves_http = link.carries("wasi", "http", "incoming-handler");
        if serves_http {
            match self.actor(&link.target) {
                Some(actor) if actor.exports(crate::runtime::HTTP_INCOMING_HANDLER) => {}
                Some(_) => {
                    return Err(refuse(format!(
                        "actor \"{}\" does not export {}, which this link needs",
                        link.target,
                        crate::runtime::HTTP_INCOMING_HANDLER
                    )))
                }
                None => {
                    return Err(refuse(format!(
                        "target \"{}\" is not an actor",
                        link.target
                    )))
                }
            }
        }
        let replaced = write(&self.inner.links)
            .put(link.clone())
            .map_err(|clash| refuse(clash.to_string()))?;
        if let Some(Provider::HttpServer(server)) = read(&self.inner.providers).get(&link.source) {
            if serves_http {
                if let Err(error) = server.put_link(link.clone()) {
                    // Undo: the table holds only links that are served.
                    let mut links = write(&self.inner.links);
                    links.delete(&link.key());
                    if let Some(previous) = replaced {
                        let _ = links.put(previous);
                    }
                    return Err(refuse(error.to_string().replacen(
                        &format!("link {link}: "),
                        "",
                        1,
                    )));
                }
            }
        }
        tracing::info!(%link, "link put");
        Ok(())
    }

    /// Deletes the link with `key`; returns it.
    pub fn delete_link(&self, key: &LinkKey) -> Option<Link> {
        let link = write(&self.inner.links).delete(key)?;
        if let Some(Provider::HttpServer(server)) = read(&self.inner.providers).get(&link.source) {
            server.delete_link(&link);
        }
        tracing::info!(%link, "link deleted");
        Some(link)
    }

    /// Every link this host holds.
    pub fn links(&self) -> Vec<Link> {
        read(&self.inner.links).iter().cloned().collect()
    }

    /// Where every HTTP server provider serves which link.
    pub fn http_endpoints(&self) -> Vec<Endpoint> {
        read(&self.inner.providers)
            .values()
            .flat_map(|provider| match provider {
                Provider::HttpServer(server) => server.endpoints(),
            })
            .collect()
    }

    /// Stops the host: providers stop accepting and drain in-flight requests
    /// for up to `grace`; then actors are dropped.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave connections draining in the background.
    pub async fn shutdown(&self, grace: Duration) {
        let servers: Vec<Arc<HttpServerProvider>> = read(&self.inner.providers)
            .values()
            .map(|p| match p {
                Provider::HttpServer(server) => server.clone(),
            })
            .collect();
        for server in servers {
            server.shutdown(grace).await;
        }
        write(&self.inner.providers).clear();
        write(&self.inner.actors).clear();
        tracing::info!("host stopped");
    }
}

/// Hands HTTP requests from an in-process HTTP server provider to actors.
struct HostHttpHandler {
    host: Weak<HostInner>,
}

impl IncomingHttp for HostHttpHandler {
    fn handle(&self, link: &Link, request: http::Request<HttpBody>) -> HandleFuture {
        let actor = self
            .host
            .upgrade()
            .ok_or_else(|| InvocationError::new(ErrorKind::NotFound, "the host is stopping"))
            .and_then(|host| {
                // Deny by default: only a link this host holds may carry the call.
                let links = read(&host.links);
                let linked = links
                    .get(&link.key())
                    .is_some_and(|held| held.target == link.target);
                if !linked {
                    return Err(InvocationError::new(
                        ErrorKind::Unauthorized,
                        format!("no link {link} on this host"),
                    ));
                }
                read(&host.actors)
                    .get(&link.target)
                    .cloned()
                    .ok_or_else(|| {
                        InvocationError::new(
                            ErrorKind::NotFound,
                            format!("actor \"{}\" does not run on this host", link.target),
                        )
                    })
            });
        Box::pin(async move { actor?.handle_http(request).await })
    }
}

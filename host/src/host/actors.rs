//! Actors on this host: start (from a file, a registry or bytes), scale,
//! update in place and stop; what each reads of named config and secrets.

use std::sync::Arc;

use lattice_interfaces::claims::ClaimsError;
use lattice_interfaces::{ActorSpec, ComponentId};

use crate::artifacts::FetchError;
use crate::config::ActorLimits;
use crate::references::ReferenceError;
use crate::runtime::{Actor, ActorLoadError};
use crate::trust::TrustError;

use super::{write, Host, HostError, Scaling};

impl Host {
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
        let models = self.load_models(&spec.id, &spec.models).await?;
        self.start_loaded(
            spec.id.clone(),
            &fetched.origin,
            fetched.bytes,
            ActorLimits::from_spec(spec),
            (config, models),
        )
        .await
    }

    /// The models actor `id` names (`name` → file or registry reference),
    /// each loaded into ONNX Runtime once per host (by digest).
    pub(super) async fn load_models(
        &self,
        id: &ComponentId,
        models: &std::collections::BTreeMap<String, String>,
    ) -> Result<crate::runtime::nn::Models, HostError> {
        if models.is_empty() {
            return Ok(crate::runtime::nn::Models::default());
        }
        let refused = |reason: String| {
            HostError::ActorLoad(ActorLoadError::Reference {
                id: id.to_string(),
                reason,
            })
        };
        let serves = self.inner.runtime.serves_nn();
        if let Some(reason) = crate::runtime::nn::refusal(serves, "names models") {
            return Err(refused(reason));
        }
        let mut loaded = std::collections::HashMap::new();
        for (name, reference) in models {
            let fetched = self
                .inner
                .artifacts
                .model(reference)
                .await
                .map_err(|error| refused(format!("model {name:?}: {error}")))?;
            let what = format!("model {name:?} ({})", fetched.origin);
            let runtime = self.inner.runtime.clone();
            // Loading a model is ONNX Runtime's CPU-bound work.
            let graph = tokio::task::spawn_blocking(move || {
                let digest = crate::runtime::sha256_hex(&fetched.bytes);
                runtime.models().graph(&digest, &fetched.bytes, &what)
            })
            .await
            .map_err(|e| refused(e.to_string()))?
            .map_err(refused)?;
            loaded.insert(name.clone(), graph);
        }
        Ok(crate::runtime::nn::Models::new(loaded))
    }

    /// What actor `id` reads through `wasi:config/store` when it reads
    /// `sources`: every named entry must exist here, every secret resolve
    /// under this host's policy.
    pub(super) fn actor_config(
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
            (
                Arc::new(crate::runtime::ActorConfig::none()),
                crate::runtime::nn::Models::default(),
            ),
        )
        .await
    }

    pub(super) async fn start_loaded(
        &self,
        id: ComponentId,
        origin: &str,
        wasm: Vec<u8>,
        limits: ActorLimits,
        (config, models): (Arc<crate::runtime::ActorConfig>, crate::runtime::nn::Models),
    ) -> Result<Arc<Actor>, HostError> {
        self.check_free(&id, "actor")?;
        let actor = Arc::new(
            self.load_actor(id.clone(), origin, wasm, limits)
                .await?
                .with_config(config)
                .with_models(models),
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
    pub(super) async fn fetch_component(
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
    /// [`crate::artifacts::Artifacts::held`]).
    pub fn artifacts_held(&self) -> Vec<String> {
        self.inner.artifacts.held()
    }

    /// Verifies and compiles an actor without running it.
    pub(super) async fn load_actor(
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
            models,
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
            max_instances: Some(max_instances),
            instance_reuse,
            min_instances,
            config: sources.map(|s| s.config.clone()).unwrap_or_default(),
            secrets: sources.map(|s| s.secrets.clone()).unwrap_or_default(),
            models,
            ..ActorSpec::new(id.clone(), reference)
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

    pub(super) async fn replace_actor(
        &self,
        id: &ComponentId,
        reference: &str,
        limits: ActorLimits,
    ) -> Result<(), HostError> {
        let fetched = self.fetch_component(id, reference).await?;
        let mut actor = self
            .load_actor(id.clone(), &fetched.origin, fetched.bytes, limits)
            .await?;
        // The new component reads the config the old one read, and its
        // lines follow the old one's.
        if let Some(running) = self.actor(id) {
            actor = actor
                .with_config(Arc::clone(running.config()))
                .with_output(Arc::clone(running.output()))
                .with_models(running.models().clone());
        }
        let actor = Arc::new(actor);
        write(&self.inner.actors).insert(id.clone(), actor);
        self.inner.changed();
        tracing::info!(actor = %id, origin = %fetched.origin, "actor replaced");
        Ok(())
    }
}

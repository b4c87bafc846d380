//! Runtime config for actors, `wasi:config/store`: the host's named config
//! (written with `lattice-ctl config put` or a manifest's `[config.NAME]`
//! tables), and what one actor's instances read: the entries it names,
//! merged in order (a later entry's key wins), read again when one changes
//! so each new instance sees the current values.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use lattice_interfaces::ComponentId;
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};

/// Entries by name.
type Entries = HashMap<ComponentId, BTreeMap<String, String>>;

/// The named config a host knows, with a generation that changes with it.
#[derive(Debug, Default)]
pub struct NamedConfig {
    entries: RwLock<(u64, Entries)>,
}

impl NamedConfig {
    /// Sets entry `name` to `values`.
    pub fn put(&self, name: ComponentId, values: BTreeMap<String, String>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.1.get(&name) != Some(&values) {
            entries.1.insert(name, values);
            entries.0 += 1;
        }
    }

    /// Forgets entry `name`.
    pub fn delete(&self, name: &ComponentId) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if entries.1.remove(name).is_some() {
            entries.0 += 1;
        }
    }

    /// Forgets every entry but `names`.
    pub fn retain(&self, names: &[ComponentId]) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let before = entries.1.len();
        entries.1.retain(|name, _| names.contains(name));
        if entries.1.len() != before {
            entries.0 += 1;
        }
    }

    /// Entry `name`, if there is one.
    pub fn get(&self, name: &ComponentId) -> Option<BTreeMap<String, String>> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        entries.1.get(name).cloned()
    }

    /// The first of `names` with no entry.
    pub fn missing<'a>(&self, names: &'a [ComponentId]) -> Option<&'a ComponentId> {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        names.iter().find(|name| !entries.1.contains_key(*name))
    }

    fn generation(&self) -> u64 {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// `names` merged in order, then `secrets`, and the generation they
    /// were read at. An entry deleted since the actor started reads as
    /// empty.
    fn merged(&self, names: &[ComponentId], secrets: &BTreeMap<String, String>) -> (u64, Merged) {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let mut values = BTreeMap::new();
        for entry in names.iter().filter_map(|name| entries.1.get(name)) {
            values.extend(entry.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        values.extend(secrets.iter().map(|(k, v)| (k.clone(), v.clone())));
        let variables = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        (
            entries.0,
            Merged {
                values,
                variables,
                secrets: secrets.clone(),
            },
        )
    }
}

/// One merge of an actor's entries.
pub(crate) struct Merged {
    /// The keys and values, as `wasi:config@0.2.0-draft` serves them.
    pub(crate) values: BTreeMap<String, String>,
    /// The same, as wasmtime-wasi-config serves `wasi:config/store@0.2.0-rc.1`.
    variables: WasiConfigVariables,
    /// The actor's resolved secrets alone, as `wasmcloud:secrets` serves
    /// them (they are in `values` too).
    pub(crate) secrets: BTreeMap<String, String>,
}

impl Merged {
    /// The view the bindings work on.
    pub(crate) fn view(&self) -> WasiConfig<'_> {
        WasiConfig::from(&self.variables)
    }
}

impl Default for Merged {
    fn default() -> Self {
        Self {
            values: BTreeMap::new(),
            variables: WasiConfigVariables::new(),
            secrets: BTreeMap::new(),
        }
    }
}

/// What one actor's instances read through `wasi:config/store`.
pub struct ActorConfig {
    /// What it was asked to read (names, secret references).
    sources: crate::config::ConfigSources,
    names: Vec<ComponentId>,
    /// Resolved secrets by key: merged last, so they win.
    secrets: BTreeMap<String, String>,
    source: Arc<NamedConfig>,
    /// The merge last made, and the generation it was made at.
    current: Mutex<(u64, Arc<Merged>)>,
}

impl std::fmt::Debug for ActorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and keys only: values may be secret.
        f.debug_struct("ActorConfig")
            .field("names", &self.names)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl ActorConfig {
    /// The entries `sources` names, from `source`, in that order, then
    /// `secrets` (its secret references, resolved: values by key).
    pub fn new(
        sources: crate::config::ConfigSources,
        secrets: BTreeMap<String, String>,
        source: Arc<NamedConfig>,
    ) -> Self {
        let names = sources.config.clone();
        let (generation, merged) = source.merged(&names, &secrets);
        Self {
            sources,
            names,
            secrets,
            source,
            current: Mutex::new((generation, Arc::new(merged))),
        }
    }

    /// No config at all.
    pub fn none() -> Self {
        Self::new(
            crate::config::ConfigSources::default(),
            BTreeMap::new(),
            Arc::default(),
        )
    }

    /// What it was asked to read: named config and secret references.
    pub fn sources(&self) -> &crate::config::ConfigSources {
        &self.sources
    }

    /// The names it reads, in order.
    pub fn names(&self) -> &[ComponentId] {
        &self.names
    }

    /// What a new instance sees: merged again when an entry changed.
    pub(crate) fn current(&self) -> Arc<Merged> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if self.names.is_empty() || current.0 == self.source.generation() {
            return Arc::clone(&current.1);
        }
        let (generation, merged) = self.source.merged(&self.names, &self.secrets);
        *current = (generation, Arc::new(merged));
        Arc::clone(&current.1)
    }
}

/// Links `wasi:config/store` into `linker`, each store's config given by
/// `view`.
pub(crate) fn add_to_linker<T: 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    view: fn(&mut T) -> WasiConfig<'_>,
) -> wasmtime::Result<()> {
    wasmtime_wasi_config::add_to_linker(linker, view)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> ComponentId {
        ComponentId::new(name).unwrap()
    }

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn later_entries_win_and_a_change_reaches_the_next_instance() {
        let named = Arc::new(NamedConfig::default());
        named.put(
            id("base"),
            values(&[("greeting", "Hello"), ("name", "Lattice")]),
        );
        named.put(id("east"), values(&[("name", "East")]));
        assert_eq!(named.missing(&[id("base"), id("west")]), Some(&id("west")));
        assert_eq!(named.missing(&[id("base"), id("east")]), None);
        let secrets = values(&[("token", "s3cret")]);
        let sources = crate::config::ConfigSources {
            config: vec![id("base"), id("east")],
            secrets: values(&[("token", "file:/run/secrets/token")]),
        };
        let config = ActorConfig::new(sources, secrets, named.clone());
        let first = config.current();
        assert_eq!(
            first.values,
            values(&[("greeting", "Hello"), ("name", "East"), ("token", "s3cret")])
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(
            Arc::ptr_eq(&first, &config.current()),
            "no change, no new merge"
        );

        named.put(id("east"), values(&[("name", "Far East")]));
        assert_eq!(config.current().values["name"], "Far East");
        named.delete(&id("east"));
        assert_eq!(config.current().values["name"], "Lattice");
        // What others change does not reach an actor that reads nothing.
        assert!(ActorConfig::new(Default::default(), BTreeMap::new(), named)
            .current()
            .values
            .is_empty());
    }
}

//! Manifests: the TOML file that says which actors and providers a lattice
//! runs and how they are linked. `lattice-ctl up MANIFEST` applies one.
//!
//! ```toml
//! [[actors]]
//! id = "hello"                 # [a-z0-9_-]+, unique in the manifest
//! path = "../build/hello.wasm" # relative to the manifest's folder
//! max_instances = 100          # concurrent instances (optional)
//! memory_limit_mib = 64        # per instance (optional)
//! timeout_ms = 30000           # per call (optional)
//! instance_reuse = 1000        # HTTP calls one instance may serve (optional;
//!                              # default 1: a fresh instance per call)
//! min_instances = 0            # scale from zero: code linked at the first
//!                              # call (optional; default 1: at start)
//!
//! [[providers]]
//! id = "http"
//! kind = "http-server"         # a built-in provider
//!
//! [[links]]
//! source = "http"
//! target = "hello"
//! interface = "wasi:http/incoming-handler"
//! source_config = { address = "127.0.0.1:8080", path = "/" }
//! ```
//!
//! Parsing is strict: an unknown key, a duplicate id, a link to an id the
//! manifest does not declare or a malformed contract is refused with one line
//! that names the file, the item and the reason. Whether files exist and are
//! components is checked when the host loads them.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{ArtifactRef, ComponentId, Contract, Link};

/// Why a manifest was refused. Displays as one line starting with the file.
#[derive(Debug, thiserror::Error)]
pub struct ManifestError {
    /// The manifest's path, or `manifest` when parsed from a string.
    pub file: String,
    /// Where in the file, when known: (line, column), 1-based.
    pub position: Option<(usize, usize)>,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

/// An actor the manifest runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActorSpec {
    /// The actor's id in the lattice.
    pub id: ComponentId,
    /// The component: a file (relative paths are resolved against the
    /// manifest's folder by [`Manifest::load`]) or a registry reference
    /// (see [`crate::ArtifactRef`]). Written `reference` or `path`.
    #[serde(alias = "path")]
    pub reference: String,
    /// Most instances running at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    /// Memory limit of one instance, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit_mib: Option<u32>,
    /// Deadline of one call, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// HTTP calls one instance may serve before it is dropped; state in its
    /// memory survives between them. Unset or 1: a fresh instance per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_reuse: Option<u32>,
    /// 0: it scales from zero: checked and compiled when it starts, but
    /// its code is linked and held in memory only from its first call on.
    /// Unset or 1: linked when it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_instances: Option<u32>,
    /// Named config its instances read through `wasi:config/store`, merged
    /// in this order (a later entry's key wins). Each must exist when the
    /// actor starts; a change reaches the instances made after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ComponentId>,
    /// Secrets it reads through `wasi:config/store`, by key: references
    /// (`file:/run/secrets/db`, `env:LATTICE_SECRET_DB`, see
    /// [`crate::secret::SecretRef`]) each host resolves when the actor
    /// starts there; a secret's key wins over named config.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, String>,
    /// Where it runs when the manifest is applied as an app; `up` runs
    /// everything on its one host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::placement::Placement>,
    /// Models it loads through `wasi:nn` `load-by-name`, by name: ONNX
    /// files (relative paths are resolved like `reference`) or registry
    /// references. Each host loads a model once for every actor that
    /// names it; the actor never reads host files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models: BTreeMap<String, String>,
}

impl ActorSpec {
    /// Actor `id` from `reference`, every setting at the host's default.
    pub fn new(id: ComponentId, reference: impl Into<String>) -> Self {
        Self {
            id,
            reference: reference.into(),
            max_instances: None,
            memory_limit_mib: None,
            timeout_ms: None,
            instance_reuse: None,
            min_instances: None,
            config: Vec::new(),
            secrets: BTreeMap::new(),
            placement: None,
            models: BTreeMap::new(),
        }
    }
}

/// Why `min_instances` is refused, when it is: 0 (scale from zero) and 1
/// (linked at start) are what a host does; instances themselves are made
/// per call (`instance_reuse` keeps them warm).
pub fn min_instances_refusal(min_instances: u32) -> Option<String> {
    (min_instances > 1).then(|| {
        format!(
            "min_instances = {min_instances} is not supported: 0 scales from zero (linked at the first call), 1 links at start; instances are made per call (instance_reuse keeps them warm)"
        )
    })
}

/// A capability provider the manifest runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSpec {
    /// The provider's id in the lattice.
    pub id: ComponentId,
    /// What it runs: a built-in provider's name (`http-server`), a
    /// binary's path or a registry reference. Manifests may still call it
    /// `kind`, its name before.
    #[serde(alias = "kind")]
    pub reference: String,
    /// Provider-wide configuration.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Where it runs when the manifest is applied as an app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<crate::placement::Placement>,
}

/// The `[app]` table of a manifest applied with `lattice-ctl apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppInfo {
    /// The app's name: a-z, 0-9, '-' and '_'.
    pub name: String,
}

/// A link as written in a manifest: the contract is one string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The caller's id.
    pub source: ComponentId,
    /// The callee's id.
    pub target: ComponentId,
    /// `namespace:package/interface[,interface...]`.
    pub interface: String,
    /// The link's name (`default` when unset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What the source's side reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub source_config: BTreeMap<String, String>,
    /// What the target's side reads.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub target_config: BTreeMap<String, String>,
}

/// A manifest as written, before its checks: what a Lattice TOML file
/// holds, and what other formats (wadm's) are turned into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSpec {
    /// The `[app]` table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppInfo>,
    /// `[[actors]]`.
    #[serde(default)]
    pub actors: Vec<ActorSpec>,
    /// `[[providers]]`.
    #[serde(default)]
    pub providers: Vec<ProviderSpec>,
    /// `[[links]]`.
    #[serde(default)]
    pub links: Vec<LinkSpec>,
    /// `[config.NAME]` tables.
    #[serde(default)]
    pub config: BTreeMap<ComponentId, BTreeMap<String, String>>,
}

/// A parsed and checked manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Manifest {
    /// The app it describes, when applied with `lattice-ctl apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<AppInfo>,
    /// Actors, in file order.
    pub actors: Vec<ActorSpec>,
    /// Providers, in file order.
    pub providers: Vec<ProviderSpec>,
    /// Links, in file order.
    pub links: Vec<Link>,
    /// Named config it writes (`[config.NAME]` tables), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<ComponentId, BTreeMap<String, String>>,
}

impl From<&Manifest> for ManifestSpec {
    /// The manifest as it would be written.
    fn from(manifest: &Manifest) -> Self {
        Self {
            app: manifest.app.clone(),
            actors: manifest.actors.clone(),
            providers: manifest.providers.clone(),
            links: manifest
                .links
                .iter()
                .map(|link| LinkSpec {
                    source: link.source.clone(),
                    target: link.target.clone(),
                    interface: format!(
                        "{}:{}/{}",
                        link.namespace,
                        link.package,
                        link.interfaces.join(",")
                    ),
                    name: (link.name != crate::link::DEFAULT_LINK_NAME).then(|| link.name.clone()),
                    source_config: link.source_config.clone(),
                    target_config: link.target_config.clone(),
                })
                .collect(),
            config: manifest.config.clone(),
        }
    }
}

/// Whether `path` is a regular file this process can open.
fn regular_file(path: &Path) -> std::io::Result<()> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    std::fs::File::open(path).map(drop)
}

impl Manifest {
    /// Reads and checks the manifest at `path`, resolving actor paths and
    /// provider binaries (a `kind` with a `/`) against its folder.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ManifestError {
            file: file.clone(),
            position: None,
            reason: format!("cannot read the manifest: {e}"),
        })?;
        let mut manifest = Self::parse_toml(&text, &file)?;
        manifest.resolve_files(path)?;
        Ok(manifest)
    }

    /// Makes the files it names (actor components, provider binaries
    /// given as paths) absolute against the folder of `path`, the
    /// manifest's own file, and checks each can be read.
    pub fn resolve_files(&mut self, path: &Path) -> Result<(), ManifestError> {
        let file = path.display().to_string();
        // Absolute, so what a manifest names means the same to a host in
        // another folder (`lattice-ctl apply` stores it for the lattice).
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let base = std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf());
        // Every file is checked before anything starts; an error names the
        // path as written and where it led.
        let missing = |item: String, written: &Path, resolved: &Path, e: std::io::Error| {
            let led = if written == resolved {
                String::new()
            } else {
                format!(" (resolved to {})", resolved.display())
            };
            ManifestError {
                file: file.clone(),
                position: None,
                reason: format!("{item}: cannot read {}{led}: {e}", written.display()),
            }
        };
        // A file reference made absolute against the manifest's folder and
        // checked to be readable; a registry reference as it is.
        let resolve = |item: String, reference: &str| -> Result<String, ManifestError> {
            let ArtifactRef::File(written) = ArtifactRef::parse(reference) else {
                return Ok(reference.to_string());
            };
            let resolved = if written.is_relative() {
                base.join(&written)
            } else {
                written.clone()
            };
            regular_file(&resolved).map_err(|e| missing(item, &written, &resolved, e))?;
            Ok(resolved.display().to_string())
        };
        for actor in &mut self.actors {
            actor.reference = resolve(format!("actor \"{}\"", actor.id), &actor.reference)?;
            for (name, model) in &mut actor.models {
                *model = resolve(format!("actor \"{}\" model {name:?}", actor.id), model)?;
            }
        }
        for provider in self
            .providers
            .iter_mut()
            .filter(|p| p.reference.contains('/'))
        {
            provider.reference =
                resolve(format!("provider \"{}\"", provider.id), &provider.reference)?;
        }
        Ok(())
    }

    /// The files it names: actor components and provider binaries given as
    /// paths, not registry references.
    pub fn files(&self) -> Vec<String> {
        let actors = self
            .actors
            .iter()
            .flat_map(|a| std::iter::once(&a.reference).chain(a.models.values()));
        let providers = self
            .providers
            .iter()
            .map(|p| &p.reference)
            .filter(|kind| kind.contains('/'));
        actors
            .chain(providers)
            .filter(|r| !ArtifactRef::is_oci(r))
            .cloned()
            .collect()
    }

    /// Parses and checks a manifest held in a string.
    pub fn from_toml(text: &str) -> Result<Self, ManifestError> {
        Self::parse_toml(text, "manifest")
    }

    /// Parses and checks TOML `text`; `file` names it in errors.
    pub fn parse_toml(text: &str, file: &str) -> Result<Self, ManifestError> {
        let spec: ManifestSpec = toml::from_str(text).map_err(|e| ManifestError {
            file: file.to_string(),
            position: e.span().map(|span| line_and_column(text, span.start)),
            reason: one_line(e.message()),
        })?;
        Self::from_spec(spec, file)
    }

    /// Checks a manifest as written; `file` names it in errors.
    pub fn from_spec(raw: ManifestSpec, file: &str) -> Result<Self, ManifestError> {
        let invalid = |reason: String| ManifestError {
            file: file.to_string(),
            position: None,
            reason,
        };

        let mut ids = HashSet::new();
        for (kind, id) in raw
            .actors
            .iter()
            .map(|a| ("actor", &a.id))
            .chain(raw.providers.iter().map(|p| ("provider", &p.id)))
        {
            if !ids.insert(id) {
                return Err(invalid(format!("{kind} \"{id}\" is declared twice: ids must be unique across actors and providers")));
            }
        }
        for actor in &raw.actors {
            if let Some(reason) = actor
                .min_instances
                .and_then(crate::manifest::min_instances_refusal)
            {
                return Err(invalid(format!("actor \"{}\": {reason}", actor.id)));
            }
            if actor.max_instances == Some(0) {
                return Err(invalid(format!(
                    "actor \"{}\": max_instances must be at least 1",
                    actor.id
                )));
            }
            if actor.memory_limit_mib == Some(0) {
                return Err(invalid(format!(
                    "actor \"{}\": memory_limit_mib must be at least 1",
                    actor.id
                )));
            }
            if actor.timeout_ms == Some(0) {
                return Err(invalid(format!(
                    "actor \"{}\": timeout_ms must be at least 1",
                    actor.id
                )));
            }
            for (key, reference) in &actor.secrets {
                if let Err(reason) = crate::secret::SecretRef::parse(reference) {
                    return Err(invalid(format!(
                        "actor \"{}\": secret \"{}\": {reason}",
                        actor.id,
                        crate::shown(key)
                    )));
                }
            }
            if actor.instance_reuse == Some(0) {
                return Err(invalid(format!(
                    "actor \"{}\": instance_reuse must be at least 1 (1: a fresh instance per call)",
                    actor.id
                )));
            }
        }

        let mut links: Vec<Link> = Vec::with_capacity(raw.links.len());
        // Where each link key was first seen, to name a clash in O(1).
        let mut seen: std::collections::HashMap<crate::LinkKey, usize> =
            std::collections::HashMap::with_capacity(raw.links.len());
        for spec in raw.links {
            let contract = Contract::parse(&spec.interface)
                .map_err(|e| invalid(format!("link {} -> {}: {e}", spec.source, spec.target)))?;
            let mut link = Link::new(spec.source, spec.target, contract);
            if let Some(name) = spec.name {
                link.name = name;
            }
            link.source_config = spec.source_config;
            link.target_config = spec.target_config;
            for (end, id) in [("source", &link.source), ("target", &link.target)] {
                if !ids.contains(id) {
                    return Err(invalid(format!(
                        "link {link}: {end} \"{id}\" is neither an actor nor a provider in this manifest"
                    )));
                }
            }
            if let Some(existing) = seen.get(&link.key()).and_then(|&i| links.get(i)) {
                return Err(invalid(format!(
                    "link {link} clashes with link {existing}: one source has one link per package and name (give one a `name`)"
                )));
            }
            seen.insert(link.key(), links.len());
            links.push(link);
        }

        if let Some(app) = &raw.app {
            if crate::protocol::state::app_status_key(&app.name).is_err() {
                return Err(invalid(format!(
                    "app name {:?}: use a-z, 0-9, '-' and '_'",
                    app.name
                )));
            }
        }
        let placements = raw
            .actors
            .iter()
            .map(|a| ("actor", &a.id, &a.placement))
            .chain(
                raw.providers
                    .iter()
                    .map(|p| ("provider", &p.id, &p.placement)),
            );
        for (kind, id, placement) in placements {
            if let Some(Err(reason)) = placement.as_ref().map(crate::placement::Placement::check) {
                return Err(invalid(format!("{kind} \"{id}\": {reason}")));
            }
            if kind == "provider" && placement.as_ref().is_some_and(|p| p.scale.is_some()) {
                return Err(invalid(format!(
                    "provider \"{id}\": providers do not autoscale (give it replicas = N or daemon = true)"
                )));
            }
        }

        Ok(Self {
            app: raw.app,
            actors: raw.actors,
            providers: raw.providers,
            links,
            config: raw.config,
        })
    }
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn one_line(message: &str) -> String {
    message.trim().replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;

    const HELLO: &str = r#"
[[actors]]
id = "hello"
path = "hello.wasm"

[[providers]]
id = "http"
reference = "http-server"

[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = { address = "127.0.0.1:8080" }
"#;

    fn error_of(text: &str) -> String {
        match Manifest::from_toml(text) {
            Ok(m) => format!("unexpectedly parsed: {m:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn named_config_is_written_in_tables_and_read_by_actors_in_order() {
        let manifest = Manifest::from_toml(
            r#"
[[actors]]
id = "hello"
path = "hello.wasm"
config = ["greeting", "overrides"]

[config.greeting]
greeting = "Hello"
name = "Lattice"
"#,
        )
        .unwrap();
        assert_eq!(manifest.actors[0].config.len(), 2);
        assert_eq!(manifest.actors[0].config[1].as_str(), "overrides");
        let greeting = &manifest.config[&ComponentId::new("greeting").unwrap()];
        assert_eq!(greeting["name"], "Lattice");
        let bad = error_of("[config.\"no spaces\"]\nk = \"v\"\n");
        assert!(bad.contains("no spaces"), "{bad}");
    }

    #[test]
    fn parses_the_hello_manifest() {
        let m = Manifest::from_toml(HELLO).unwrap();
        assert_eq!(m.actors[0].id.as_str(), "hello");
        assert_eq!(m.providers[0].reference, "http-server");
        assert_eq!(
            m.links[0].to_string(),
            "http -> hello wasi:http/incoming-handler"
        );
        assert_eq!(m.links[0].config("address"), Some("127.0.0.1:8080"));
        assert_eq!(m.links[0].name, "default");
    }

    /// What a provider runs is its `reference`; manifests written with
    /// `kind`, its name before, read the same.
    #[test]
    fn a_provider_reference_may_still_be_spelled_kind() {
        let new = Manifest::from_toml(HELLO).unwrap();
        assert!(HELLO.contains("reference = \"http-server\""));
        let old = Manifest::from_toml(&HELLO.replace("reference = ", "kind = ")).unwrap();
        assert_eq!(old, new);
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = error_of("[[actors]]\nid = \"a\"\npath = \"a.wasm\"\ncolour = \"red\"\n");
        assert!(e.starts_with("manifest:4:1: unknown field `colour`"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn duplicate_id_is_refused() {
        let e = error_of("[[actors]]\nid = \"a\"\npath = \"a.wasm\"\n[[providers]]\nid = \"a\"\nkind = \"http-server\"\n");
        assert_eq!(e, "manifest: provider \"a\" is declared twice: ids must be unique across actors and providers");
    }

    #[test]
    fn link_to_unknown_actor_is_refused() {
        let e = error_of(&HELLO.replace("target = \"hello\"", "target = \"nope\""));
        assert_eq!(e, "manifest: link http -> nope wasi:http/incoming-handler: target \"nope\" is neither an actor nor a provider in this manifest");
    }

    #[test]
    fn bad_ids_and_contracts_are_refused() {
        let e = error_of(&HELLO.replace("id = \"hello\"", "id = \"Hello.World\""));
        assert!(e.contains("id \"Hello.World\" has 'H'"), "{e}");
        let e = error_of(&HELLO.replace("wasi:http/incoming-handler", "http"));
        assert!(e.contains("link http -> hello: contract \"http\""), "{e}");
    }

    #[test]
    fn clashing_links_are_refused() {
        let doubled = format!("{HELLO}\n[[links]]\nsource = \"http\"\ntarget = \"hello\"\ninterface = \"wasi:http/incoming-handler\"\n");
        assert!(error_of(&doubled).contains("clashes with link"));
    }

    #[test]
    fn min_instances_is_zero_or_one() {
        let with = |n: u32| {
            HELLO.replace(
                "id = \"hello\"\n",
                &format!("id = \"hello\"\nmin_instances = {n}\n"),
            )
        };
        assert!(with(3) != HELLO, "the fixture has an actor hello");
        let e = error_of(&with(3));
        assert!(
            e.contains("actor \"hello\": min_instances = 3 is not supported: 0 scales from zero"),
            "{e}"
        );
        for n in [0, 1] {
            let manifest = Manifest::from_toml(&with(n)).unwrap();
            assert_eq!(manifest.actors[0].min_instances, Some(n));
        }
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "\u{0}\u{1}",
            "[[actors]",
            "actors = 3",
            "[[links]]\nsource = 1",
            "[[actors]]\nid = \"a\"\npath = \"x\"\nmax_instances = -1",
            "x = \"\u{ffff}\"",
        ] {
            assert!(Manifest::from_toml(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn load_resolves_paths_against_the_manifest_folder() {
        let dir = std::env::temp_dir().join(format!("lattice-manifest-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        for made in ["hello.wasm", "bin/kv-provider", "abs-kv"] {
            std::fs::write(dir.join(made), b"").unwrap();
        }
        let file = dir.join("app.toml");
        let absolute = dir.join("abs-kv").display().to_string();
        let text = format!(
            "{HELLO}\n[[providers]]\nid = \"kv\"\nkind = \"bin/kv-provider\"\n\n[[providers]]\nid = \"abs\"\nkind = \"{absolute}\"\n"
        );
        std::fs::write(&file, &text).unwrap();
        let m = Manifest::load(&file).unwrap();
        assert_eq!(
            m.actors[0].reference,
            dir.join("hello.wasm").display().to_string()
        );
        let kinds: Vec<&str> = m.providers.iter().map(|p| p.reference.as_str()).collect();
        let binary = dir.join("bin/kv-provider").display().to_string();
        assert_eq!(kinds, ["http-server", binary.as_str(), absolute.as_str()]);

        // A missing file is named as written, and where it led.
        std::fs::remove_file(dir.join("hello.wasm")).unwrap();
        let e = Manifest::load(&file).unwrap_err().to_string();
        let expected = format!(
            "{}: actor \"hello\": cannot read hello.wasm (resolved to {}): ",
            file.display(),
            dir.join("hello.wasm").display()
        );
        assert!(e.starts_with(&expected), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let e = Manifest::load(&dir.join("missing.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing.toml: cannot read the manifest"), "{e}");
    }
}

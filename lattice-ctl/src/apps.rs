//! `lattice-ctl apply`, `get apps`, `app status` and `delete app`: the
//! lattice's declared applications, kept in its state bucket and brought
//! about by the hosts' reconciler.

use lattice_interfaces::protocol::rpc::unix_ms;
use std::path::Path;

use anyhow::{bail, Context as _};
use lattice_interfaces::protocol::app::App;
use lattice_interfaces::{ArtifactRef, Manifest};
use lattice_oci::args::RegistryArgs;
use serde::Serialize;

use crate::client::{ConnArgs, LatticeClient};
use crate::lattice::done;
use crate::output::{print_list, Format};

/// Checks that every registry reference of `manifest` resolves, so an app
/// naming a missing artifact is refused now rather than failing on hosts.
async fn check_artifacts(
    name: &str,
    manifest: &Manifest,
    registry: &RegistryArgs,
) -> anyhow::Result<()> {
    let references: Vec<&String> = manifest
        .actors
        .iter()
        .map(|a| &a.reference)
        .chain(manifest.providers.iter().map(|p| &p.reference))
        .filter(|r| ArtifactRef::is_oci(r))
        .collect();
    if references.is_empty() {
        return Ok(());
    }
    let client = lattice_oci::Registry::new(registry.options()?)?;
    for reference in references {
        let parsed = lattice_oci::OciReference::parse(reference)
            .map_err(|e| anyhow::anyhow!("app {name}: {e}"))?;
        client
            .manifest(&parsed)
            .await
            .map_err(|e| anyhow::anyhow!("app {name}: {e}"))?;
    }
    Ok(())
}

/// `apply FILE`: stores the manifest as the app's next version.
/// `apply --app NAME --version N`: makes version N current again.
pub async fn apply(
    conn: &ConnArgs,
    file: Option<&Path>,
    rollback: Option<(&str, u32)>,
    registry: &RegistryArgs,
    format: Format,
) -> anyhow::Result<()> {
    // A file is read and checked before the lattice is asked anything.
    let manifest = file.map(load).transpose()?;
    let client = LatticeClient::connect(conn).await?;
    let state = client.state().await?;
    #[derive(Serialize)]
    struct Applied<'a> {
        app: &'a str,
        version: u32,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        unchanged: bool,
    }
    match (file, manifest, rollback) {
        (Some(file), Some(manifest), None) => {
            let Some(app) = manifest.app.clone() else {
                bail!(
                    "{}: not an app: add an [app] table with its name (name = \"shop\")",
                    file.display()
                );
            };
            let name = app.name;
            let Stored { version, unchanged } =
                store_version(&state, &name, &manifest, registry).await?;
            let said = if unchanged {
                format!("app {name} unchanged: version {version}, the current one, holds this manifest already")
            } else {
                format!("app {name} version {version} applied; `lattice-ctl app status {name}` shows where it runs")
            };
            done(
                format,
                &Applied {
                    app: &name,
                    version,
                    unchanged,
                },
                &said,
            )
        }
        (None, _, Some((name, version))) => {
            change_app(&state, name, |app| {
                if !app.versions.iter().any(|v| v.version == version) {
                    let kept: Vec<String> =
                        app.versions.iter().map(|v| v.version.to_string()).collect();
                    return Err(format!("no version {version} (kept: {})", kept.join(", ")));
                }
                app.current = version;
                Ok(())
            })
            .await?;
            done(
                format,
                &Applied {
                    app: name,
                    version,
                    unchanged: false,
                },
                &format!("app {name} back at version {version}"),
            )
        }
        _ => {
            bail!("apply takes a FILE, or --app NAME with --version N to go back to a kept version")
        }
    }
}

/// The app at `file` (`-`: standard input): Lattice's TOML, or a wadm
/// manifest (its notices go to standard error).
fn load(file: &Path) -> anyhow::Result<Manifest> {
    let text = if file == Path::new("-") {
        std::io::read_to_string(std::io::stdin())
            .context("reading the manifest from standard input")?
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("{}: cannot read the manifest", file.display()))?
    };
    // Files named on standard input resolve against the working folder.
    let at = if file == Path::new("-") {
        Path::new("./-")
    } else {
        file
    };
    if crate::wadm::looks_like_wadm(&text) {
        let (manifest, notices) = crate::wadm::read(&text, at)?;
        for notice in notices {
            eprintln!("notice: {notice}");
        }
        return Ok(manifest);
    }
    let mut manifest = Manifest::parse_toml(&text, &at.display().to_string())?;
    manifest.resolve_files(at)?;
    Ok(manifest)
}

/// The lattice's state, and its app `name`; an error naming the app and
/// the lattice when there is none.
async fn app_named(
    conn: &ConnArgs,
    name: &str,
) -> anyhow::Result<(lattice_client::state::LatticeState, App)> {
    let client = LatticeClient::connect(conn).await?;
    let state = client.state().await?;
    let (mut apps, _) = state.apps().await?;
    let app = apps
        .apps
        .remove(name)
        .with_context(|| format!("no app {name} in lattice {}", client.subjects().lattice()))?;
    Ok((state, app))
}

/// `get app NAME`: the current version's manifest, as Lattice's TOML
/// (table output), JSON or a wadm manifest.
pub async fn show(conn: &ConnArgs, name: &str, format: Format) -> anyhow::Result<()> {
    let (_, app) = app_named(conn, name).await?;
    let Some(current) = app.versions.iter().find(|v| v.version == app.current) else {
        bail!("app {name} is being deleted");
    };
    let manifest = &current.manifest;
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(manifest)?),
        Format::Wadm => print!("{}", crate::wadm::write(name, manifest)?),
        Format::Table => print!(
            "{}",
            toml::to_string(&lattice_interfaces::ManifestSpec::from(manifest))
                .context("writing the manifest as TOML")?
        ),
    }
    Ok(())
}

/// What storing an app's manifest did.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stored {
    /// The app's version holding the manifest.
    pub version: u32,
    /// Whether that was already the current version (nothing stored).
    pub unchanged: bool,
}

/// Stores `manifest` as the next version of app `name` once its registry
/// references resolve, unless the current version holds the same
/// manifest already.
pub async fn store_version(
    state: &lattice_client::state::LatticeState,
    name: &str,
    manifest: &Manifest,
    registry: &RegistryArgs,
) -> anyhow::Result<Stored> {
    check_artifacts(name, manifest, registry).await?;
    state
        .update_apps(|apps| {
            let app = apps.apps.entry(name.to_string()).or_insert_with(|| App {
                current: 0,
                versions: Vec::new(),
            });
            let current = app.versions.iter().find(|v| v.version == app.current);
            if current.is_some_and(|v| v.manifest == *manifest) {
                return Ok(Stored {
                    version: app.current,
                    unchanged: true,
                });
            }
            Ok(Stored {
                version: app.push(manifest.clone(), unix_ms()),
                unchanged: false,
            })
        })
        .await?
        .map_err(|reason| anyhow::anyhow!("app {name}: {reason}"))
}

/// Marks app `name` deleted: the reconciler stops what it runs, deletes
/// its links, then its record.
pub async fn mark_deleted(
    state: &lattice_client::state::LatticeState,
    name: &str,
) -> anyhow::Result<()> {
    change_app(state, name, |app| {
        app.current = 0;
        Ok(())
    })
    .await
}

/// Changes the existing app `name` with `change` (compare-and-set); a
/// missing app or a refusal is an error naming the app.
async fn change_app(
    state: &lattice_client::state::LatticeState,
    name: &str,
    mut change: impl FnMut(&mut App) -> Result<(), String>,
) -> anyhow::Result<()> {
    state
        .update_apps(|apps| {
            let app = apps
                .apps
                .get_mut(name)
                .ok_or_else(|| "no such app".to_string())?;
            change(app)
        })
        .await?
        .map_err(|reason| anyhow::anyhow!("app {name}: {reason}"))
}

/// `delete app NAME`: the reconciler stops what it runs and removes it.
pub async fn delete(conn: &ConnArgs, name: &str, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let state = client.state().await?;
    mark_deleted(&state, name).await?;
    done(
        format,
        &serde_json::json!({ "app": name, "deleted": true }),
        &format!("app {name} deleted: its components stop and its links go on the next reconcile"),
    )
}

/// `get apps`.
pub async fn list(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let state = client.state().await?;
    let (apps, _) = state.apps().await?;
    #[derive(Serialize)]
    struct Listed {
        name: String,
        version: u32,
        versions: Vec<u32>,
        state: String,
    }
    let mut listed = Vec::new();
    for (name, app) in &apps.apps {
        let status = state.app_status(name).await?;
        let shown = match (app.current, status) {
            (0, _) => "deleting".to_string(),
            (_, Some(s)) if s.version == app.current && s.converged => "converged".to_string(),
            (_, Some(_)) | (_, None) => "reconciling".to_string(),
        };
        listed.push(Listed {
            name: name.clone(),
            version: app.current,
            versions: app.versions.iter().map(|v| v.version).collect(),
            state: shown,
        });
    }
    let rows = listed
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.version.to_string(),
                l.versions
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
                l.state.clone(),
            ]
        })
        .collect();
    print_list(
        format,
        &listed,
        (&["NAME", "VERSION", "KEPT", "STATE"], "apps"),
        rows,
    )
}

/// `app status NAME`: desired against running, per component, with reasons.
pub async fn status(conn: &ConnArgs, name: &str, format: Format) -> anyhow::Result<()> {
    let (state, app) = app_named(conn, name).await?;
    let Some(status) = state.app_status(name).await? else {
        // Just applied: the hosts reconcile it at their next pass.
        // The shape of a status, with nothing placed yet.
        #[derive(Serialize)]
        struct Pending<'a> {
            app: &'a str,
            version: u32,
            state: &'static str,
            components: [(); 0],
            converged: bool,
        }
        let pending = Pending {
            app: name,
            version: app.current,
            state: "pending",
            components: [],
            converged: false,
        };
        return done(
            format,
            &pending,
            &format!("app {name} version {}: pending: no host has reconciled it yet (a running host does within its --reconcile-ms, 2 s by default)", app.current),
        );
    };
    let short = |host: &str| {
        host.get(..8)
            .map_or_else(|| host.to_string(), |s| format!("{s}…"))
    };
    let rows = status
        .components
        .iter()
        .map(|c| {
            vec![
                c.id.clone(),
                c.kind.clone(),
                match &c.scale {
                    // Autoscaled: what it wants now, in its range.
                    Some(scale) => format!("{} ({}-{})", c.desired, scale.min, scale.max),
                    None => c.desired.to_string(),
                },
                format!(
                    "{} {}",
                    c.running.len(),
                    c.running
                        .iter()
                        .map(|h| short(h.as_str()))
                        .collect::<Vec<_>>()
                        .join(",")
                )
                .trim_end()
                .to_string(),
                match (&c.reason, &c.scale) {
                    (Some(reason), Some(scale)) => format!("{reason}; {}", scale.why),
                    (Some(reason), None) => reason.clone(),
                    (None, Some(scale)) => scale.why.clone(),
                    (None, None) => "-".into(),
                },
            ]
        })
        .collect();
    if format == Format::Table {
        println!(
            "app {name} version {} (current {}): {}",
            status.version,
            app.current,
            if status.converged {
                "converged"
            } else {
                "reconciling"
            }
        );
    }
    print_list(
        format,
        &status,
        (
            &["COMPONENT", "KIND", "DESIRED", "RUNNING", "REASON"],
            "components",
        ),
        rows,
    )
}

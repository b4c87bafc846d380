//! `lattice-ctl dev`: the edit-run loop. Builds the project, runs its
//! `app.toml` on a host in this process that runs only what the
//! developer's key signed, and watches the project's sources: on each
//! change it builds again and swaps the running actor in place (calls in
//! flight finish on the old component, new ones reach the new). A build
//! that fails leaves the last good one serving. Each request's status and
//! duration and the actor's own log lines are printed as they happen.
//!
//! With `--nats-url` the host joins that lattice instead of running
//! alone: the project's links and named config go to the lattice's state
//! (and are deleted when `dev` stops), its actor is called from other
//! hosts like any other, and its lines reach `lattice-ctl logs`. The host
//! joins labelled `lattice.draining`, so the reconciler places no app of
//! the lattice on a developer's machine; it takes the host settings'
//! `LATTICE_*` variables (a cluster seed, say) as `lattice-host` does.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use lattice_host::cli::{apply_manifest, remove_manifest_links, HostArgs};
use lattice_host::lattice::{Lattice, NatsArgs};
use lattice_host::{Host, HostConfig, TrustPolicy};
use lattice_interfaces::{ComponentId, Manifest};

use super::build::{build_signed, Project};

/// How often the sources are looked at.
const POLL: Duration = Duration::from_millis(200);

/// What `dev` logs when `RUST_LOG` does not say: the host at `info` (the
/// actor's own lines among it) and one line per HTTP request.
pub const LOG_FILTER: &str = "info,async_nats=warn,lattice::request=debug";

/// The host settings `lattice-host` would take from the environment alone.
#[derive(clap::Parser)]
struct FromEnvironment {
    #[command(flatten)]
    host: HostArgs,
}

/// Joins the lattice `nats` names, as `lattice-host` with no flags but
/// `LATTICE_*` variables would.
async fn join(host: &Host, nats: &NatsArgs) -> anyhow::Result<Lattice> {
    use clap::Parser as _;
    let mut args = FromEnvironment::try_parse_from(["lattice-ctl dev"])
        .map_err(|e| anyhow::anyhow!("the LATTICE_* host settings: {e}"))?
        .host;
    args.nats = nats.clone();
    let config = args
        .lattice()?
        .context("joining a lattice needs --nats-url")?;
    Ok(Lattice::join(host.clone(), &config).await?)
}

/// `lattice-ctl dev [DIR] [--nats-url URL]`: alone when `nats` names no
/// server, else in that lattice.
pub async fn dev(dir: &Path, nats: &NatsArgs) -> anyhow::Result<()> {
    let project = Project::load(dir)?;
    let started = Instant::now();
    build_signed(&project)?;
    let manifest_path = project.dir.join("app.toml");
    let manifest = Manifest::load(&manifest_path)?;
    let actor = ComponentId::new(project.name.as_str())
        .map_err(|e| anyhow::anyhow!("project name {}: {e}", project.name))?;
    if !manifest.actors.iter().any(|a| a.id == actor) {
        anyhow::bail!(
            "{}: declares no actor {actor}, the project's own: add it, with path = \"build/{actor}.wasm\"",
            manifest_path.display()
        );
    }
    let issuer = super::keys::developer_key()?.public_key();
    let in_lattice = nats.url.is_some();
    let labels = if in_lattice {
        [(
            lattice_interfaces::placement::DRAINING_LABEL.to_string(),
            "true".to_string(),
        )]
        .into()
    } else {
        Default::default()
    };
    let host = Host::new(HostConfig {
        // Signed by this developer only; files read wherever the
        // manifest puts them (this is the developer's own machine).
        trust: TrustPolicy {
            allowed_issuers: vec![issuer],
            ..TrustPolicy::default()
        },
        labels,
        ..HostConfig::default()
    })?;
    let lattice = if in_lattice {
        match join(&host, nats).await {
            Ok(lattice) => Some(lattice),
            Err(error) => {
                host.shutdown(Duration::ZERO).await;
                return Err(error);
            }
        }
    } else {
        None
    };
    if let Err(error) = apply_manifest(&host, lattice.as_ref(), &manifest).await {
        if let Some(lattice) = lattice {
            lattice.leave().await;
        }
        host.shutdown(Duration::ZERO).await;
        return Err(error).with_context(|| format!("cannot apply {}", manifest_path.display()));
    }
    // The sources as built, taken before saying it serves: an edit made
    // the moment after is a change.
    let mut seen = Sources::of(&project.dir);
    println!(
        "Lattice dev: {} built and serving in {:.1} s",
        project.name,
        started.elapsed().as_secs_f64()
    );
    if lattice.is_some() {
        println!(
            "  joined lattice {} at {} as host {} (no app is placed on it)",
            nats.lattice,
            lattice_rpc::redacted(&nats.url_or_default()),
            host.id()
        );
    }
    for endpoint in host.http_endpoints() {
        println!("  {} -> {}", endpoint.url(), endpoint.link.target);
    }
    println!("Watching {} for changes.", project.dir.display());
    println!("Press Ctrl-C to stop.");
    // Listened for once, for the whole run: a Ctrl-C during a build is
    // not lost (cargo gets it too, and its failure is not the stop).
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("cannot listen for Ctrl-C")?;
    let reference = project
        .dir
        .join(project.signed_component())
        .display()
        .to_string();
    loop {
        tokio::select! {
            _ = interrupt.recv() => break,
            _ = terminate.recv() => break,
            () = tokio::time::sleep(POLL) => {}
        }
        let now = Sources::of(&project.dir);
        if now == seen {
            continue;
        }
        seen = now;
        let changed = Instant::now();
        // The toolchain blocks: it runs off the runtime's workers. A
        // lattice.toml edited into something wrong is a failed build too.
        let built = match Project::load(&project.dir) {
            Ok(building) => tokio::task::spawn_blocking(move || build_signed(&building))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("the build stopped: {e}"))),
            Err(error) => Err(error),
        };
        match built {
            Err(error) => {
                eprintln!("build failed: {error:#}; still serving the last good build");
            }
            Ok(built) => {
                let swapping = Instant::now();
                match host.update_actor(&actor, &reference).await {
                    Ok(()) => println!(
                        "swapped {actor} ({}, {} bytes) in {:.2} s from the change (build {:.2} s, swap {:.3} s)",
                        built.digest,
                        built.bytes,
                        changed.elapsed().as_secs_f64(),
                        swapping.duration_since(changed).as_secs_f64(),
                        swapping.elapsed().as_secs_f64()
                    ),
                    Err(error) => eprintln!(
                        "cannot swap {actor}: {error}; still serving the last good build"
                    ),
                }
            }
        }
    }
    if let Some(lattice) = lattice {
        remove_manifest_links(&lattice, &manifest).await;
        lattice.leave().await;
    }
    host.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// The project's source files, each with when it last changed, its size
/// and (up to [`HASHED`] bytes) a hash of its bytes: an edit that keeps
/// the size within the file system's timestamp granularity is still one.
/// Everything but what builds write (`target/`, `build/`,
/// `__pycache__/`) and hidden files.
#[derive(Debug, PartialEq, Eq)]
struct Sources(Vec<(PathBuf, Option<SystemTime>, u64, u64)>);

/// Files up to this size are hashed as well.
const HASHED: u64 = 1 << 20;

impl Sources {
    fn of(dir: &Path) -> Self {
        let mut files = Vec::new();
        let mut dirs = vec![dir.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.')
                    || ["target", "build", "__pycache__"].contains(&name.as_ref())
                {
                    continue;
                }
                let path = entry.path();
                let Ok(meta) = entry.metadata() else {
                    continue;
                };
                if meta.is_dir() {
                    dirs.push(path);
                } else {
                    let hash = if meta.len() <= HASHED {
                        std::fs::read(&path).map_or(0, |bytes| {
                            use std::hash::{Hash as _, Hasher as _};
                            let mut hasher = std::collections::hash_map::DefaultHasher::new();
                            bytes.hash(&mut hasher);
                            hasher.finish()
                        })
                    } else {
                        0
                    };
                    files.push((path, meta.modified().ok(), meta.len(), hash));
                }
            }
        }
        files.sort();
        Self(files)
    }
}

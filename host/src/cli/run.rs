//! Running a host in the foreground: start it, join the lattice, apply a
//! manifest, serve until a signal or `host.stop`, then drain and stop.

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use lattice_interfaces::Manifest;

use super::HostArgs;
use crate::lattice::Lattice;
use crate::Host;

/// Starts a host, joins the lattice when a NATS URL is set, applies the
/// manifest at `manifest` (if any), prints where it serves, and runs until
/// SIGINT, SIGTERM or a `host.stop` request, then drains and stops.
pub async fn run_in_foreground(args: &HostArgs, manifest: Option<&Path>) -> anyhow::Result<()> {
    let manifest = manifest
        .map(|path| Manifest::load(path).map(|m| (path, m)))
        .transpose()?;
    let mut config = args.config()?;
    if let Some((_, manifest)) = &manifest {
        // The files the operator's own manifest names may be read.
        config.trust.references = config
            .trust
            .references
            .allowing_folders_of(manifest.files().iter().map(Path::new));
    }
    let host = Host::new(config)?;
    let readiness = Arc::new(ReadinessState::default());
    let stop_admin = tokio_util::sync::CancellationToken::new();
    let _stop_admin = stop_admin.clone().drop_guard();
    if let Some(address) = args.admin_address {
        let state = readiness.clone();
        let ready: crate::admin::Readiness = Arc::new(move || state.check());
        let tls = args
            .admin_tls_cert
            .clone()
            .zip(args.admin_tls_key.clone())
            .map(|(cert, key)| lattice_provider_http_server::tls::TlsFiles::new(cert, key));
        match crate::admin::serve(address, host.clone(), ready, stop_admin, tls.as_ref()).await {
            Ok(bound) => println!(
                "Admin endpoints on {}://{bound} (/livez /readyz /metrics)",
                if tls.is_some() { "https" } else { "http" }
            ),
            Err(error) => {
                host.shutdown(Duration::ZERO).await;
                return Err(error.into());
            }
        }
    }
    let lattice = match args.lattice()? {
        Some(config) => match Lattice::join(host.clone(), &config).await {
            Ok(lattice) => Some(lattice),
            Err(error) => {
                host.shutdown(Duration::ZERO).await;
                return Err(error.into());
            }
        },
        None => None,
    };
    if let Some(lattice) = &lattice {
        let _ = readiness.lattice.set(lattice.readiness_probe());
    }
    if let Some((path, manifest)) = &manifest {
        if let Err(error) = apply_manifest(&host, lattice.as_ref(), manifest).await {
            if let Some(lattice) = lattice {
                lattice.leave().await;
            }
            host.shutdown(Duration::ZERO).await;
            return Err(error).with_context(|| format!("cannot apply {}", path.display()));
        }
    }
    // Before anything says the host serves; a signal while it starts
    // still stops it at once.
    let mut signals = Signals::install()?;
    if lattice.is_some() {
        println!(
            "Lattice host {} joined lattice {} at {}",
            host.id(),
            args.nats.lattice,
            lattice_rpc::redacted(&args.nats.url_or_default())
        );
    }
    match &manifest {
        Some((path, m)) => println!(
            "Lattice host running {} ({}, {}, {})",
            path.display(),
            count(m.actors.len(), "actor"),
            count(m.providers.len(), "provider"),
            count(m.links.len(), "link")
        ),
        None if lattice.is_none() => println!(
            "Lattice host {} running alone (no manifest, no NATS)",
            host.id()
        ),
        None => {}
    }
    for endpoint in host.http_endpoints() {
        println!("  {} -> {}", endpoint.url(), endpoint.link.target);
    }
    println!("Press Ctrl-C to stop.");
    readiness.set(Phase::Running);
    match &lattice {
        Some(lattice) => {
            let signalled = tokio::select! {
                result = signals.wait() => { result?; true }
                () = lattice.stopped() => { println!("Stop requested over the lattice"); false }
            };
            readiness.set(Phase::Draining);
            // `host drain` handed over before asking; a signal has not.
            if signalled {
                let wait = Duration::from_secs(args.hand_over_secs);
                let left = lattice.hand_over(wait).await;
                if !left.is_empty() {
                    tracing::warn!(
                        apps = %left.join(", "),
                        "stopping before these apps converged without this host (--hand-over-secs {})",
                        args.hand_over_secs
                    );
                }
            }
        }
        None => signals.wait().await?,
    }
    readiness.set(Phase::Draining);
    println!(
        "Stopping: draining in-flight requests (up to {}s)",
        args.shutdown_grace
    );
    if let Some(lattice) = lattice {
        if let Some((_, manifest)) = &manifest {
            remove_manifest_links(&lattice, manifest).await;
        }
        lattice.leave().await;
    }
    host.shutdown(Duration::from_secs(args.shutdown_grace))
        .await;
    Ok(())
}

/// Where a foreground host is in its life, for `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Phase {
    Starting = 0,
    Running = 1,
    Draining = 2,
}

/// What `/readyz` reads: the phase, and the lattice connection once joined.
#[derive(Default)]
struct ReadinessState {
    phase: AtomicU8,
    lattice: OnceLock<Arc<dyn Fn() -> Result<(), String> + Send + Sync>>,
}

impl ReadinessState {
    fn set(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
    }

    fn check(&self) -> Result<(), String> {
        let phase = self.phase.load(Ordering::Relaxed);
        if phase == Phase::Starting as u8 {
            return Err("starting".into());
        }
        if phase == Phase::Draining as u8 {
            return Err("draining: stopping".into());
        }
        match self.lattice.get() {
            Some(lattice) => lattice(),
            None => Ok(()),
        }
    }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// Applies a manifest on `host`; in a lattice its named config and links
/// go to the lattice's state (replacing a stale link at the same key) and
/// its provider binaries run as supervised processes of the lattice.
///
/// # Errors
///
/// What cannot start or be stored, named.
pub async fn apply_manifest(
    host: &Host,
    lattice: Option<&Lattice>,
    manifest: &Manifest,
) -> anyhow::Result<()> {
    let Some(lattice) = lattice else {
        return Ok(host.apply(manifest).await?);
    };
    // Its named config goes to the lattice (so other hosts' actors read it
    // too) and to this host at once.
    for (name, values) in &manifest.config {
        lattice
            .put_config(name, values)
            .await
            .with_context(|| format!("named config \"{name}\""))?;
    }
    for actor in &manifest.actors {
        host.start_actor(actor).await?;
    }
    for provider in &manifest.providers {
        if provider.reference.contains('/') {
            // A provider binary: a supervised process on the lattice.
            lattice
                .start_provider_process(&provider.id, &provider.reference, provider.config.clone())
                .await?;
        } else {
            host.start_provider(provider)?;
        }
    }
    for link in &manifest.links {
        host.check_link(link)?;
        // The manifest owns its links: a stale one at the same key (left by
        // an earlier run) is replaced, and they are deleted on exit.
        lattice
            .replace_link(link.clone())
            .await
            .with_context(|| format!("link {link}"))?;
    }
    Ok(())
}

/// Deletes the links `manifest` put, where nobody changed them since.
pub async fn remove_manifest_links(lattice: &Lattice, manifest: &Manifest) {
    for link in &manifest.links {
        match lattice.delete_link_if_unchanged(link).await {
            Ok(true) => println!("  link {link} deleted"),
            Ok(false) => {}
            Err(error) => eprintln!("warning: cannot delete link {link}: {error}"),
        }
    }
}

/// SIGINT and SIGTERM, listened for from before the host says where it
/// serves: one that comes right after is taken as a stop (draining), not
/// left to the default action, which kills.
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("cannot listen for Ctrl-C")?,
                terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Until one comes.
    async fn wait(&mut self) -> anyhow::Result<()> {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")?;
        Ok(())
    }
}

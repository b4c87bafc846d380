//! What the `lattice-host` binary and `lattice-ctl up` share: the host's
//! command-line settings and the foreground run loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use lattice_interfaces::Manifest;

use crate::config::{default_cache_dir, HostConfig, RuntimeConfig};
use crate::trust::TrustPolicy;
use crate::Host;
use lattice_interfaces::claims::KeyKind;

/// Host settings, as flags or `LATTICE_*` environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct HostArgs {
    /// Folder of compiled components [default: ~/.cache/lattice/compiled]
    #[arg(long, env = "LATTICE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every actor on every start
    #[arg(long, env = "LATTICE_NO_CACHE")]
    pub no_cache: bool,

    /// Instances the pooling allocator reserves room for; 0 allocates on demand
    #[arg(
        long,
        env = "LATTICE_POOL_INSTANCES",
        default_value_t = 1000,
        value_name = "N"
    )]
    pub pool_instances: u32,

    /// Largest memory limit an actor may ask for, in MiB
    #[arg(long, env = "LATTICE_MAX_MEMORY_MIB", default_value_t = 4096, value_name = "MIB",
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_memory_mib: u32,

    /// How long in-flight calls may take to finish on shutdown, in seconds
    #[arg(
        long,
        env = "LATTICE_SHUTDOWN_GRACE",
        default_value_t = 10,
        value_name = "SECS"
    )]
    pub shutdown_grace: u64,

    /// Run actors that carry no claims (development only)
    #[arg(long, env = "LATTICE_ALLOW_UNSIGNED")]
    pub allow_unsigned: bool,

    /// Account public key allowed to sign actors; repeat for more [default: any valid signature]
    #[arg(
        long = "allowed-issuer",
        env = "LATTICE_ALLOWED_ISSUERS",
        value_delimiter = ',',
        value_name = "ACCOUNT_KEY",
        value_parser = parse_account_key
    )]
    pub allowed_issuers: Vec<String>,
}

impl HostArgs {
    /// The host configuration these settings describe.
    pub fn config(&self) -> HostConfig {
        HostConfig {
            runtime: RuntimeConfig {
                pool_instances: self.pool_instances,
                max_memory: (self.max_memory_mib as usize) << 20,
                cache_dir: if self.no_cache {
                    None
                } else {
                    self.cache_dir.clone().or_else(default_cache_dir)
                },
                ..RuntimeConfig::default()
            },
            trust: TrustPolicy {
                allow_unsigned: self.allow_unsigned,
                allowed_issuers: self.allowed_issuers.clone(),
            },
        }
    }
}

fn parse_account_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    match KeyKind::of_public_key(key) {
        Some(KeyKind::Account) => Ok(key.to_string()),
        _ => Err(format!(
            "{key:?} is not an account public key (A…, 56 characters)"
        )),
    }
}

/// Starts a host, applies the manifest at `manifest` (if any), prints where
/// it serves, and runs until SIGINT or SIGTERM, then drains and stops.
pub async fn run_in_foreground(args: &HostArgs, manifest: Option<&Path>) -> anyhow::Result<()> {
    let manifest = manifest
        .map(|path| Manifest::load(path).map(|m| (path, m)))
        .transpose()?;
    let host = Host::new(args.config())?;
    if let Some((path, manifest)) = &manifest {
        if let Err(error) = host.apply(manifest).await {
            host.shutdown(Duration::ZERO).await;
            return Err(error).with_context(|| format!("cannot apply {}", path.display()));
        }
        println!(
            "Lattice host running {} ({} actors, {} providers, {} links)",
            path.display(),
            manifest.actors.len(),
            manifest.providers.len(),
            manifest.links.len()
        );
    } else {
        println!("Lattice host running (nothing started)");
    }
    for endpoint in host.http_endpoints() {
        println!("  {} -> {}", endpoint.url(), endpoint.link.target);
    }
    println!("Press Ctrl-C to stop.");
    wait_for_signal().await?;
    println!(
        "Stopping: draining in-flight requests (up to {}s)",
        args.shutdown_grace
    );
    host.shutdown(Duration::from_secs(args.shutdown_grace))
        .await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

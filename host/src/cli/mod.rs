//! What the `lattice-host` binary and `lattice-ctl up` share: the host's
//! command-line settings ([`HostArgs`], here), the foreground run loop
//! (`run`: [`run_in_foreground`]) and the settings' reference table,
//! generated from these definitions (`settings_doc`: [`settings_markdown`]).

mod run;
mod settings_doc;

pub use run::{apply_manifest, remove_manifest_links, run_in_foreground};
pub use settings_doc::settings_markdown;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{default_cache_dir, HostConfig, RuntimeConfig};
use crate::identity::HostIdentity;
use crate::lattice::{ClusterKeys, LatticeConfig, NatsArgs};
use crate::trust::TrustPolicy;
use lattice_interfaces::claims::{parse_key_pair, KeyKind};

/// Host settings, as flags or `LATTICE_*` environment variables. Its
/// `Debug` output never shows the seeds.
#[derive(Clone, clap::Args)]
pub struct HostArgs {
    /// Folder of compiled components [default: ~/.cache/lattice/compiled]
    #[arg(long, env = "LATTICE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every actor on every start
    #[arg(long, env = "LATTICE_NO_CACHE", value_parser = clap::builder::BoolishValueParser::new())]
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

    /// On SIGTERM, how long a host running app replicas waits for the reconciler to place them elsewhere before it stops, in seconds
    #[arg(
        long,
        env = "LATTICE_HAND_OVER_SECS",
        default_value_t = 20,
        value_name = "SECS"
    )]
    pub hand_over_secs: u64,

    /// A label for this host, KEY=VALUE; repeat for more (hostname, os and arch are automatic)
    #[arg(long = "label", env = "LATTICE_LABELS", value_delimiter = ',', value_name = "KEY=VALUE",
          value_parser = parse_label)]
    pub labels: Vec<(String, String)>,

    /// Server seed (SN…) or a file holding it: the host's identity [default: a new key each start]
    #[arg(
        long,
        env = "LATTICE_HOST_SEED",
        value_name = "SEED|FILE",
        hide_env_values = true
    )]
    pub host_seed: Option<String>,

    /// Seconds between heartbeats
    #[arg(long, env = "LATTICE_HEARTBEAT_SECS", default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat_secs: u64,

    /// Replicas of the lattice state bucket, when this host creates it (clustered NATS)
    #[arg(
        long,
        env = "LATTICE_KV_REPLICAS",
        default_value_t = 1,
        value_name = "N"
    )]
    pub kv_replicas: usize,

    /// Cluster seed (SC…) or a file holding it: signs this host's calls to other hosts [default: a new key, trusted by this host alone]
    #[arg(
        long,
        env = "LATTICE_CLUSTER_SEED",
        value_name = "SEED|FILE",
        hide_env_values = true
    )]
    pub cluster_seed: Option<String>,

    /// Cluster public key (C…) whose signed calls this host accepts; repeat for more
    #[arg(long = "cluster-issuer", env = "LATTICE_CLUSTER_ISSUERS", value_delimiter = ',', value_name = "CLUSTER_KEY",
          value_parser = parse_cluster_key)]
    pub cluster_issuers: Vec<String>,

    /// A directory holding each provider process's own NATS credentials, DIR/<provider-id>.creds or DIR/<provider-id>.nk; a provider without any there is not started [default: providers get the host's credentials]
    #[arg(long, env = "LATTICE_PROVIDER_CREDENTIALS", value_name = "DIR")]
    pub provider_credentials: Option<PathBuf>,

    /// Seconds a call to another host may take (at most 3600: hosts refuse deadlines further away)
    #[arg(long, env = "LATTICE_CALL_TIMEOUT_SECS", default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub call_timeout_secs: u64,

    /// Seconds each grant of a provider process's signing key lasts; the host renews it at half-life and revokes the key when the process stops (at most a day)
    #[arg(long, env = "LATTICE_PROVIDER_GRANT_SECS", default_value_t = 3600, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(2..=86_400))]
    pub provider_grant_secs: u64,

    /// Serve /livez, /readyz and Prometheus /metrics on this address (IP:PORT) [default: off]
    #[arg(long, env = "LATTICE_ADMIN_ADDRESS", value_name = "IP:PORT")]
    pub admin_address: Option<std::net::SocketAddr>,

    /// Serve the admin endpoints over HTTPS with this certificate (PEM, with --admin-tls-key; read again when it changes)
    #[arg(
        long,
        env = "LATTICE_ADMIN_TLS_CERT",
        value_name = "FILE",
        requires = "admin_tls_key"
    )]
    pub admin_tls_cert: Option<PathBuf>,

    /// The admin certificate's key (PEM)
    #[arg(
        long,
        env = "LATTICE_ADMIN_TLS_KEY",
        value_name = "FILE",
        requires = "admin_tls_cert"
    )]
    pub admin_tls_key: Option<PathBuf>,

    /// How log lines are written: text, or json (one object per line, with the trace id when traces are exported)
    #[arg(
        long,
        env = "LATTICE_LOG_FORMAT",
        default_value = "text",
        value_name = "text|json"
    )]
    pub log_format: lattice_rpc::logging::LogFormat,

    /// Export traces over OTLP/HTTP to this base URL (traces go to URL/v1/traces); provider processes export there too [default: off]
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,

    /// NATS connection and lattice id; without a URL the host runs alone.
    /// Parsed by the binary next to these flags (`lattice-ctl` takes them
    /// before or after its subcommand).
    #[arg(skip)]
    pub nats: NatsArgs,

    /// How registries are reached.
    #[command(flatten)]
    pub registry: crate::registry_args::RegistryArgs,

    /// Run actors that carry no claims (development only)
    #[arg(long, env = "LATTICE_ALLOW_UNSIGNED", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unsigned: bool,

    /// Run provider binaries that carry no claims (development only: such a binary runs as a process with this host's NATS access)
    #[arg(long, env = "LATTICE_ALLOW_UNSIGNED_PROVIDERS", value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_unsigned_providers: bool,

    /// A directory actors and provider binaries may be read from as files; repeat for more [default: none, or any with --allow-unsigned]
    #[arg(
        long = "allow-file-dir",
        alias = "allowed-dir",
        env = "LATTICE_ALLOWED_DIRS",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub allowed_dirs: Vec<PathBuf>,

    /// A directory actors' `file:` secrets may be read from (e.g. where a Kubernetes Secret is mounted); repeat for more [default: none]
    #[arg(
        long = "secret-dir",
        env = "LATTICE_SECRET_DIRS",
        value_delimiter = ',',
        value_name = "DIR"
    )]
    pub secret_dirs: Vec<PathBuf>,

    /// Where actors' outgoing HTTP may go when their link to an http-client provider sets no allowed_hosts: deny (nowhere) or allow (anywhere but loopback, link-local and metadata addresses); the built-in http-client providers' default
    #[arg(long, env = "LATTICE_EGRESS", value_enum, default_value_t = Egress::Deny)]
    pub egress: Egress,

    /// ONNX Runtime's shared library (libonnxruntime.so, 1.22 or later) for actors that import wasi:nn; the host labels itself nn.onnx=cpu [default: none: such actors are refused]
    #[arg(long, env = "LATTICE_ONNXRUNTIME", value_name = "FILE")]
    pub onnxruntime: Option<PathBuf>,

    /// PEM bundle of CA roots that actors' outgoing HTTPS trusts on every link, besides the system's (a link adds more with ca_file); the built-in http-client providers' default
    #[arg(long, env = "LATTICE_HTTP_CA_FILE", value_name = "FILE")]
    pub http_ca_file: Option<PathBuf>,

    /// How often the lattice's apps are reconciled, in milliseconds (one host at a time does it; a silent host's replicas move after 3 periods)
    #[arg(long, env = "LATTICE_RECONCILE_MS", default_value_t = 2000, value_name = "MS",
          value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub reconcile_ms: u64,

    /// Largest component or provider binary this host reads, in MiB
    #[arg(long, env = "LATTICE_MAX_REFERENCE_MIB", default_value_t = crate::references::DEFAULT_MAX_BYTES >> 20, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_reference_mib: u64,

    /// Memory that calls crossing the lattice may hold at once, in MiB: HTTP request bodies read whole for an actor on another host, and other hosts' arguments as component values; a call that would go over is refused as busy (503)
    #[arg(long, env = "LATTICE_PAYLOAD_BUDGET_MIB", default_value_t = (crate::budget::DEFAULT_PAYLOAD_BUDGET >> 20) as u64, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=1_048_576))]
    pub payload_budget_mib: u64,

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

/// `--egress`: what an HTTP client link without `allowed_hosts` may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Egress {
    /// Nowhere: each link lists where it may go.
    Deny,
    /// Anywhere but loopback, link-local and metadata addresses.
    Allow,
}

impl std::fmt::Debug for HostArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use lattice_interfaces::hidden;
        f.debug_struct("HostArgs")
            .field("cache_dir", &self.cache_dir)
            .field("no_cache", &self.no_cache)
            .field("pool_instances", &self.pool_instances)
            .field("max_memory_mib", &self.max_memory_mib)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("labels", &self.labels)
            .field("host_seed", &hidden(self.host_seed.as_ref()))
            .field("heartbeat_secs", &self.heartbeat_secs)
            .field("kv_replicas", &self.kv_replicas)
            .field("cluster_seed", &hidden(self.cluster_seed.as_ref()))
            .field("cluster_issuers", &self.cluster_issuers)
            .field("provider_credentials", &self.provider_credentials)
            .field("call_timeout_secs", &self.call_timeout_secs)
            .field("provider_grant_secs", &self.provider_grant_secs)
            .field("admin_address", &self.admin_address)
            .field("admin_tls_cert", &self.admin_tls_cert)
            .field("admin_tls_key", &self.admin_tls_key)
            .field("nats", &self.nats)
            .field("registry", &self.registry)
            .field("allow_unsigned", &self.allow_unsigned)
            .field("allow_unsigned_providers", &self.allow_unsigned_providers)
            .field("allowed_dirs", &self.allowed_dirs)
            .field("secret_dirs", &self.secret_dirs)
            .field("egress", &self.egress)
            .field("http_ca_file", &self.http_ca_file)
            .field("onnxruntime", &self.onnxruntime)
            .field("max_reference_mib", &self.max_reference_mib)
            .field("payload_budget_mib", &self.payload_budget_mib)
            .field("reconcile_ms", &self.reconcile_ms)
            .field("allowed_issuers", &self.allowed_issuers)
            .finish()
    }
}

impl HostArgs {
    /// The host configuration these settings describe.
    pub fn config(&self) -> anyhow::Result<HostConfig> {
        let identity = match &self.host_seed {
            Some(seed) => HostIdentity::from_seed(seed)?,
            None => HostIdentity::generate(),
        };
        // A directory that is not there is a mistake in the pod spec or
        // unit file, said now rather than at the first actor that needs it.
        for dir in &self.secret_dirs {
            existing_dir("--secret-dir", dir)?;
        }
        if let Some(path) = &self.http_ca_file {
            lattice_provider_http_client::ca_bundle("--http-ca-file", &path.display().to_string())
                .map_err(anyhow::Error::msg)?;
        }
        Ok(HostConfig {
            identity,
            labels: self.labels.iter().cloned().collect(),
            registries: self.registry.options()?,
            secret_dirs: self.secret_dirs.clone(),
            egress_allow: self.egress == Egress::Allow,
            http_ca_file: self.http_ca_file.clone(),
            payload_budget: Some(
                usize::try_from(self.payload_budget_mib)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(1 << 20),
            ),
            runtime: RuntimeConfig {
                pool_instances: self.pool_instances,
                max_memory: (self.max_memory_mib as usize) << 20,
                cache_dir: if self.no_cache {
                    None
                } else {
                    self.cache_dir.clone().or_else(default_cache_dir)
                },
                // ONNX Runtime's own variable works too, as with its tools.
                onnxruntime: self.onnxruntime.clone().or_else(|| {
                    std::env::var_os("ORT_DYLIB_PATH")
                        .filter(|path| !path.is_empty())
                        .map(PathBuf::from)
                }),
                ..RuntimeConfig::default()
            },
            trust: TrustPolicy {
                allow_unsigned: self.allow_unsigned,
                allow_unsigned_providers: self.allow_unsigned_providers,
                allowed_issuers: self.allowed_issuers.clone(),
                references: crate::references::ReferencePolicy {
                    // Files anywhere only in development; otherwise only
                    // under the folders named, or none.
                    allowed_dirs: (!self.allowed_dirs.is_empty() || !self.allow_unsigned)
                        .then(|| self.allowed_dirs.clone()),
                    max_bytes: self.max_reference_mib << 20,
                },
            },
        })
    }

    /// The lattice to join, when a NATS URL is set.
    pub fn lattice(&self) -> anyhow::Result<Option<LatticeConfig>> {
        if self.nats.url.is_none() {
            return Ok(None);
        }
        let cluster = match &self.cluster_seed {
            Some(seed) => ClusterKeys::new(
                parse_key_pair(seed, KeyKind::Cluster, "cluster seed")?,
                &self.cluster_issuers,
            ),
            None if self.cluster_issuers.is_empty() => ClusterKeys::development(),
            None => ClusterKeys::new(KeyKind::Cluster.generate(), &self.cluster_issuers),
        };
        if let Some(dir) = &self.provider_credentials {
            existing_dir("--provider-credentials", dir)?;
        }
        Ok(Some(LatticeConfig {
            nats: self.nats.clone(),
            heartbeat: Duration::from_secs(self.heartbeat_secs),
            kv_replicas: self.kv_replicas,
            cluster,
            call_timeout: Duration::from_secs(self.call_timeout_secs),
            provider_health: Duration::from_secs(10),
            provider_grant: Duration::from_secs(self.provider_grant_secs),
            provider_credentials: self.provider_credentials.clone(),
            reconcile: crate::lattice::ReconcilerTiming::every(Duration::from_millis(
                self.reconcile_ms,
            )),
        }))
    }
}

/// Fails, naming `flag` and `dir`, unless `dir` is a directory this
/// process can list.
fn existing_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Ok(_) => Ok(()),
        Err(error) => anyhow::bail!("{flag} {}: {error}", dir.display()),
    }
}

fn parse_cluster_key(text: &str) -> Result<String, String> {
    let key = text.trim();
    match KeyKind::of_public_key(key) {
        Some(KeyKind::Cluster) => Ok(key.to_string()),
        _ => Err(format!(
            "{key:?} is not a cluster public key (C…, 56 characters)"
        )),
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("label {text:?} is not KEY=VALUE")),
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

/// Logs to stderr, filtered by `RUST_LOG` (default: info).
pub fn init_tracing() {
    lattice_rpc::init_tracing();
}

/// Logs as `args` say and exports traces when they name an OTLP endpoint;
/// keep the guard until the host has stopped, so the last spans are sent.
pub fn init_telemetry(args: &HostArgs) -> lattice_rpc::logging::Telemetry {
    lattice_rpc::logging::init(&lattice_rpc::logging::Settings {
        default_filter: None,
        service: "lattice-host".to_string(),
        format: args.log_format,
        otlp_endpoint: args.otlp_endpoint.clone().filter(|url| !url.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    // The unwraps below are assertions on values the tests build: a failure
    // fails the test. This module is compiled only for `cargo test`.
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        host: HostArgs,
    }

    #[test]
    fn debug_output_never_shows_the_seeds() {
        let host_seed = nkeys::KeyPair::new_server().seed().unwrap();
        let cluster_seed = nkeys::KeyPair::new_cluster().seed().unwrap();
        let cli = Cli::try_parse_from([
            "lattice-host",
            "--host-seed",
            &host_seed,
            "--cluster-seed",
            &cluster_seed,
        ])
        .unwrap();
        let shown = format!("{:?}", cli.host);
        assert!(
            !shown.contains(&host_seed) && !shown.contains(&cluster_seed),
            "{shown}"
        );
        assert!(shown.contains("<hidden>"), "{shown}");
    }

    #[test]
    fn only_development_hosts_read_files_anywhere() {
        let dirs = |args: &[&str]| {
            let cli = Cli::try_parse_from([&["lattice-host"], args].concat()).unwrap();
            cli.host.config().unwrap().trust.references.allowed_dirs
        };
        assert_eq!(dirs(&[]), Some(Vec::new()), "no files by default");
        assert_eq!(dirs(&["--allow-unsigned"]), None, "anywhere in development");
        assert_eq!(
            dirs(&["--allow-file-dir", "/srv/actors", "--allow-unsigned"]),
            Some(vec![PathBuf::from("/srv/actors")])
        );
    }

    #[test]
    fn debug_output_never_shows_registry_secrets() {
        let cli = Cli::try_parse_from([
            "lattice-host",
            "--registry-host",
            "registry.example",
            "--registry-user",
            "ci",
            "--registry-password",
            "hunter2-password",
        ])
        .unwrap();
        let shown = format!("{:?}", cli.host);
        assert!(!shown.contains("hunter2-password"), "{shown}");
        assert!(shown.contains("ci"), "{shown}");
    }

    /// A login given by flag names the registry it is for (issue 29,
    /// finding 7): without `--registry-host` it is refused, not sent to
    /// every registry a reference names.
    #[test]
    fn a_registry_login_needs_the_registry_it_is_for() {
        for login in [
            &["--registry-user", "ci", "--registry-password", "pw"][..],
            &["--registry-token", "tok"][..],
        ] {
            let error =
                Cli::try_parse_from(std::iter::once("lattice-host").chain(login.iter().copied()))
                    .err()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
            assert!(error.contains("--registry-host"), "{login:?}: {error}");
        }
    }
}

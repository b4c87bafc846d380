//! `lattice-ctl`: the operator's command-line interface to a lattice.

mod apps;
mod claims;
mod client;
mod keys;
mod lattice;
mod output;
mod project;
mod registry;
mod ui;
mod wadm;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use lattice_host::cli::{init_telemetry, init_tracing, run_in_foreground, HostArgs};
use lattice_interfaces::claims::KeyKind;
use lattice_interfaces::{ComponentId, Contract, HostId, Link};
use output::Format;

/// Drive a Lattice: run hosts, actors, providers and links.
///
/// Connection and output flags go before or after the subcommand.
#[derive(Debug, Parser)]
#[command(name = "lattice-ctl", version = lattice_host::build_info::LONG_VERSION)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a host in the foreground and apply a manifest to it.
    ///
    /// With no NATS configured this is the embedded default: a single-host
    /// lattice in this process.
    Up {
        /// The manifest (TOML) to apply
        manifest: Option<PathBuf>,

        #[command(flatten)]
        host: Box<HostArgs>,
    },
    /// Make and inspect nkeys: account, module, service, server, cluster, user (NATS).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign actors and providers, and read their claims.
    #[command(subcommand)]
    Claims(ClaimsCommand),
    /// List hosts, apps, inventories, links or claims of a lattice, or show an app.
    #[command(subcommand)]
    Get(GetCommand),
    /// Start an actor or a provider on a host of the lattice.
    #[command(subcommand)]
    Start(StartCommand),
    /// Change how many instances of an actor a host may run.
    #[command(subcommand)]
    Scale(ScaleCommand),
    /// Replace a running actor's component without dropping calls.
    #[command(subcommand)]
    Update(UpdateCommand),
    /// Stop an actor or a provider on a host.
    #[command(subcommand)]
    Stop(StopCommand),
    /// Call an exported function of a running actor and print its results.
    ///
    /// Arguments and results are in the WebAssembly Value Encoding (WAVE):
    /// a string is "quoted", a record {name: "x", count: 2}, a list [1, 2],
    /// an option some(1) or none, a result ok("y") or err("z"). The call runs
    /// in a fresh instance under the actor's limits; no link is needed.
    Call {
        /// The actor's id
        actor: ComponentId,
        /// ns:pkg/interface.function, e.g. example:uppercase/convert.upper
        function: String,
        /// Each argument, in WAVE (a negative number is an argument, not a flag)
        #[arg(allow_negative_numbers = true)]
        args: Vec<String>,
        /// The host to call it on [default: one that runs it]
        #[arg(long)]
        host: Option<HostId>,
    },
    /// Put or delete links in the lattice.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Put, get or delete named config in the lattice.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operate on hosts.
    #[command(subcommand)]
    Host(HostCommand),
    /// Set or remove a host's labels.
    #[command(subcommand)]
    Label(LabelCommand),
    /// Follow the lattice's events.
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Publish or request on a NATS subject, to try messaging actors
    /// (like the nats CLI's pub and request).
    #[command(subcommand)]
    Msg(MsgCommand),
    /// Apply an app: a manifest with an [app] table and placements, kept in the lattice and brought about by its hosts.
    ///
    /// `apply FILE` stores the next version; `apply --app NAME --version N`
    /// makes a kept version current again.
    Apply {
        /// The app's manifest: Lattice's TOML or a wadm manifest (YAML); `-` reads standard input
        #[arg(conflicts_with = "file_flag")]
        file: Option<PathBuf>,
        /// The manifest, as wash and kubectl take it (`-f -` reads standard input)
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file_flag: Option<PathBuf>,
        /// The app to roll back (with --version)
        #[arg(long, requires = "version", conflicts_with_all = ["file", "file_flag"])]
        app: Option<String>,
        /// The kept version to make current (with --app)
        #[arg(long, requires = "app")]
        version: Option<u32>,
        #[command(flatten)]
        registry: lattice_oci::args::RegistryArgs,
    },
    /// Show an app.
    #[command(subcommand)]
    App(AppCommand),
    /// Delete an app.
    #[command(subcommand)]
    Delete(DeleteCommand),
    /// Push a component, or a provider binary with its claims, to an OCI registry.
    ///
    /// A provider binary goes into the image index at REF under the
    /// platform its claims vouch for; pushing another platform's build adds
    /// to the index.
    Push {
        /// Where: REGISTRY/REPO:TAG
        reference: String,
        /// A component (.wasm), or a provider binary (its claims in FILE.jwt)
        file: PathBuf,
        /// The platform of an unsigned provider binary, OS/ARCH (e.g. linux/amd64)
        #[arg(long)]
        platform: Option<String>,
        /// What FILE is when its contents do not say: model (an ONNX model for wasi:nn; a FILE ending in .onnx is one) [default: a component if FILE is WebAssembly, else a provider binary]
        #[arg(long, value_parser = ["model"])]
        artifact_type: Option<String>,
        #[command(flatten)]
        registry: lattice_oci::args::RegistryArgs,
    },
    /// Pull a component, or this platform's provider binary and its claims, from an OCI registry.
    Pull {
        /// REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:…
        reference: String,
        /// File to write [default: the repository's last name, .wasm for a component]; claims go to FILE.jwt
        #[arg(short = 'd', long = "destination", value_name = "FILE")]
        destination: Option<PathBuf>,
        #[command(flatten)]
        registry: lattice_oci::args::RegistryArgs,
    },
    /// Show what a registry reference holds: digest, kind, size, platforms and claims. Nothing runs.
    Inspect {
        /// REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:…
        reference: String,
        #[command(flatten)]
        registry: lattice_oci::args::RegistryArgs,
    },
    /// Serve a dashboard of the lattice in the browser: hosts, what they run,
    /// links, apps and events, live.
    ///
    /// Read-only unless --allow-actions; on 127.0.0.1:8844 unless --listen.
    Ui(ui::UiArgs),
    /// Show an actor's log lines (stdout, stderr, wasi:logging) from every
    /// host that runs it: the last ones each host keeps (100 per actor),
    /// then with -f each new one as it is logged.
    Logs {
        /// The actor
        actor: ComponentId,
        /// Go on printing lines as they are logged, until Ctrl-C
        #[arg(short, long)]
        follow: bool,
        /// Only kept lines at most this old (30s, 5m, 1h)
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Only the hosts whose id starts with this
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Only lines at this level or above: trace, debug, info, warn, error
        #[arg(long, default_value = "trace", value_parser = lattice::parse_level)]
        level: String,
    },
    /// Make a project from a template built into this binary: a buildable
    /// component with its WIT, a manifest and a README.
    New {
        /// The template (see --list)
        #[arg(required_unless_present = "list")]
        kind: Option<String>,
        /// The project's name: its actor id and folder
        #[arg(required_unless_present = "list")]
        name: Option<String>,
        /// Where to make it [default: ./NAME]
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// List the templates
        #[arg(long, exclusive = true)]
        list: bool,
    },
    /// Build the project in a folder (cargo, componentize-py, or its own
    /// command in lattice.toml) and sign the component with your developer
    /// key and the claims its imports need, into build/NAME.wasm.
    Build {
        /// The project's folder
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Build the project, serve its app.toml on a host in this process
    /// (running only what your developer key signed), and on each change to
    /// its sources build again and swap the actor in place; a failed build
    /// leaves the last good one serving. Prints each request and the
    /// actor's log lines. With --nats-url the host joins that lattice (its
    /// links go to the lattice, and no app is placed on it)
    Dev {
        /// The project's folder
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Delete every link, named config, claims record and app of the
    /// lattice, straight from its state bucket: works with no host running.
    /// What runs keeps running (stop it, or stop its hosts)
    Reset {
        /// Yes, delete them
        #[arg(long)]
        yes: bool,
    },
}

/// Connection and output options every command takes, before or after
/// the subcommand (as kubectl and the nats CLI take theirs).
#[derive(Debug, clap::Args)]
struct Common {
    #[command(flatten)]
    conn: client::ConnArgs,
    /// Output format
    #[arg(
        short = 'o',
        long = "output",
        value_enum,
        default_value_t,
        global = true
    )]
    output: Format,
}

#[derive(Debug, Subcommand)]
enum AppCommand {
    /// Desired against running, per component and host, with the reasons.
    Status {
        /// The app
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeleteCommand {
    /// Stop everything an app runs and delete its links.
    App {
        /// The app
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum GetCommand {
    /// Every host that answers a ping.
    Hosts,
    /// The lattice's apps: version, versions kept, whether converged.
    Apps,
    /// An app's current manifest: Lattice's TOML, or `-o json`, or `-o wadm`.
    App {
        /// The app
        name: String,
    },
    /// What a host (or every host) runs.
    Inventory {
        /// A host id; every host when left out
        host: Option<HostId>,
    },
    /// Every link in the lattice.
    Links,
    /// Claims of the actors the lattice has run.
    Claims,
}

#[derive(Debug, Subcommand)]
enum StartCommand {
    /// Start actor ID from REF: a registry reference (REGISTRY/REPO:TAG or @sha256:…) or a component file on the host.
    Actor {
        /// Actor id
        id: ComponentId,
        /// REGISTRY/REPO:TAG, REGISTRY/REPO@sha256:…, or a component file path on the host
        reference: String,
        #[command(flatten)]
        placement: lattice::Placement,
        /// Most instances at once
        #[arg(long, default_value_t = 100)]
        max_instances: u32,
        /// HTTP calls one instance may serve before a fresh one takes over
        /// (its memory lives on between them) [default: 1, fresh per call]
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        instance_reuse: Option<u32>,
        /// 0: scale from zero (checked and compiled now, its code linked
        /// and held in memory from its first call on); 1: linked now
        /// [default: 1]
        #[arg(long, value_parser = clap::value_parser!(u32).range(0..=1))]
        min_instances: Option<u32>,
        /// Named config NAME its instances read through wasi:config/store;
        /// repeat for more, later ones win a key (write them with `config put`)
        #[arg(long = "config", value_name = "NAME")]
        config: Vec<ComponentId>,
        /// A secret KEY=REF it reads through wasi:config/store, REF being
        /// file:/path (under the host's --secret-dir) or env:LATTICE_SECRET_NAME,
        /// resolved on the host; repeat for more
        #[arg(long = "secret", value_name = "KEY=REF", value_parser = parse_secret)]
        secrets: Vec<(String, String)>,
    },
    /// Start provider ID running REFERENCE: a built-in provider (http-server, http-client,
    /// keyvalue, messaging-nats), a registry reference to a provider, or the path of a provider binary.
    Provider {
        /// Provider id
        id: ComponentId,
        /// What to run: a built-in provider, or a provider binary (a registry
        /// reference or a path on the host) run as its own process,
        /// supervised by the host
        reference: String,
        #[command(flatten)]
        placement: lattice::Placement,
        /// Provider config, KEY=VALUE[,KEY=VALUE]; repeat for more
        #[arg(long = "config", value_parser = lattice::parse_pairs)]
        config: Vec<lattice::Pairs>,
    },
}

#[derive(Debug, Subcommand)]
enum ScaleCommand {
    /// Scale actor ID on a host; 0 stops it.
    Actor {
        /// Actor id
        id: ComponentId,
        /// Its registry reference or component file path on the host [default: what it runs]
        reference: Option<String>,
        /// The host
        #[arg(long)]
        host: HostId,
        /// Most instances at once
        #[arg(long)]
        max_instances: u32,
    },
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    /// Give actor ID a new component.
    Actor {
        /// Actor id
        id: ComponentId,
        /// The new registry reference or component file path on the host
        new_reference: String,
        /// The host
        #[arg(long)]
        host: HostId,
    },
}

#[derive(Debug, Subcommand)]
enum StopCommand {
    /// Stop actor ID on a host, or on every host that runs it.
    Actor {
        /// Actor id
        id: ComponentId,
        /// The host [default: every host that runs it]
        #[arg(long)]
        host: Option<HostId>,
    },
    /// Stop provider ID on a host, or on every host that runs it.
    Provider {
        /// Provider id
        id: ComponentId,
        /// The host [default: every host that runs it]
        #[arg(long)]
        host: Option<HostId>,
    },
}

#[derive(Debug, Subcommand)]
enum LinkCommand {
    /// Link SOURCE to TARGET over a contract, e.g. wasi:http/incoming-handler.
    Put {
        /// The caller
        source: ComponentId,
        /// The callee
        target: ComponentId,
        /// NS:PKG/IFACE[,IFACE]
        contract: String,
        /// Link name
        #[arg(long, default_value = "default")]
        name: String,
        /// Source config, KEY=VALUE[,KEY=VALUE] (a comma before a KEY= starts a new pair); repeat for more
        #[arg(long = "source-config", value_parser = lattice::parse_pairs)]
        source_config: Vec<lattice::Pairs>,
        /// Target config, KEY=VALUE[,KEY=VALUE]; repeat for more
        #[arg(long = "target-config", value_parser = lattice::parse_pairs)]
        target_config: Vec<lattice::Pairs>,
    },
    /// Delete the link from SOURCE for NS:PKG (and name).
    Del {
        /// The caller
        source: ComponentId,
        /// NS:PKG or NS:PKG/IFACE
        package: String,
        /// Link name
        #[arg(long, default_value = "default")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Store named config.
    Put {
        /// Config name
        name: ComponentId,
        /// KEY=VALUE pairs
        #[arg(value_parser = lattice::parse_pair, required = true)]
        values: Vec<(String, String)>,
    },
    /// Show named config.
    Get {
        /// Config name
        name: ComponentId,
    },
    /// Delete named config.
    Del {
        /// Config name
        name: ComponentId,
    },
}

#[derive(Debug, Subcommand)]
enum HostCommand {
    /// Stop a host gracefully.
    Stop {
        /// The host id
        host: HostId,
    },
    /// Move a host's app components elsewhere, then stop it (before a node goes down).
    ///
    /// Labels the host `lattice.draining=true`: the reconciler places nothing
    /// on it and places what it runs on other hosts. Once every app has
    /// converged without it, the host is stopped gracefully.
    Drain {
        /// The host id
        host: HostId,
        /// Seconds to wait for the apps to run elsewhere
        #[arg(long, default_value_t = 120, value_name = "SECS")]
        wait: u64,
    },
}

#[derive(Debug, Subcommand)]
enum LabelCommand {
    /// Set a label on a host: what app placements and auctions match on.
    Put {
        /// The host id
        host: HostId,
        /// KEY=VALUE
        #[arg(value_parser = parse_pair)]
        label: (String, String),
    },
    /// Remove a label from a host.
    Del {
        /// The host id
        host: HostId,
        /// The label's key
        key: String,
    },
}

#[derive(Debug, Subcommand)]
enum WatchCommand {
    /// Print every event of the lattice as it happens, until Ctrl-C or
    /// --timeout: a line each (-o json: one CloudEvent per line).
    Events,
}

#[derive(Debug, Subcommand)]
enum MsgCommand {
    /// Publish BODY on SUBJECT.
    Pub {
        /// The subject
        subject: String,
        /// The message body
        #[arg(default_value = "")]
        body: String,
    },
    /// Send BODY to SUBJECT and print the reply.
    Request {
        /// The subject
        subject: String,
        /// The message body
        #[arg(default_value = "")]
        body: String,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a key pair and print its public key and seed.
    Gen {
        /// account, module, service, server, cluster or user (a NATS user key)
        kind: KeyKind,
        /// Write the seed to this new file (mode 600) instead of printing it
        #[arg(long, value_name = "FILE")]
        seed_file: Option<PathBuf>,
    },
    /// Show the public key and kind of a seed (never the seed).
    Inspect {
        /// A seed (S…) or a file holding one
        seed: String,
        /// Print the public key alone
        #[arg(long)]
        public_key: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ClaimsCommand {
    /// Sign a component: embed claims (a JWT) in its wasmcloud_jwt section.
    ///
    /// Signing again replaces the old claims.
    Sign(claims::SignArgs),
    /// Sign a provider binary: write its claims to BINARY.jwt.
    SignProvider(claims::SignProviderArgs),
    /// Show the claims of a component or a provider binary, checked: signature, hash and validity window.
    Inspect {
        /// A component, or a provider binary (its claims are in BINARY.jwt; the .jwt may be given instead)
        wasm: PathBuf,
    },
}

async fn run(common: Common, command: Command) -> anyhow::Result<()> {
    let Common { conn, output } = common;
    if output == Format::Wadm && !matches!(command, Command::Get(GetCommand::App { .. })) {
        anyhow::bail!("-o wadm is for `get app NAME`; other commands print table or json");
    }
    match command {
        Command::Up { manifest, mut host } => {
            host.nats = conn.nats;
            run_in_foreground(&host, manifest.as_deref()).await
        }
        Command::Keys(KeysCommand::Gen { kind, seed_file }) => {
            keys::generate(kind, seed_file.as_deref(), output)
        }
        Command::Keys(KeysCommand::Inspect { seed, public_key }) => {
            keys::inspect(&seed, public_key, output)
        }
        Command::Claims(ClaimsCommand::Sign(args)) => claims::sign(&args, output),
        Command::Claims(ClaimsCommand::SignProvider(args)) => claims::sign_provider_binary(&args),
        Command::Claims(ClaimsCommand::Inspect { wasm }) => claims::inspect(&wasm, output),
        Command::Get(GetCommand::Hosts) => lattice::get_hosts(&conn, output).await,
        Command::Get(GetCommand::Inventory { host }) => {
            lattice::get_inventory(&conn, host.as_ref(), output).await
        }
        Command::Get(GetCommand::Links) => lattice::get_links(&conn, output).await,
        Command::Get(GetCommand::Claims) => lattice::get_claims(&conn, output).await,
        Command::Get(GetCommand::Apps) => apps::list(&conn, output).await,
        Command::Get(GetCommand::App { name }) => apps::show(&conn, &name, output).await,
        Command::Apply {
            file,
            file_flag,
            app,
            version,
            registry,
        } => {
            let rollback = app.as_deref().zip(version);
            let file = file.or(file_flag);
            apps::apply(&conn, file.as_deref(), rollback, &registry, output).await
        }
        Command::App(AppCommand::Status { name }) => apps::status(&conn, &name, output).await,
        Command::Delete(DeleteCommand::App { name }) => apps::delete(&conn, &name, output).await,
        Command::Start(StartCommand::Actor {
            id,
            reference,
            placement,
            max_instances,
            instance_reuse,
            min_instances,
            config,
            secrets,
        }) => {
            let settings = lattice::ActorSettings {
                max_instances,
                instance_reuse,
                min_instances,
                config,
                secrets: secrets.into_iter().collect(),
            };
            lattice::start_actor(&conn, &id, &reference, &placement, settings, output).await
        }
        Command::Start(StartCommand::Provider {
            id,
            reference,
            placement,
            config,
        }) => {
            let config = lattice::flatten(config);
            lattice::start_provider(&conn, &id, &reference, &placement, &config, output).await
        }
        Command::Scale(ScaleCommand::Actor {
            id,
            reference,
            host,
            max_instances,
        }) => {
            let reference = reference.unwrap_or_default();
            lattice::scale_actor(&conn, &host, &id, &reference, max_instances, output).await
        }
        Command::Update(UpdateCommand::Actor {
            id,
            new_reference,
            host,
        }) => lattice::update_actor(&conn, &host, &id, &new_reference, output).await,
        Command::Call {
            actor,
            function,
            args,
            host,
        } => lattice::call_actor(&conn, host.as_ref(), &actor, &function, args, output).await,
        Command::Stop(StopCommand::Actor { id, host }) => {
            lattice::stop_actor(&conn, host.as_ref(), &id, output).await
        }
        Command::Stop(StopCommand::Provider { id, host }) => {
            lattice::stop_provider(&conn, host.as_ref(), &id, output).await
        }
        Command::Link(LinkCommand::Put {
            source,
            target,
            contract,
            name,
            source_config,
            target_config,
        }) => {
            let contract = Contract::parse(&contract)?;
            let mut link = Link::new(source, target, contract);
            link.name = name;
            link.source_config = lattice::flatten(source_config).into_iter().collect();
            link.target_config = lattice::flatten(target_config).into_iter().collect();
            lattice::put_link(&conn, link, output).await
        }
        Command::Link(LinkCommand::Del {
            source,
            package,
            name,
        }) => lattice::delete_link(&conn, &source, &package, &name, output).await,
        Command::Config(ConfigCommand::Put { name, values }) => {
            lattice::put_config(&conn, &name, &values, output).await
        }
        Command::Config(ConfigCommand::Get { name }) => {
            lattice::get_config(&conn, &name, output).await
        }
        Command::Config(ConfigCommand::Del { name }) => {
            lattice::delete_config(&conn, &name, output).await
        }
        Command::Host(HostCommand::Stop { host }) => lattice::stop_host(&conn, &host, output).await,
        Command::Host(HostCommand::Drain { host, wait }) => {
            lattice::drain_host(&conn, &host, Duration::from_secs(wait), output).await
        }
        Command::Label(LabelCommand::Put {
            host,
            label: (key, value),
        }) => lattice::put_label(&conn, &host, &key, &value, output).await,
        Command::Label(LabelCommand::Del { host, key }) => {
            lattice::delete_label(&conn, &host, &key, output).await
        }
        Command::Watch(WatchCommand::Events) => lattice::watch_events(&conn, output).await,
        Command::Ui(args) => ui::run(&conn, &args).await,
        Command::Reset { yes } => lattice::reset(&conn, yes, output).await,
        Command::New {
            kind, name, dir, ..
        } => match (kind, name) {
            (Some(kind), Some(name)) => project::new(&kind, &name, dir.as_deref(), output),
            _ => project::list(output),
        },
        Command::Build { dir } => project::build::build(&dir, output),
        Command::Dev { dir } => project::dev::dev(&dir, &conn.nats).await,
        Command::Logs {
            actor,
            follow,
            since,
            host,
            level,
        } => {
            let query = lattice::LogsQuery {
                actor: &actor,
                host: host.as_deref(),
                level: &level,
                since,
                follow,
            };
            lattice::show_logs(&conn, &query, output).await
        }
        Command::Push {
            reference,
            file,
            platform,
            artifact_type,
            registry,
        } => {
            let kind = (platform.as_deref(), artifact_type.as_deref());
            registry::push(&reference, &file, kind, &registry, output).await
        }
        Command::Pull {
            reference,
            destination,
            registry,
        } => registry::pull(&reference, destination.as_deref(), &registry, output).await,
        Command::Inspect {
            reference,
            registry,
        } => registry::inspect(&reference, &registry, output).await,
        Command::Msg(MsgCommand::Pub { subject, body }) => {
            lattice::publish(&conn, &subject, &body).await
        }
        Command::Msg(MsgCommand::Request { subject, body }) => {
            lattice::request(&conn, &subject, &body, output).await
        }
    }
}

/// The allocator the host uses: `lattice-ctl up` runs one.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let _telemetry = match &cli.command {
        Command::Up { host, .. } => Some(init_telemetry(host)),
        Command::Dev { .. } => Some(lattice_rpc::logging::init(
            &lattice_rpc::logging::Settings {
                service: "lattice-ctl dev".to_string(),
                default_filter: Some(project::dev::LOG_FILTER.to_string()),
                ..Default::default()
            },
        )),
        _ => {
            init_tracing();
            None
        }
    };
    match run(cli.common, cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `KEY=file:/path` or `KEY=env:LATTICE_SECRET_NAME`, checked here so a
/// typo fails before anything is sent.
fn parse_secret(text: &str) -> Result<(String, String), String> {
    let (key, reference) = text
        .split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .ok_or_else(|| format!("{text:?}: write KEY=file:/path or KEY=env:LATTICE_SECRET_NAME"))?;
    lattice_interfaces::secret::SecretRef::parse(reference)?;
    Ok((key.to_string(), reference.to_string()))
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .ok_or_else(|| format!("{text:?}: write KEY=VALUE"))
}

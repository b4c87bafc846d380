//! `lattice-ctl`: the operator's command-line interface to a lattice.

mod claims;
mod client;
mod keys;
mod lattice;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lattice_host::cli::{init_tracing, run_in_foreground, HostArgs};
use lattice_interfaces::claims::KeyKind;
use lattice_interfaces::{ComponentId, Contract, Link};
use output::Format;

/// Drive a Lattice: run hosts, actors, providers and links.
#[derive(Debug, Parser)]
#[command(name = "lattice-ctl", version)]
struct Cli {
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
        host: HostArgs,
    },
    /// Make and inspect nkeys: account, module, service, server, cluster.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Sign actors and providers, and read their claims.
    #[command(subcommand)]
    Claims(ClaimsCommand),
    /// List hosts, inventories, links or claims of a lattice.
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
    /// Put or delete links in the lattice.
    #[command(subcommand)]
    Link(LinkCommand),
    /// Put, get or delete named config in the lattice.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Operate on hosts.
    #[command(subcommand)]
    Host(HostCommand),
    /// Follow the lattice's events.
    #[command(subcommand)]
    Watch(WatchCommand),
}

/// Connection and output options every lattice command takes.
#[derive(Debug, clap::Args)]
struct Common {
    #[command(flatten)]
    conn: client::ConnArgs,
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, default_value_t)]
    output: Format,
}

#[derive(Debug, Subcommand)]
enum GetCommand {
    /// Every host that answers a ping.
    Hosts(Common),
    /// What a host (or every host) runs.
    Inventory {
        /// A host id; every host when left out
        host: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Every link in the lattice.
    Links(Common),
    /// Claims of the actors the lattice has run.
    Claims(Common),
}

#[derive(Debug, Subcommand)]
enum StartCommand {
    /// Start actor ID from REF (a component file on the host).
    Actor {
        /// Actor id
        id: ComponentId,
        /// Component file path on the host
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
        #[command(flatten)]
        common: Common,
    },
    /// Start provider ID from REF: a built-in kind (http-server, http-client,
    /// keyvalue, messaging-nats) or the path of a provider binary.
    Provider {
        /// Provider id
        id: ComponentId,
        /// What to run: a built-in kind, or a provider binary's path (run as
        /// its own process, supervised by the host)
        reference: String,
        #[command(flatten)]
        placement: lattice::Placement,
        /// Provider config, KEY=VALUE; repeat for more
        #[arg(long = "config", value_parser = lattice::parse_pair)]
        config: Vec<(String, String)>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum ScaleCommand {
    /// Scale actor ID (running REF) on a host; 0 stops it.
    Actor {
        /// Actor id
        id: ComponentId,
        /// Its component file path on the host
        reference: String,
        /// The host
        #[arg(long)]
        host: String,
        /// Most instances at once
        #[arg(long)]
        max_instances: u32,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum UpdateCommand {
    /// Give actor ID a new component.
    Actor {
        /// Actor id
        id: ComponentId,
        /// The new component file path on the host
        new_reference: String,
        /// The host
        #[arg(long)]
        host: String,
        #[command(flatten)]
        common: Common,
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
        host: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Stop provider ID on a host, or on every host that runs it.
    Provider {
        /// Provider id
        id: ComponentId,
        /// The host [default: every host that runs it]
        #[arg(long)]
        host: Option<String>,
        #[command(flatten)]
        common: Common,
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
        /// Source config, KEY=VALUE; repeat for more
        #[arg(long = "source-config", value_parser = lattice::parse_pair)]
        source_config: Vec<(String, String)>,
        /// Target config, KEY=VALUE; repeat for more
        #[arg(long = "target-config", value_parser = lattice::parse_pair)]
        target_config: Vec<(String, String)>,
        #[command(flatten)]
        common: Common,
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
        #[command(flatten)]
        common: Common,
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
        #[command(flatten)]
        common: Common,
    },
    /// Show named config.
    Get {
        /// Config name
        name: ComponentId,
        #[command(flatten)]
        common: Common,
    },
    /// Delete named config.
    Del {
        /// Config name
        name: ComponentId,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum HostCommand {
    /// Stop a host gracefully.
    Stop {
        /// The host id
        host: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
enum WatchCommand {
    /// Print every event of the lattice as it happens.
    Events(Common),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a key pair and print its public key and seed.
    Gen {
        /// account, module, service, server or cluster
        kind: KeyKind,
        /// Output format
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
    },
    /// Show the public key and kind of a seed (never the seed).
    Inspect {
        /// A seed (S…) or a file holding one
        seed: String,
        /// Output format
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
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
    /// Show a component's claims, checked: signature, hash and validity window.
    Inspect {
        /// The component
        wasm: PathBuf,
        /// Output format
        #[arg(short = 'o', long = "output", value_enum, default_value_t)]
        output: Format,
    },
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Up { manifest, host } => run_in_foreground(&host, manifest.as_deref()).await,
        Command::Keys(KeysCommand::Gen { kind, output }) => keys::generate(kind, output),
        Command::Keys(KeysCommand::Inspect { seed, output }) => keys::inspect(&seed, output),
        Command::Claims(ClaimsCommand::Sign(args)) => claims::sign(&args),
        Command::Claims(ClaimsCommand::SignProvider(args)) => claims::sign_provider_binary(&args),
        Command::Claims(ClaimsCommand::Inspect { wasm, output }) => claims::inspect(&wasm, output),
        Command::Get(GetCommand::Hosts(c)) => lattice::get_hosts(&c.conn, c.output).await,
        Command::Get(GetCommand::Inventory { host, common: c }) => {
            lattice::get_inventory(&c.conn, host.as_deref(), c.output).await
        }
        Command::Get(GetCommand::Links(c)) => lattice::get_links(&c.conn, c.output).await,
        Command::Get(GetCommand::Claims(c)) => lattice::get_claims(&c.conn, c.output).await,
        Command::Start(StartCommand::Actor {
            id,
            reference,
            placement,
            max_instances,
            instance_reuse,
            common: c,
        }) => {
            lattice::start_actor(
                &c.conn,
                &id,
                &reference,
                &placement,
                (max_instances, instance_reuse),
                c.output,
            )
            .await
        }
        Command::Start(StartCommand::Provider {
            id,
            reference,
            placement,
            config,
            common: c,
        }) => {
            lattice::start_provider(&c.conn, &id, &reference, &placement, &config, c.output).await
        }
        Command::Scale(ScaleCommand::Actor {
            id,
            reference,
            host,
            max_instances,
            common: c,
        }) => lattice::scale_actor(&c.conn, &host, &id, &reference, max_instances, c.output).await,
        Command::Update(UpdateCommand::Actor {
            id,
            new_reference,
            host,
            common: c,
        }) => lattice::update_actor(&c.conn, &host, &id, &new_reference, c.output).await,
        Command::Stop(StopCommand::Actor {
            id,
            host,
            common: c,
        }) => lattice::stop_actor(&c.conn, host.as_deref(), &id, c.output).await,
        Command::Stop(StopCommand::Provider {
            id,
            host,
            common: c,
        }) => lattice::stop_provider(&c.conn, host.as_deref(), &id, c.output).await,
        Command::Link(LinkCommand::Put {
            source,
            target,
            contract,
            name,
            source_config,
            target_config,
            common: c,
        }) => {
            let contract = Contract::parse(&contract)?;
            let mut link = Link::new(source, target, contract);
            link.name = name;
            link.source_config = source_config.into_iter().collect();
            link.target_config = target_config.into_iter().collect();
            lattice::put_link(&c.conn, link, c.output).await
        }
        Command::Link(LinkCommand::Del {
            source,
            package,
            name,
            common: c,
        }) => lattice::delete_link(&c.conn, &source, &package, &name, c.output).await,
        Command::Config(ConfigCommand::Put {
            name,
            values,
            common: c,
        }) => lattice::put_config(&c.conn, &name, &values, c.output).await,
        Command::Config(ConfigCommand::Get { name, common: c }) => {
            lattice::get_config(&c.conn, &name, c.output).await
        }
        Command::Config(ConfigCommand::Del { name, common: c }) => {
            lattice::delete_config(&c.conn, &name, c.output).await
        }
        Command::Host(HostCommand::Stop { host, common: c }) => {
            lattice::stop_host(&c.conn, &host, c.output).await
        }
        Command::Watch(WatchCommand::Events(c)) => lattice::watch_events(&c.conn, c.output).await,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

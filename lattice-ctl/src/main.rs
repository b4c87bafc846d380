//! `lattice-ctl`: the operator's command-line interface to a lattice.

mod claims;
mod keys;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lattice_host::cli::{init_tracing, run_in_foreground, HostArgs};
use lattice_interfaces::claims::KeyKind;
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

//! `lattice-ctl`: the operator's command-line interface to a lattice.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use lattice_host::cli::{init_tracing, run_in_foreground, HostArgs};

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
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let result = match cli.command {
        Command::Up { manifest, host } => run_in_foreground(&host, manifest.as_deref()).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

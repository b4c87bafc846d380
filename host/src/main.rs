//! `lattice-host`: runs a Lattice host in the foreground.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lattice_host::cli::{init_tracing, run_in_foreground, HostArgs};

/// Runs a Lattice host: Wasm actors, capability providers and links.
#[derive(Debug, Parser)]
#[command(name = "lattice-host", version)]
struct Cli {
    /// A manifest to apply at start
    #[arg(long, env = "LATTICE_MANIFEST", value_name = "FILE")]
    manifest: Option<PathBuf>,

    #[command(flatten)]
    host: HostArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run_in_foreground(&cli.host, cli.manifest.as_deref()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

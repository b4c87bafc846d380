//! `lattice-host`: runs a Lattice host in the foreground.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use lattice_host::cli::{init_telemetry, run_in_foreground, HostArgs};
use lattice_host::lattice::NatsArgs;

/// mimalloc rather than glibc's malloc: every tokio task is an aligned
/// allocation of a kilobyte or more, which sends glibc into
/// `malloc_consolidate` (BENCHMARKS.md, "Side by side with `wasmtime serve`").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs a Lattice host: Wasm actors, capability providers and links.
#[derive(Debug, Parser)]
#[command(name = "lattice-host", version = lattice_host::build_info::LONG_VERSION)]
struct Cli {
    /// A manifest to apply at start
    #[arg(long, env = "LATTICE_MANIFEST", value_name = "FILE")]
    manifest: Option<PathBuf>,

    #[command(flatten)]
    host: HostArgs,

    /// NATS connection and lattice id; without a URL the host runs alone.
    #[command(flatten)]
    nats: NatsArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut cli = Cli::parse();
    cli.host.nats = cli.nats;
    let _telemetry = init_telemetry(&cli.host);
    match run_in_foreground(&cli.host, cli.manifest.as_deref()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

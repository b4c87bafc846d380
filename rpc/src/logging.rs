//! How every Lattice process logs: to stderr, filtered by `RUST_LOG`, in
//! colour only when stderr is a terminal (no escape codes in files,
//! journals or `kubectl logs`).

/// Logs to stderr, filtered by `RUST_LOG` (default: `info`, NATS client
/// chatter at `warn`). A second call does nothing.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,async_nats=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

//! What the host's benchmarks share: their knobs, the process's CPU time
//! and percentiles.

use std::time::Duration;

/// The number in environment variable `name`, else `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU time of this process so far (`/proc`, 10 ms ticks).
///
/// # Panics
///
/// Where `/proc/self/stat` cannot be read: a benchmark, not a product.
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// Applies `manifest` as the next version of app `name`, straight into
/// the lattice's `state` (no `lattice-ctl`), and returns when a host's
/// reconciler has recorded it converged.
///
/// # Panics
///
/// When the bucket cannot be read or written.
#[allow(clippy::unwrap_used)]
pub async fn apply_until_converged(
    state: &lattice_host::lattice::LatticeState,
    name: &str,
    manifest: &lattice_interfaces::Manifest,
) {
    state
        .update_apps(|apps| {
            let app = apps.apps.entry(name.into()).or_insert_with(|| {
                lattice_interfaces::protocol::app::App {
                    current: 0,
                    versions: Vec::new(),
                }
            });
            Ok::<_, String>(app.push(manifest.clone(), 0))
        })
        .await
        .unwrap()
        .unwrap();
    while !state
        .app_status(name)
        .await
        .unwrap()
        .is_some_and(|s| s.converged)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `p` percentile (0 to 1) of `sorted`, nearest rank.
///
/// # Panics
///
/// When `sorted` is empty.
#[allow(clippy::indexing_slicing)]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

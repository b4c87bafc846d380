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

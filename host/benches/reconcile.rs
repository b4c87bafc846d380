//! The reconciler's cost: two hosts, an app of 1,000 actors (one component,
//! distinct ids, one replica each) applied and converged; then the process's
//! CPU time over a window of converged passes, against the same window with
//! the same 1,000 actors running and no app (the baseline: heartbeats,
//! subscriptions). Also: time from apply to converged.
//!
//! Run with `cargo bench -p lattice-host --bench reconcile` (also from
//! `./scripts/bench`). Knobs: `BENCH_ACTORS` (default 1000),
//! `BENCH_SECS` (window, default 10).

// Bench code: a failed unwrap is a failed bench.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use lattice_host::lattice::{ClusterKeys, Lattice, LatticeState, ReconcilerTiming};
use lattice_host::{Host, HostConfig, RuntimeConfig, TrustPolicy};
use lattice_interfaces::Manifest;
use lattice_tests::bench::{apply_until_converged, cpu_time, env_or};
use lattice_tests::hosts;
use lattice_tests::nats::NatsServer;

async fn cpu_over(window: Duration) -> Duration {
    let before = cpu_time();
    tokio::time::sleep(window).await;
    cpu_time() - before
}

#[tokio::main]
async fn main() {
    let actors = env_or("BENCH_ACTORS", 1000);
    let window = Duration::from_secs(env_or("BENCH_SECS", 10));
    let nats = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let mut joined = Vec::new();
    for _ in 0..2 {
        let host = Host::new(HostConfig {
            trust: TrustPolicy {
                allow_unsigned: true,
                ..TrustPolicy::default()
            },
            runtime: RuntimeConfig {
                cache_dir: Some(cache.path().to_path_buf()),
                pool_instances: 100,
                ..RuntimeConfig::default()
            },
            ..HostConfig::default()
        })
        .unwrap();
        let mut config = hosts::lattice_config(&nats.url(), ClusterKeys::development());
        config.reconcile = ReconcilerTiming::every(Duration::from_secs(2));
        config.heartbeat = Duration::from_secs(30);
        let lattice = Lattice::join(host.clone(), &config).await.unwrap();
        joined.push((host, lattice));
    }
    let hello = lattice_tests::fixtures::wasm("hello");
    let mut text = String::from("[app]\nname = \"many\"\n");
    for n in 0..actors {
        write!(
            text,
            "[[actors]]\nid = \"hello-{n}\"\nreference = \"{}\"\nmax_instances = 1\n",
            hello.display()
        )
        .unwrap();
    }
    let manifest = Manifest::from_toml(&text).unwrap();
    let js = async_nats::jetstream::new(nats.client().await);
    let state = LatticeState::existing(&js, "LATTICE_default")
        .await
        .unwrap();

    let applied = Instant::now();
    apply_until_converged(&state, "many", &manifest).await;
    let converge = applied.elapsed();
    let running: usize = joined.iter().map(|(h, _)| h.actors().len()).sum();
    println!("{actors} actors in one app over 2 hosts: converged {:.1} s after apply ({running} running)", converge.as_secs_f64());

    let with_app = cpu_over(window).await;
    // The baseline: the same actors running, the app's record gone (so the
    // reconciler reads one key per pass and stops), nothing stopped.
    state
        .update_apps(|apps| {
            apps.apps.clear();
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    let without = cpu_over(window).await;
    let per_second = |cpu: Duration| cpu.as_secs_f64() * 1e3 / window.as_secs_f64();
    println!(
        "CPU of the whole process (2 hosts, NATS clients) over {}s: converged app {:.1} ms/s, no app {:.1} ms/s; the reconciler's share {:.1} ms/s ({:.2}% of one core), one pass every 2 s",
        window.as_secs(),
        per_second(with_app),
        per_second(without),
        per_second(with_app) - per_second(without),
        (per_second(with_app) - per_second(without)) / 10.0
    );
}

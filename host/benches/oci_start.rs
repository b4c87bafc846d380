//! Starting actors from an OCI registry: start → first 200 of `examples/hello`
//! from a registry reference with an empty cache (pull, verify, compile) and
//! with a warm one (neither downloads nor compiles), against the same
//! component started from a file with a warm compile cache; then how many
//! downloads 100 concurrent starts of one new digest cause (target: 1).
//!
//! The registry is Debian's `docker-registry` on a free port (plain HTTP
//! on loopback), started here. Run with `./scripts/bench`, or
//! `cargo bench -p lattice-host --bench oci_start`. Knob: `BENCH_ROUNDS`
//! (starts per row, default 10).

// Bench code: a failed unwrap is a failed bench.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_host::{Host, HostConfig, RuntimeConfig, TrustPolicy};
use lattice_interfaces::ActorSpec;
use lattice_oci::Registry;
use lattice_tests::bench::percentile;
use lattice_tests::hosts::{self, id};
use lattice_tests::registry::RegistryServer;

fn spec(name: &str, reference: &str) -> ActorSpec {
    ActorSpec::new(id(name), reference)
}

fn host(registry: &RegistryServer, cache: &Path) -> Host {
    Host::new(HostConfig {
        trust: TrustPolicy {
            allow_unsigned: true,
            ..TrustPolicy::default()
        },
        registries: hosts::plain_http(registry),
        runtime: RuntimeConfig {
            cache_dir: Some(cache.to_path_buf()),
            pool_instances: 200,
            ..RuntimeConfig::default()
        },
        ..HostConfig::default()
    })
    .unwrap()
}

/// Start of `reference` on a new host using `cache` → the first 200 from it.
async fn start_to_first_200(registry: &RegistryServer, cache: &Path, reference: &str) -> Duration {
    let host = host(registry, cache);
    let started = Instant::now();
    host.start_actor(&spec("hello", reference)).await.unwrap();
    hosts::start_provider(&host, "http", "http-server");
    host.put_link(hosts::http_link("http", "hello", "127.0.0.1:0"))
        .unwrap();
    let url = hosts::first_url(&host);
    loop {
        let reply = lattice_tests::http_client::get(&url).await;
        if reply.status == 200 {
            break;
        }
    }
    let elapsed = started.elapsed();
    host.shutdown(Duration::ZERO).await;
    elapsed
}

fn report(name: &str, mut times: Vec<Duration>) -> Duration {
    times.sort();
    let (p50, p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
    println!(
        "{name:<48} p50 {:>7.1} ms   p99 {:>7.1} ms   ({} starts)",
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        times.len()
    );
    p50
}

#[tokio::main]
async fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let registry = RegistryServer::start();
    let client = Registry::new(hosts::plain_http(&registry)).unwrap();
    let wasm = lattice_tests::fixtures::wasm_bytes("hello");
    let reference = registry.reference("bench/hello:1");
    lattice_oci::push::component(&client, &reference, wasm.clone())
        .await
        .unwrap();
    let file = tempfile::tempdir().unwrap();
    let file_path = file.path().join("hello.wasm");
    std::fs::write(&file_path, &wasm).unwrap();

    let mut cold = Vec::new();
    for _ in 0..rounds {
        let cache = tempfile::tempdir().unwrap();
        cold.push(start_to_first_200(&registry, cache.path(), &reference).await);
    }
    let warm_cache = tempfile::tempdir().unwrap();
    start_to_first_200(&registry, warm_cache.path(), &reference).await;
    let pinned_hello = format!(
        "{}@{}",
        registry.reference("bench/hello"),
        client
            .manifest(&lattice_oci::OciReference::parse(&reference).unwrap())
            .await
            .unwrap()
            .1
    );
    let mut warm = Vec::new();
    let mut warm_digest = Vec::new();
    let mut from_file = Vec::new();
    for _ in 0..rounds {
        warm.push(start_to_first_200(&registry, warm_cache.path(), &reference).await);
        warm_digest.push(start_to_first_200(&registry, warm_cache.path(), &pinned_hello).await);
        from_file.push(
            start_to_first_200(
                &registry,
                warm_cache.path(),
                &file_path.display().to_string(),
            )
            .await,
        );
    }
    println!("start -> first 200 of examples/hello, in-process host (no process start)");
    let cold = report("registry tag, empty cache (pull+compile)", cold);
    let warm = report("registry tag, warm cache (tag resolved, no pull)", warm);
    report("registry digest, warm cache (no network)", warm_digest);
    let file = report("file, warm compile cache (baseline)", from_file);
    println!(
        "ratios: warm registry / file {:.2}x, empty / warm {:.1}x",
        warm.as_secs_f64() / file.as_secs_f64(),
        cold.as_secs_f64() / warm.as_secs_f64()
    );

    // 100 starts of one digest no host has seen, at once.
    let mut fresh = wasm.clone();
    // A custom section makes new bytes, so a new digest, of the same component.
    fresh.extend_from_slice(&[0, 6, 5, b'b', b'e', b'n', b'c', b'h']);
    let fresh_ref = registry.reference("bench/hello:fresh");
    let digest = lattice_oci::push::component(&client, &fresh_ref, fresh.clone())
        .await
        .unwrap();
    let pinned = format!("{}@{digest}", registry.reference("bench/hello"));
    let cache = tempfile::tempdir().unwrap();
    let host = Arc::new(host(&registry, cache.path()));
    let started = Instant::now();
    let starts = (0..100).map(|n| {
        let (host, pinned) = (host.clone(), pinned.clone());
        tokio::spawn(async move {
            host.start_actor(&spec(&format!("hello-{n}"), &pinned))
                .await
                .map(drop)
        })
    });
    for started in futures::future::join_all(starts).await {
        started.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    let layer = lattice_oci::reference::sha256_digest(&fresh);
    println!(
        "100 concurrent starts of one new digest: {} download(s) by the host, {} GET(s) of the blob at the registry, all started in {:.0} ms",
        host.registry_downloads(),
        registry.blob_downloads(&layer),
        elapsed.as_secs_f64() * 1e3
    );
}

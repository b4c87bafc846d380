//! Blob storage throughput: objects uploaded (`PUT`) and downloaded (`GET`)
//! through the `blobby` example, with the blob store provider in the host's
//! process and on another host (the actor on host A, the provider on host
//! B, every chunk an invocation over NATS), both on the filesystem backend.
//! Floors, measured in the same run on the same machine: the same bytes
//! written to and read from a file with the same chunk size, and put into
//! and read from a NATS object store through async-nats.
//!
//! Bodies are made and consumed as streams by the client here, so the
//! process's resident memory (the hosts run in it) shows what the hosts
//! hold: its growth over the transfer is printed beside each figure.
//!
//! Run with `cargo bench -p lattice-host --bench blobstore` after
//! `./scripts/build-examples`. Knobs: `BENCH_SIZES_MIB` (default `1,256`),
//! `BENCH_ROUNDS` (default 3; the best is reported).

// Bench code: a failed unwrap is a failed bench.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use lattice_host::lattice::{ClusterKeys, Lattice, LatticeConfig};
use lattice_host::Host;
use lattice_tests::hosts;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// The allocator the binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PIECE: usize = 256 * 1024;

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// How long `f` took, and the most the process's resident memory grew
/// above its start while it ran (the sampler's own stop is not timed).
async fn with_rss<T>(f: impl std::future::Future<Output = T>) -> (T, Duration, u64) {
    let start = rss_bytes();
    let peak = Arc::new(AtomicU64::new(start));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (peak.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_bytes(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let started = Instant::now();
    let value = f.await;
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    peak.fetch_max(rss_bytes(), Ordering::Relaxed);
    (
        value,
        took,
        peak.load(Ordering::Relaxed).saturating_sub(start),
    )
}

fn body_of(
    size: usize,
) -> impl hyper::body::Body<Data = Bytes, Error = std::convert::Infallible> + Send {
    let piece = Bytes::from(vec![7u8; PIECE]);
    let frames = (0..size.div_ceil(PIECE)).map(move |i| {
        let len = PIECE.min(size - i * PIECE);
        Ok::<_, std::convert::Infallible>(Frame::data(piece.slice(..len)))
    });
    StreamBody::new(futures::stream::iter(frames))
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>,
>;

fn client() -> Client {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

async fn upload(client: &Client, url: &str, size: usize) {
    let request = http::Request::put(url).body(body_of(size).boxed()).unwrap();
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&text));
}

async fn download(client: &Client, url: &str, size: usize) {
    let request = http::Request::get(url)
        .body(http_body_util::Empty::new().map_err(|e| match e {}).boxed())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut read = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            read += data.len();
        }
    }
    assert_eq!(read, size);
}

/// The best of `rounds` runs of `f`: MiB/s and the resident memory growth.
async fn best<F, Fut>(rounds: usize, size: usize, mut f: F) -> (f64, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut best = (0.0f64, 0u64);
    for _ in 0..rounds {
        let ((), took, grew) = with_rss(f()).await;
        let rate = size as f64 / (1 << 20) as f64 / took.as_secs_f64();
        if rate > best.0 {
            best = (rate, grew.max(best.1));
        } else {
            best.1 = best.1.max(grew);
        }
    }
    best
}

fn row(name: &str, (rate, grew): (f64, u64), floor: f64) {
    println!(
        "{name:<44} {rate:>9.1} MiB/s {:>6.2}x floor   RSS +{:.1} MiB",
        rate / floor,
        grew as f64 / (1 << 20) as f64
    );
}

fn lattice_config(nats: &NatsServer, seed: &str) -> LatticeConfig {
    LatticeConfig {
        call_timeout: Duration::from_secs(60),
        ..hosts::lattice_config(
            &nats.url(),
            ClusterKeys::new(nkeys::KeyPair::from_seed(seed).unwrap(), &[]),
        )
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES_MIB")
        .unwrap_or_else(|_| "1,256".into())
        .split(',')
        .filter_map(|mib| mib.trim().parse::<usize>().ok())
        .map(|mib| mib << 20)
        .collect();
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(&sizes, rounds));
}

async fn run(sizes: &[usize], rounds: usize) {
    let nats = NatsServer::start();
    let disk = tempfile::tempdir().unwrap();
    let root = disk.path().display().to_string();

    // In-process: blobby and the provider in one host.
    let manifest = ManifestBuilder::new()
        .actor("blobby", &lattice_tests::fixtures::wasm("blobby"))
        .set("timeout_ms", 600_000)
        .provider("http", "http-server")
        .provider("blobs", "blobstore")
        .http_link("http", "blobby", "127.0.0.1:0")
        .link("blobby", "blobs", "wasi:blobstore/blobstore")
        .target_config(&[("root", &format!("{root}/local"))])
        .build();
    let local = hosts::applied(&manifest).await;
    let local_url = hosts::first_url(&local);

    // Cross-host: blobby on A, the provider on B.
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let a = hosts::dev_host();
    let b = hosts::dev_host();
    let lattice_a = Lattice::join(a.clone(), &lattice_config(&nats, &seed))
        .await
        .unwrap();
    let lattice_b = Lattice::join(b.clone(), &lattice_config(&nats, &seed))
        .await
        .unwrap();
    hosts::start_fixture(&a, "blobby", "blobby").await;
    hosts::start_provider(&b, "blobs", "blobstore");
    let mut link = hosts::link("blobby", "blobs", "wasi:blobstore/blobstore");
    link.target_config
        .insert("root".into(), format!("{root}/remote"));
    lattice_b.put_link(link).await.unwrap();
    let remote_url = hosts::serve_http(&a, &lattice_a, "blobby").await;
    let client = client();
    // Both paths answer before anything is timed.
    for url in [&local_url, &remote_url] {
        upload(&client, &format!("{url}warm"), 1024).await;
    }

    let js = async_nats::jetstream::new(nats.client().await);
    let floor_store = js
        .create_object_store(async_nats::jetstream::object_store::Config {
            bucket: "floor".into(),
            ..Default::default()
        })
        .await
        .unwrap();

    println!("blob storage through blobby (filesystem backend), best of {rounds}");
    for &size in sizes {
        let mib = size >> 20;
        println!("\n{mib} MiB objects");
        // Floors.
        let path = disk.path().join("floor.bin");
        let file_write = best(rounds, size, || async {
            let mut file = tokio::fs::File::create(&path).await.unwrap();
            let piece = vec![7u8; PIECE];
            let mut left = size;
            while left > 0 {
                let n = left.min(PIECE);
                file.write_all(&piece[..n]).await.unwrap();
                left -= n;
            }
            file.sync_all().await.unwrap();
        })
        .await;
        let file_read = best(rounds, size, || async {
            let mut file = tokio::fs::File::open(&path).await.unwrap();
            let mut piece = vec![0u8; PIECE];
            while file.read(&mut piece).await.unwrap() > 0 {}
        })
        .await;
        let nats_put = best(rounds, size, || async {
            let mut data = tokio::io::repeat(7).take(size as u64);
            floor_store.put("floor", &mut data).await.unwrap();
        })
        .await;
        let nats_get = best(rounds, size, || async {
            let mut object = floor_store.get("floor").await.unwrap();
            tokio::io::copy(&mut object, &mut tokio::io::sink())
                .await
                .unwrap();
        })
        .await;
        row(
            "floor: file write (256 KiB chunks, synced)",
            file_write,
            file_write.0,
        );
        row("floor: file read", file_read, file_read.0);
        row("floor: NATS object put (async-nats)", nats_put, nats_put.0);
        row("floor: NATS object get (async-nats)", nats_get, nats_get.0);
        let name = format!("object-{mib}");
        let (local_object, remote_object) =
            (format!("{local_url}{name}"), format!("{remote_url}{name}"));
        let put_local = best(rounds, size, || upload(&client, &local_object, size)).await;
        let get_local = best(rounds, size, || download(&client, &local_object, size)).await;
        let put_remote = best(rounds, size, || upload(&client, &remote_object, size)).await;
        let get_remote = best(rounds, size, || download(&client, &remote_object, size)).await;
        row("PUT in-process (vs file write)", put_local, file_write.0);
        row("GET in-process (vs file read)", get_local, file_read.0);
        row(
            "PUT cross-host (vs NATS object put)",
            put_remote,
            nats_put.0,
        );
        row(
            "GET cross-host (vs NATS object get)",
            get_remote,
            nats_get.0,
        );
    }
    lattice_a.leave().await;
    lattice_b.leave().await;
    for host in [local, a, b] {
        Host::shutdown(&host, Duration::from_secs(1)).await;
    }
}

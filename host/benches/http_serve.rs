//! HTTP serving benchmark: `examples/hello` through a Lattice host, against a
//! bare wasmtime-wasi-http server built here (the ceiling for our stack: a
//! fresh pooled instance per request, no routing, no links), loaded in turn
//! by `wrk` from a second process on loopback. Then the same host serving
//! hello over HTTPS against plain HTTP, with keep-alive and with a new
//! connection per request (a TLS handshake each). Then start-to-first-200
//! of a `lattice-host` process with an empty and with a filled compile
//! cache.
//!
//! Run with `./scripts/bench` (builds the examples first). Knobs:
//! `BENCH_SECS` (per wrk run, default 10), `BENCH_ROUNDS` (default 3; the
//! median is reported), `BENCH_CONNECTIONS` (default 50).

// Test and bench code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use hyper::server::conn::http1;
use lattice_host::{Host, HostConfig, RuntimeConfig};
use lattice_interfaces::Manifest;
use lattice_tests::bench::env_or;
use tokio::net::TcpListener;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[derive(Debug, Clone, Copy)]
struct Load {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn parse_latency(value: &str) -> Option<f64> {
    let value = value.trim();
    let (number, scale) = if let Some(v) = value.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = value.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = value.strip_suffix('s') {
        (v, 1000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * scale)
}

/// Loads `url` with wrk and reads requests/s, p50 and p99 from its report.
fn wrk(url: &str, secs: u64, connections: u64) -> anyhow::Result<Load> {
    wrk_with(url, secs, connections, &[])
}

/// [`wrk`] with more of its arguments (`-H "connection: close"`).
fn wrk_with(url: &str, secs: u64, connections: u64, more: &[&str]) -> anyhow::Result<Load> {
    let output = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--latency",
        ])
        .args(more)
        .arg(url)
        .output()
        .context("cannot run wrk: install it with `apt-get install wrk` (./scripts/bench does)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!("wrk failed: {text}");
    }
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        bail!("wrk saw errors:\n{text}");
    }
    let field = |prefix: &str| {
        text.lines().find_map(|line| {
            line.trim()
                .strip_prefix(prefix)
                .map(|rest| rest.trim().to_string())
        })
    };
    let rps = field("Requests/sec:").and_then(|v| v.parse().ok());
    let p50 = field("50%").and_then(|v| parse_latency(&v));
    let p99 = field("99%").and_then(|v| parse_latency(&v));
    match (rps, p50, p99) {
        (Some(requests_per_sec), Some(p50_ms), Some(p99_ms)) => Ok(Load {
            requests_per_sec,
            p50_ms,
            p99_ms,
        }),
        _ => bail!("cannot read wrk's report:\n{text}"),
    }
}

/// One row per load: its name, req/s, p50 and p99.
fn print_rows(rows: &[(&str, Load)]) {
    for (name, load) in rows {
        println!(
            "{name:<44} {:>10.0} {:>9.2} {:>9.2}",
            load.requests_per_sec, load.p50_ms, load.p99_ms
        );
    }
}

fn median(mut runs: Vec<Load>) -> Load {
    runs.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    runs[runs.len() / 2]
}

// ---- the baseline: wasmtime-wasi-http with nothing of ours ----

struct BareCtx {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for BareCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for BareCtx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: wasmtime_wasi_http::default_hooks(),
        }
    }
}

async fn start_baseline(wasm: &[u8]) -> anyhow::Result<SocketAddr> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(
        PoolingAllocationConfig::default(),
    ));
    let engine = Engine::new(&config)?;
    let component = Component::new(&engine, wasm)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    let pre = Arc::new(ProxyPre::new(linker.instantiate_pre(&component)?)?);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let pre = pre.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let pre = pre.clone();
                    async move { bare_handle(&pre, request).await }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(address)
}

async fn bare_handle(
    pre: &ProxyPre<BareCtx>,
    request: hyper::Request<hyper::body::Incoming>,
) -> anyhow::Result<hyper::Response<HyperOutgoingBody>> {
    let mut store = Store::new(
        pre.engine(),
        BareCtx {
            wasi: WasiCtx::builder().build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
        },
    );
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let request = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, request)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let pre = pre.clone();
    let task = tokio::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, request, out)
            .await
    });
    match receiver.await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(code)) => bail!("guest error {code:?}"),
        Err(_) => bail!("guest gave no response: {:?}", task.await),
    }
}

// ---- Lattice ----

fn hello_manifest(wasm: &Path, address: &str) -> String {
    format!(
        "[[actors]]\nid = \"hello\"\npath = \"{}\"\nmax_instances = 1000\n\n[[providers]]\nid = \"http\"\nkind = \"http-server\"\n\n[[links]]\nsource = \"http\"\ntarget = \"hello\"\ninterface = \"wasi:http/incoming-handler\"\nsource_config = {{ address = \"{address}\" }}\n",
        wasm.display()
    )
}

/// hello as actor `hello-reuse`, serving up to 1,000 calls per instance.
fn reuse_manifest(wasm: &Path) -> String {
    format!(
        "[[actors]]\nid = \"hello-reuse\"\npath = \"{}\"\nmax_instances = 1000\ninstance_reuse = 1000\n\n[[providers]]\nid = \"http-reuse\"\nkind = \"http-server\"\n\n[[links]]\nsource = \"http-reuse\"\ntarget = \"hello-reuse\"\ninterface = \"wasi:http/incoming-handler\"\nsource_config = {{ address = \"127.0.0.1:0\" }}\n",
        wasm.display()
    )
}

/// A host serving hello fresh per call and hello with instance reuse;
/// returns both addresses.
async fn start_lattice(wasm: &Path) -> anyhow::Result<(Host, SocketAddr, SocketAddr)> {
    let host = Host::new(HostConfig {
        trust: lattice_host::TrustPolicy {
            allow_unsigned: true,
            ..Default::default()
        },
        runtime: RuntimeConfig {
            cache_dir: None,
            ..RuntimeConfig::default()
        },
        ..HostConfig::default()
    })?;
    host.apply(&Manifest::from_toml(&hello_manifest(wasm, "127.0.0.1:0"))?)
        .await?;
    host.apply(&Manifest::from_toml(&reuse_manifest(wasm))?)
        .await?;
    let address_of = |target: &str| {
        host.http_endpoints()
            .into_iter()
            .find(|e| e.link.target.as_str() == target)
            .map(|e| e.address)
            .with_context(|| format!("no endpoint for {target}"))
    };
    let (fresh, reuse) = (address_of("hello")?, address_of("hello-reuse")?);
    Ok((host, fresh, reuse))
}

/// The status line of `GET url` over a fresh TCP connection, if it answers.
fn first_line(url: &str) -> Option<String> {
    use std::io::{BufRead as _, Write as _};
    let address = url.strip_prefix("http://")?.trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n\r\n")
        .ok()?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line)
}

/// Spawns `lattice-host` on `manifest` and times spawn to first 200, polling
/// with raw HTTP from this process (a curl per poll would add its own start).
fn time_to_first_200(manifest: &Path, cache: &Path, url: &str) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lattice-host"))
        .arg("--manifest")
        .arg(manifest)
        .arg("--allow-unsigned")
        .arg("--cache-dir")
        .arg(cache)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let deadline = started + Duration::from_secs(60);
    let result = loop {
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!("no 200 from {url} within 60 s"));
        }
        let ok = first_line(url).is_some_and(|line| line.starts_with("HTTP/1.1 200"));
        if ok {
            break Ok(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}

fn main() -> anyhow::Result<()> {
    let secs = env_or("BENCH_SECS", 10);
    let rounds = env_or("BENCH_ROUNDS", 3).max(1);
    let connections = env_or("BENCH_CONNECTIONS", 50);
    let wasm_path = repo_root().join("examples/build/hello.wasm");
    let wasm = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "cannot read {}: run ./scripts/build-examples",
            wasm_path.display()
        )
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (host, lattice, reused) = runtime.block_on(start_lattice(&wasm_path))?;
    let baseline = runtime.block_on(start_baseline(&wasm))?;
    println!(
        "hello.wasm: {} KB; wrk -t2 -c{connections} -d{secs}s, {rounds} rounds, median",
        wasm.len() / 1024
    );

    let (mut ours, mut bare, mut reuse) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        bare.push(wrk(&format!("http://{baseline}/"), secs, connections)?);
        ours.push(wrk(&format!("http://{lattice}/"), secs, connections)?);
        reuse.push(wrk(&format!("http://{reused}/"), secs, connections)?);
    }
    let (ours, bare, reuse) = (median(ours), median(bare), median(reuse));
    println!(
        "{:<44} {:>10} {:>9} {:>9}",
        "server", "req/s", "p50 ms", "p99 ms"
    );
    print_rows(&[
        ("baseline: bare wasmtime-wasi-http, pooled", bare),
        ("lattice-host: http-server provider -> hello", ours),
        ("lattice-host: hello, instance_reuse = 1000", reuse),
    ]);
    println!(
        "ratio lattice/baseline req/s: {:.3}; reuse/fresh: {:.3}",
        ours.requests_per_sec / bare.requests_per_sec,
        reuse.requests_per_sec / ours.requests_per_sec
    );

    // HTTPS against plain HTTP, on one host; wrk does not check the
    // certificate, the server does the full handshake either way.
    let certificates = tempfile::tempdir()?;
    let ca = lattice_tests::tls::TestCa::new("bench CA");
    let (cert, key) = ca.leaf("localhost");
    let (cert_path, key_path) = (
        certificates.path().join("cert.pem"),
        certificates.path().join("key.pem"),
    );
    std::fs::write(&cert_path, cert)?;
    std::fs::write(&key_path, key)?;
    let tls_manifest = hello_manifest(&wasm_path, "127.0.0.1:0")
        .replace("id = \"hello\"", "id = \"hello-tls\"")
        .replace("id = \"http\"", "id = \"https\"")
        .replace("source = \"http\"", "source = \"https\"")
        .replace("target = \"hello\"", "target = \"hello-tls\"")
        .replace(
            "address = \"127.0.0.1:0\" }",
            &format!(
                "address = \"127.0.0.1:0\", tls_cert_file = \"{}\", tls_key_file = \"{}\" }}",
                cert_path.display(),
                key_path.display()
            ),
        );
    runtime.block_on(host.apply(&Manifest::from_toml(&tls_manifest)?))?;
    let secure = host
        .http_endpoints()
        .into_iter()
        .find(|e| e.link.target.as_str() == "hello-tls")
        .map(|e| e.address)
        .context("no HTTPS endpoint")?;
    let close = ["-H", "connection: close"];
    let (mut plain, mut tls, mut plain_new, mut tls_new) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        plain.push(wrk(&format!("http://{lattice}/"), secs, connections)?);
        tls.push(wrk(&format!("https://{secure}/"), secs, connections)?);
        plain_new.push(wrk_with(
            &format!("http://{lattice}/"),
            secs,
            connections,
            &close,
        )?);
        tls_new.push(wrk_with(
            &format!("https://{secure}/"),
            secs,
            connections,
            &close,
        )?);
    }
    let (plain, tls, plain_new, tls_new) = (
        median(plain),
        median(tls),
        median(plain_new),
        median(tls_new),
    );
    print_rows(&[
        ("HTTP, keep-alive", plain),
        ("HTTPS, keep-alive", tls),
        ("HTTP, a connection per request", plain_new),
        ("HTTPS, a connection per request (handshakes)", tls_new),
    ]);
    println!(
        "ratio HTTPS/HTTP req/s: keep-alive {:.3}; a connection per request {:.3}",
        tls.requests_per_sec / plain.requests_per_sec,
        tls_new.requests_per_sec / plain_new.requests_per_sec
    );
    runtime.block_on(host.shutdown(Duration::from_secs(1)));
    drop(runtime);

    // Start to first 200, in a fresh process each time.
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let manifest = dir.path().join("hello.toml");
    std::fs::write(
        &manifest,
        hello_manifest(&wasm_path, &format!("127.0.0.1:{port}")),
    )?;
    let cache = dir.path().join("cache");
    let url = format!("http://127.0.0.1:{port}/");
    let cold = time_to_first_200(&manifest, &cache, &url)?;
    let mut warm: Vec<Duration> = (0..3)
        .map(|_| time_to_first_200(&manifest, &cache, &url))
        .collect::<Result<_, _>>()?;
    warm.sort();
    println!(
        "start -> first 200, cold (empty compile cache): {:.1} ms",
        cold.as_secs_f64() * 1e3
    );
    println!(
        "start -> first 200, warm (cache filled), median of 3: {:.1} ms",
        warm[1].as_secs_f64() * 1e3
    );
    Ok(())
}

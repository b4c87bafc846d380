//! Autoscaling's two costs.
//!
//! 1. **Activation from zero.** Two hosts, an app whose `hello` scales to
//!    zero (`min = 0`, a 300 ms window) behind an HTTP server. Each sample
//!    waits until no host runs it, then times one GET through the HTTP
//!    server to its 200: the call is held, a replica activated, the call
//!    served. Against, in the same run: a warm start of the same
//!    component (`actor.scale` on a host that ran it, to its reply, which
//!    comes once the actor takes calls), a NATS round trip, and a GET
//!    while a replica runs.
//! 2. **The reconciler per decision.** An app of 1,000 autoscaled actors
//!    (`min = 0`, one replica each to start) over two hosts: the process's
//!    CPU per second while converged (1,000 autoscalers fed each pass, no
//!    decision), then the CPU of the pass(es) in which all 1,000 give their
//!    replica back, less the converged rate, per decision (the decision,
//!    its event, its stop carried out, the status).
//!
//! Run with `cargo bench -p lattice-host --bench autoscale` (also from
//! `./scripts/bench`). Knobs: `BENCH_SAMPLES` (default 40),
//! `BENCH_ACTORS` (default 1000), `BENCH_SECS` (window, default 10).

// Bench code: a failed unwrap is a failed bench.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lattice_host::lattice::{ClusterKeys, Lattice, LatticeState, ReconcilerTiming};
use lattice_host::{Host, HostConfig, RuntimeConfig, TrustPolicy};
use lattice_interfaces::protocol::control::{op, ScaleActor};
use lattice_interfaces::{ComponentId, Manifest};
use lattice_tests::bench::{apply_until_converged, cpu_time, env_or, percentile};
use lattice_tests::hosts;
use lattice_tests::nats::NatsServer;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Two hosts with a compile cache, on `nats`, passing every `every`.
async fn two_hosts(
    nats: &NatsServer,
    cache: &std::path::Path,
    every: Duration,
) -> Vec<(Host, Lattice)> {
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let mut joined = Vec::new();
    for _ in 0..2 {
        let host = Host::new(HostConfig {
            trust: TrustPolicy {
                allow_unsigned: true,
                ..TrustPolicy::default()
            },
            runtime: RuntimeConfig {
                cache_dir: Some(cache.to_path_buf()),
                pool_instances: 100,
                ..RuntimeConfig::default()
            },
            ..HostConfig::default()
        })
        .unwrap();
        let cluster = ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[]);
        let mut config = hosts::lattice_config(&nats.url(), cluster);
        config.reconcile = ReconcilerTiming::every(every);
        let lattice = Lattice::join(host.clone(), &config).await.unwrap();
        joined.push((host, lattice));
    }
    joined
}

fn running(hosts: &[(Host, Lattice)], actor: &ComponentId) -> usize {
    hosts
        .iter()
        .filter(|(h, _)| h.actor(actor).is_some())
        .count()
}

async fn until(what: &str, deadline: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn activation(samples: usize) {
    let nats = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let hosts = two_hosts(&nats, cache.path(), Duration::from_millis(200)).await;
    let hello = lattice_tests::fixtures::wasm("hello");
    let manifest = Manifest::from_toml(&format!(
        r#"[app]
name = "idle"
[[actors]]
id = "hello"
reference = "{}"
placement = {{ replicas = {{ min = 0, max = 1 }}, scale = {{ target_in_flight = 10, scale_in_after_ms = 300 }} }}
[[providers]]
id = "http"
kind = "http-server"
[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#,
        hello.display()
    ))
    .unwrap();
    let client = nats.client().await;
    let js = async_nats::jetstream::new(client.clone());
    let state = LatticeState::existing(&js, "LATTICE_default")
        .await
        .unwrap();
    apply_until_converged(&state, "idle", &manifest).await;
    let hello_id = ComponentId::new("hello").unwrap();
    let mut url = None;
    until("the HTTP server", Duration::from_secs(30), || {
        url = hosts
            .iter()
            .find_map(|(h, _)| h.http_endpoints().first().map(|e| e.url()));
        url.is_some()
    })
    .await;
    let url = url.unwrap();
    let http = lattice_tests::http_client::HttpClient::default();
    let get = || async {
        let answer = http.get_reply(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    };
    // The first start compiles; the samples start from a warm cache.
    until("hello to answer", Duration::from_secs(60), || {
        running(&hosts, &hello_id) == 1
    })
    .await;
    get().await;

    let mut activated = Vec::new();
    let mut warm_get = Vec::new();
    for _ in 0..samples {
        until("hello to scale to zero", Duration::from_secs(30), || {
            running(&hosts, &hello_id) == 0
        })
        .await;
        let started = Instant::now();
        get().await;
        activated.push(started.elapsed());
        let started = Instant::now();
        get().await;
        warm_get.push(started.elapsed());
    }

    // The warm start of the same component, by the control request the
    // reconciler sends, on a host that ran it.
    let control = lattice_client::ControlClient::new(
        client.clone(),
        "default",
        &nats.url(),
        Duration::from_secs(30),
    )
    .unwrap();
    let host_b = hosts[1].0.id().clone();
    let warm_id = ComponentId::new("warm").unwrap();
    let mut warm_start = Vec::new();
    for _ in 0..samples {
        let start = ScaleActor {
            actor_id: warm_id.clone(),
            actor_ref: hello.display().to_string(),
            max_instances: 100,
            ..ScaleActor::stop(warm_id.clone())
        };
        let started = Instant::now();
        control
            .request::<op::ScaleActor>(Some(&host_b), &start)
            .await
            .unwrap();
        warm_start.push(started.elapsed());
        control
            .request::<op::ScaleActor>(Some(&host_b), &ScaleActor::stop(warm_id.clone()))
            .await
            .unwrap();
    }

    // A NATS round trip on the same server.
    let mut echo = client.subscribe("bench.echo").await.unwrap();
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(message) = echo.next().await {
            if let Some(reply) = message.reply {
                let _ = responder.publish(reply, message.payload).await;
            }
        }
    });
    client.flush().await.unwrap();
    let mut rtt = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        client.request("bench.echo", "x".into()).await.unwrap();
        rtt.push(started.elapsed());
    }

    for samples in [&mut activated, &mut warm_start, &mut warm_get, &mut rtt] {
        samples.sort();
    }
    let (a50, a99) = (percentile(&activated, 0.5), percentile(&activated, 0.99));
    let (w50, w99) = (percentile(&warm_start, 0.5), percentile(&warm_start, 0.99));
    let (g50, r50) = (percentile(&warm_get, 0.5), percentile(&rtt, 0.5));
    let goal = 3.0 * ms(w50) + ms(r50);
    println!(
        "activation from zero, {samples} samples: first GET p50 {:.2} ms, p99 {:.2} ms",
        ms(a50),
        ms(a99)
    );
    println!(
        "warm start of the same component (actor.scale to its reply): p50 {:.2} ms, p99 {:.2} ms",
        ms(w50),
        ms(w99)
    );
    println!(
        "NATS round trip p50 {:.3} ms; GET with a replica running p50 {:.2} ms",
        ms(r50),
        ms(g50)
    );
    println!(
        "goal: activation p50 <= 3 x warm start + one round trip = {goal:.2} ms: {:.2} ms is {:.2}x of it ({})",
        ms(a50),
        ms(a50) / goal,
        if ms(a50) <= goal { "met" } else { "not met" }
    );
    for (host, lattice) in hosts {
        hosts::leave(lattice, host).await;
    }
}

async fn decisions(actors: u64, window: Duration) {
    let nats = NatsServer::start();
    let cache = tempfile::tempdir().unwrap();
    let hosts = two_hosts(&nats, cache.path(), Duration::from_secs(2)).await;
    let hello = lattice_tests::fixtures::wasm("hello");
    // The scale-in window outlasts converging and the measured window.
    let quiet_ms = 20_000 + window.as_millis() as u64;
    let mut text = String::from("[app]\nname = \"many\"\n");
    for n in 0..actors {
        write!(
            text,
            "[[actors]]\nid = \"hello-{n}\"\nreference = \"{}\"\nmax_instances = 1\nplacement = {{ replicas = {{ min = 0, max = 2 }}, scale = {{ target_in_flight = 10, scale_in_after_ms = {quiet_ms} }} }}\n",
            hello.display()
        )
        .unwrap();
    }
    let manifest = Manifest::from_toml(&text).unwrap();
    let client = nats.client().await;
    let mut scaled = client
        .subscribe("lattice.default.evt.component_scaled")
        .await
        .unwrap();
    client.flush().await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let state = LatticeState::existing(&js, "LATTICE_default")
        .await
        .unwrap();
    let applied = Instant::now();
    apply_until_converged(&state, "many", &manifest).await;
    let converged = applied.elapsed();
    let count =
        |hosts: &[(Host, Lattice)]| -> usize { hosts.iter().map(|(h, _)| h.actors().len()).sum() };
    println!(
        "{actors} autoscaled actors over 2 hosts: converged {:.1} s after apply ({} running)",
        converged.as_secs_f64(),
        count(&hosts)
    );
    let before = cpu_time();
    tokio::time::sleep(window).await;
    let converged_rate = (cpu_time() - before).as_secs_f64() / window.as_secs_f64();

    // Then every one of them gives its replica back.
    let started = Instant::now();
    let before = cpu_time();
    let mut decided = 0u64;
    while decided < actors {
        match tokio::time::timeout(Duration::from_secs(120), scaled.next()).await {
            Ok(Some(_)) => decided += 1,
            _ => panic!("only {decided} decisions of {actors}"),
        }
    }
    until("every replica to stop", Duration::from_secs(120), || {
        count(&hosts) == 0
    })
    .await;
    let spent = cpu_time() - before;
    let took = started.elapsed();
    // Measured from before the window ran out: what the process spends
    // anyway over that stretch is taken off.
    let extra = spent.as_secs_f64() - converged_rate * took.as_secs_f64();
    println!(
        "converged with {actors} autoscalers fed each pass: {:.1} ms CPU/s (2 hosts, one pass every 2 s)",
        converged_rate * 1e3
    );
    println!(
        "{decided} scale-in decisions carried out in {:.1} s: {:.0} ms CPU above the converged rate, {:.3} ms per decision (event, stop on the host, status)",
        took.as_secs_f64(),
        extra * 1e3,
        extra * 1e3 / decided as f64
    );
    for (host, lattice) in hosts {
        hosts::leave(lattice, host).await;
    }
}

#[tokio::main]
async fn main() {
    activation(env_or("BENCH_SAMPLES", 40) as usize).await;
    decisions(
        env_or("BENCH_ACTORS", 1000),
        Duration::from_secs(env_or("BENCH_SECS", 10)),
    )
    .await;
}

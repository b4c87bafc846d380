//! Autoscaling: an app's actor declares `replicas = { min, max }` and a
//! `scale` rule, and the reconciler's leader moves its replicas with its
//! load. On four hosts: a load that saturates one replica makes the actor
//! grow to the four hosts; a load that swings up and down keeps them (no
//! flapping); when the load falls to one client the actor gives them
//! back under it, and no request fails throughout. With `min = 0` an idle actor
//! gives back its last replica, and the first requests after that are held
//! while one replica is activated, then served by it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lattice_host::lattice::{ClusterKeys, Lattice};
use lattice_host::Host;
use lattice_interfaces::protocol::events::{LatticeEvent, Scaled};
use lattice_tests::hosts::{self, id};
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at as ctl, succeeded as ok};
use lattice_tests::{eventually, eventually_within, fixtures, http_client};

/// Four development hosts on the lattice at `url`, sharing a cluster key
/// (each takes the others' calls).
async fn four_hosts(url: &str) -> Vec<(Host, Lattice)> {
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let mut all = Vec::new();
    for _ in 0..4 {
        let host = hosts::labelled_host(Default::default(), None);
        let cluster = ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[]);
        let config = hosts::lattice_config(url, cluster);
        let lattice = Lattice::join(host.clone(), &config).await.unwrap();
        all.push((host, lattice));
    }
    all
}

/// An app named `name` running actor `actor` from fixture `fixture` with
/// `placement`, and an HTTP server on one host linked to it.
fn app(dir: &std::path::Path, name: &str, actor: &str, fixture: &str, placement: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"[app]
name = "{name}"

[[actors]]
id = "{actor}"
reference = "{}"
max_instances = 2
placement = {placement}

[[providers]]
id = "http"
kind = "http-server"
placement = {{ replicas = 1 }}

[[links]]
source = "http"
target = "{actor}"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#,
            fixtures::wasm(fixture).display()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// The decisions announced as `component_scaled`, as they arrive.
#[derive(Clone, Default)]
struct Decisions(Arc<Mutex<Vec<Scaled>>>);

impl Decisions {
    async fn follow(url: &str) -> Self {
        let client = async_nats::connect(url).await.unwrap();
        let mut events = client
            .subscribe("lattice.default.evt.component_scaled")
            .await
            .unwrap();
        client.flush().await.unwrap();
        let decisions = Self::default();
        let kept = decisions.0.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Some(message) = events.next().await {
                let cloud: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
                if let Ok(LatticeEvent::ComponentScaled(scaled)) =
                    LatticeEvent::parse("component_scaled", cloud["data"].clone())
                {
                    kept.lock().unwrap().push(scaled);
                }
            }
        });
        decisions
    }

    fn all(&self) -> Vec<Scaled> {
        self.0.lock().unwrap().clone()
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

/// The hosts that run `actor` now.
fn running(hosts: &[(Host, Lattice)], actor: &str) -> usize {
    hosts
        .iter()
        .filter(|(h, _)| h.actor(&id(actor)).is_some())
        .count()
}

/// The URL of the one HTTP server, once it answers 200.
async fn ingress(hosts: &[(Host, Lattice)], path: &str) -> String {
    let url = eventually("the app's HTTP server", async || {
        hosts
            .iter()
            .find_map(|(h, _)| h.http_endpoints().first().map(|e| e.url()))
    })
    .await;
    let url = format!("{}{path}", url.trim_end_matches('/'));
    eventually("the app to answer", async || {
        (http_client::get(&url).await.status == 200).then_some(())
    })
    .await;
    url
}

/// `clients` loops of GET `url`, counting what was served and what failed,
/// idle while `paused`, until `stop`.
struct Load {
    served: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    paused: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(url: &str, clients: usize) -> Self {
        let load = Self {
            served: Arc::default(),
            failed: Arc::default(),
            paused: Arc::default(),
            stop: Arc::default(),
            clients: Vec::new(),
        };
        let clients = (0..clients)
            .map(|_| {
                let (served, failed, paused, stop, url) = (
                    load.served.clone(),
                    load.failed.clone(),
                    load.paused.clone(),
                    load.stop.clone(),
                    url.to_string(),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        if paused.load(Ordering::Relaxed) {
                            // The generator's own pacing, not a readiness wait.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        let reply = http_client::get(&url).await;
                        if reply.status == 200 {
                            served.fetch_add(1, Ordering::Relaxed);
                        } else {
                            eprintln!("failed: {} {}", reply.status, reply.body);
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        Self { clients, ..load }
    }

    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.unwrap();
        }
        (
            self.served.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_follow_the_load_out_and_back_without_flapping_or_failing() {
    let nats = NatsServer::start();
    let url = nats.url();
    let hosts = four_hosts(&url).await;
    let decisions = Decisions::follow(&url).await;
    let dir = tempfile::tempdir().unwrap();
    // Two instances a replica, two calls in flight each: twelve clients
    // waiting 50 ms a call ask for six replicas, four hosts at most; one
    // asks for one.
    let placement = "{ replicas = { min = 1, max = 4 }, scale = { target_in_flight = 2, scale_in_after_ms = 4000 } }";
    ok(&ctl(
        &url,
        &[
            "apply",
            &app(dir.path(), "slow", "slow", "http_slow", placement),
        ],
    ));
    let ingress = ingress(&hosts, "/?ms=50").await;
    assert_eq!(running(&hosts, "slow"), 1, "min 1: one replica to start");

    // One steady client throughout, eleven more that come and go.
    let steady = Load::start(&ingress, 1);
    let load = Load::start(&ingress, 11);
    let started = Instant::now();
    eventually_within(
        "the app to grow to four hosts",
        Duration::from_secs(60),
        async || (running(&hosts, "slow") == 4).then_some(()),
    )
    .await;
    eprintln!("grew from 1 to 4 replicas in {:?}", started.elapsed());
    let out = decisions.all();
    assert!(
        out.iter().all(|d| d.to > d.from) && out.last().is_some_and(|d| d.to == 4),
        "only scale-out decisions while the load rises: {out:?}"
    );
    assert!(out.len() <= 3, "{out:?}");

    // The load swings: one second on, one off, four times; the window is
    // four seconds, so each low stretch is too short to give anything back.
    let before = decisions.count();
    for _ in 0..4 {
        // The load's shape, not a wait for readiness.
        tokio::time::sleep(Duration::from_secs(1)).await;
        load.paused.store(true, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_secs(1)).await;
        load.paused.store(false, Ordering::Relaxed);
    }
    assert_eq!(
        decisions.count(),
        before,
        "a swinging load changed the replicas: {:?}",
        &decisions.all()[before..]
    );
    assert_eq!(running(&hosts, "slow"), 4);

    // The eleven stop; the steady client goes on while replicas go back.
    let (served, failed) = load.stop().await;
    eventually_within(
        "the app to shrink back to one host",
        Duration::from_secs(60),
        async || (running(&hosts, "slow") == 1).then_some(()),
    )
    .await;
    let during = steady.served.load(Ordering::Relaxed);
    eventually("the steady client served by the replica left", async || {
        (steady.served.load(Ordering::Relaxed) > during + 10).then_some(())
    })
    .await;
    let (steady_served, steady_failed) = steady.stop().await;
    let (served, failed) = (served + steady_served, failed + steady_failed);
    // Given back, never added: the last loaded pass may still be in the
    // window when it first passes, so it may take a step on the way.
    let back: Vec<Scaled> = decisions.all().split_off(before);
    assert!(
        !back.is_empty()
            && back.len() <= 3
            && back
                .iter()
                .all(|d| d.to < d.from && d.reason.contains("scale in"))
            && back.last().is_some_and(|d| d.to == 1),
        "only scale-in decisions back to one: {back:?}"
    );
    eprintln!("{served} requests served, {failed} failed");
    assert_eq!(failed, 0, "{failed} of {} requests failed", served + failed);

    // What the operator reads: desired in its range, and why.
    let status = ctl(&url, &["app", "status", "slow"]);
    ok(&status);
    let table = String::from_utf8_lossy(&status.stdout);
    assert!(
        table.contains("1 (1-4)") && table.contains("scale in"),
        "{table}"
    );
    for (host, lattice) in hosts {
        hosts::leave(lattice, host).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_actor_scales_to_zero_and_the_first_requests_after_are_held_not_refused() {
    let nats = NatsServer::start();
    let url = nats.url();
    let hosts = four_hosts(&url).await;
    let decisions = Decisions::follow(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let placement = "{ replicas = { min = 0, max = 2 }, scale = { target_in_flight = 10, scale_in_after_ms = 1000 } }";
    ok(&ctl(
        &url,
        &[
            "apply",
            &app(dir.path(), "idle", "hello", "hello", placement),
        ],
    ));
    // Applied, it starts with one replica; idle, it gives it back.
    let ingress = ingress(&hosts, "/").await;
    let activations = || {
        decisions
            .all()
            .iter()
            .filter(|d| d.reason.starts_with("activation"))
            .count()
    };
    for round in 1..=2 {
        eventually_within(
            "hello to scale to zero",
            Duration::from_secs(30),
            async || (running(&hosts, "hello") == 0).then_some(()),
        )
        .await;
        // A burst after idle: every request held until one replica runs.
        let started = Instant::now();
        let burst = futures::future::join_all((0..20).map(|_| http_client::get(&ingress))).await;
        let statuses: Vec<u16> = burst.iter().map(|r| r.status).collect();
        assert!(
            statuses.iter().all(|s| *s == 200),
            "round {round}: {statuses:?}"
        );
        eprintln!(
            "round {round}: 20 requests after idle served in {:?}",
            started.elapsed()
        );
        for _ in 0..20 {
            assert_eq!(http_client::get(&ingress).await.status, 200);
        }
        assert_eq!(running(&hosts, "hello"), 1, "one replica activated");
        // Announced by the next pass of the reconciler.
        eventually("the activation's decision", async || {
            (activations() >= round).then_some(())
        })
        .await;
        assert_eq!(activations(), round, "one activation per idle spell");
    }
    // Activation requests that name nothing autoscaled, garbage payload
    // and all, are refused in one line; the leader goes on serving.
    let client = async_nats::connect(&url).await.unwrap();
    for (actor, reason) in [
        ("nobody", "no app autoscales actor nobody"),
        ("http", "no app autoscales actor http"),
    ] {
        let answer = client
            .request(
                format!("lattice.default.activate.{actor}"),
                vec![0xc1, 0xff, 0x00].into(),
            )
            .await
            .unwrap();
        let reply: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
        assert_eq!(reply["success"], false, "{reply}");
        assert_eq!(reply["kind"], "not_found", "{reply}");
        assert_eq!(reply["message"], reason, "{reply}");
    }
    assert_eq!(http_client::get(&ingress).await.status, 200);
    // The operator sees the actor's range and the last decision.
    let status = ctl(&url, &["app", "status", "idle", "-o", "json"]);
    ok(&status);
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let hello = &json["components"][0];
    assert_eq!(
        (
            hello["scale"]["min"].as_u64(),
            hello["scale"]["max"].as_u64()
        ),
        (Some(0), Some(2)),
        "{json}"
    );
    for (host, lattice) in hosts {
        hosts::leave(lattice, host).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_given_back_hand_their_calls_over_without_a_failure() {
    let nats = NatsServer::start();
    let url = nats.url();
    let hosts = four_hosts(&url).await;
    let dir = tempfile::tempdir().unwrap();
    // Fixed replicas, not autoscaled: a call a stopping host no longer
    // serves goes to the replicas left without asking for an activation.
    ok(&ctl(
        &url,
        &[
            "apply",
            &app(dir.path(), "fixed", "slow", "http_slow", "{ replicas = 4 }"),
        ],
    ));
    let ingress = ingress(&hosts, "/?ms=5").await;
    eventually("four replicas", async || {
        (running(&hosts, "slow") == 4).then_some(())
    })
    .await;
    let load = Load::start(&ingress, 6);
    let served = load.served.load(Ordering::Relaxed);
    eventually("requests on four replicas", async || {
        (load.served.load(Ordering::Relaxed) > served + 50).then_some(())
    })
    .await;
    ok(&ctl(
        &url,
        &[
            "apply",
            &app(dir.path(), "fixed", "slow", "http_slow", "{ replicas = 1 }"),
        ],
    ));
    eventually("one replica left", async || {
        (running(&hosts, "slow") == 1).then_some(())
    })
    .await;
    let served = load.served.load(Ordering::Relaxed);
    eventually("requests on the one left", async || {
        (load.served.load(Ordering::Relaxed) > served + 50).then_some(())
    })
    .await;
    let (served, failed) = load.stop().await;
    eprintln!("{served} requests served, {failed} failed, from four replicas to one");
    assert_eq!(failed, 0, "{failed} of {} requests failed", served + failed);
    for (host, lattice) in hosts {
        hosts::leave(lattice, host).await;
    }
}

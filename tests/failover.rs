//! Failover across clusters: a hub NATS server with JetStream (the
//! lattice's state) and two leaf clusters, `east` and `west`, each with its
//! own nats-server and hosts. An app runs hello in both; under a steady load
//! on west's HTTP ingress, all of east dies (its nats-server is killed and
//! its host stops): west answers every request, and east's replica is
//! placed on west's spare host.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_host::lattice::{ClusterKeys, Lattice};
use lattice_host::Host;
use lattice_tests::hosts::{self, id};
use lattice_tests::nats::NatsServer;
use lattice_tests::{eventually, eventually_within, fixtures, http_client};

/// A development host labelled `zone=ZONE`, joined through the NATS server
/// at `url` with the cluster key `seed`, its state in the hub's JetStream
/// domain.
async fn host_in(url: &str, zone: &str, seed: &str) -> (Host, Lattice) {
    let host = hosts::labelled_host(
        BTreeMap::from([("zone".to_string(), zone.to_string())]),
        None,
    );
    let cluster = ClusterKeys::new(nkeys::KeyPair::from_seed(seed).unwrap(), &[]);
    let mut config = hosts::lattice_config(url, cluster);
    config.nats.js_domain = Some("hub".into());
    let lattice = Lattice::join(host.clone(), &config).await.unwrap();
    (host, lattice)
}

/// The app of these tests: hello in each zone (spread), `stock` (hello
/// again) in west only, an HTTP server on every host serving both (each on
/// a port of its own); applied through the hub.
fn apply(hub: &NatsServer, dir: &std::path::Path, hello: &str) {
    let app = dir.join("shop.toml");
    std::fs::write(
        &app,
        format!(
            r#"[app]
name = "shop"

[[actors]]
id = "hello"
reference = "{hello}"
placement = {{ replicas = 2, spread = {{ label = "zone", weights = {{ east = 50, west = 50 }} }} }}

[[actors]]
id = "stock"
reference = "{hello}"
placement = {{ constraints = {{ zone = "west" }} }}

[[providers]]
id = "http"
kind = "http-server"
placement = {{ daemon = true }}

[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}

[[links]]
source = "http"
target = "stock"
name = "stock"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#
        ),
    )
    .unwrap();
    let applied = lattice_tests::process::lattice_ctl()
        .args([
            "apply",
            app.to_str().unwrap(),
            "--nats-url",
            &hub.url(),
            "--js-domain",
            "hub",
        ])
        .output()
        .unwrap();
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
}

/// The hosts of the first and last tests: one in east, two in west (the
/// second a spare), joined with one cluster key through their clusters'
/// servers, and the shop app applied through the hub.
struct Shop {
    east: (Host, Lattice),
    west: (Host, Lattice),
    spare: (Host, Lattice),
    /// Where the app's file is.
    dir: tempfile::TempDir,
}

async fn shop(hub: &NatsServer, east_url: &str, west_url: &str) -> Shop {
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let shop = Shop {
        east: host_in(east_url, "east", &seed).await,
        west: host_in(west_url, "west", &seed).await,
        spare: host_in(west_url, "west", &seed).await,
        dir: tempfile::tempdir().unwrap(),
    };
    apply(
        hub,
        shop.dir.path(),
        &fixtures::wasm("hello").display().to_string(),
    );
    shop
}

/// `lattice-ctl app status shop` through the hub, for failure messages.
fn app_status(hub: &NatsServer) -> String {
    let out = lattice_tests::process::lattice_ctl()
        .args([
            "app",
            "status",
            "shop",
            "--nats-url",
            &hub.url(),
            "--js-domain",
            "hub",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The URL of `host`'s HTTP ingress for hello, once it answers 200.
async fn answering_ingress(host: &Host) -> String {
    answering_ingress_to(host, "hello").await
}

/// The URL of `host`'s HTTP ingress for `target`, once it answers 200.
async fn answering_ingress_to(host: &Host, target: &str) -> String {
    let url = eventually("the host's ingress", async || {
        host.http_endpoints()
            .into_iter()
            .find(|e| e.link.target.as_str() == target)
            .map(|e| e.url())
    })
    .await;
    eventually("the ingress to answer", async || {
        (http_client::get(&url).await.status == 200).then_some(())
    })
    .await;
    url
}

/// GET requests to one URL, one after another, counted.
struct Load {
    served: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(url: &str) -> Self {
        let (served, failed, stop) = (
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicU64::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let task = tokio::spawn({
            let (served, failed, stop, url) = (
                served.clone(),
                failed.clone(),
                stop.clone(),
                url.to_string(),
            );
            async move {
                while !stop.load(Ordering::Relaxed) {
                    if http_client::get(&url).await.status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
        Self {
            served,
            failed,
            stop,
            task,
        }
    }

    /// A load on `url` that has served its first 20 requests.
    async fn running(url: &str) -> Self {
        let load = Self::start(url);
        eventually("the load to run", async || {
            (load.served() > 20).then_some(())
        })
        .await;
        load
    }

    fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Runs `more` requests further, stops, and counts (served, failed).
    async fn finish_after(self, more: u64) -> (u64, u64) {
        let until = self.served() + more;
        eventually("more requests", async || {
            (self.served() > until).then_some(())
        })
        .await;
        self.stop.store(true, Ordering::Relaxed);
        let counts = (self.served.clone(), self.failed.clone());
        self.task.await.unwrap();
        (
            counts.0.load(Ordering::Relaxed),
            counts.1.load(Ordering::Relaxed),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_whole_cluster_dies_the_other_serves_every_request_and_takes_its_replicas() {
    let (hub, leaf_port) = NatsServer::start_hub();
    let mut east_nats = NatsServer::start_leaf("east", leaf_port);
    let west_nats = NatsServer::start_leaf("west", leaf_port);
    let Shop {
        east: (east, east_lattice),
        west: (west, west_lattice),
        spare: (spare, spare_lattice),
        dir: _app,
    } = shop(&hub, &east_nats.url(), &west_nats.url()).await;

    // One hello in each cluster, an ingress on every host.
    eventually("hello in east and in west", async || {
        (east.actor(&id("hello")).is_some()
            && (west.actor(&id("hello")).is_some() != spare.actor(&id("hello")).is_some()))
        .then_some(())
    })
    .await;
    let west_ingress = answering_ingress(&west).await;

    // A steady load on west's ingress.
    let load = Load::running(&west_ingress).await;

    // East dies whole: its nats-server is killed and its host stops.
    let killed = Instant::now();
    east_nats.kill();
    east.shutdown(Duration::ZERO).await;
    drop(east_lattice);
    eventually_within(
        "east's replica on west's spare host",
        Duration::from_secs(30),
        async || {
            (west.actor(&id("hello")).is_some() && spare.actor(&id("hello")).is_some())
                .then_some(())
        },
    )
    .await;
    let replaced_after = killed.elapsed();
    // Keep the load on a little longer, then count.
    let (served, failed) = load.finish_after(50).await;
    eprintln!("east lost: replica re-placed in west after {replaced_after:?}; west served {served} requests, {failed} failed");
    assert_eq!(
        failed,
        0,
        "west's ingress failed {failed} of {} requests",
        served + failed
    );

    hosts::leave(spare_lattice, spare).await;
    hosts::leave(west_lattice, west).await;
    drop(hub);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_the_hub_under_load_fails_no_request_and_the_lattice_reconciles_after() {
    let (mut hub, leaf_port) = NatsServer::start_hub();
    let east_nats = NatsServer::start_leaf("east", leaf_port);
    let west_nats = NatsServer::start_leaf("west", leaf_port);
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let (east, east_lattice) = host_in(&east_nats.url(), "east", &seed).await;
    let (west, west_lattice) = host_in(&west_nats.url(), "west", &seed).await;
    let dir = tempfile::tempdir().unwrap();
    let v1 = fixtures::wasm("hello").display().to_string();
    apply(&hub, dir.path(), &v1);
    eventually("hello in both clusters", async || {
        (east.actor(&id("hello")).is_some() && west.actor(&id("hello")).is_some()).then_some(())
    })
    .await;
    let ingress = answering_ingress(&west).await;
    let load = Load::running(&ingress).await;
    hub.restart();
    let (served, failed) = load.finish_after(200).await;
    assert_eq!(
        failed,
        0,
        "west's ingress failed {failed} of {} requests",
        served + failed
    );

    // The state and the reconciler came back with the hub: a new version
    // applied now reaches both clusters.
    let v2 = dir.path().join("hello-v2.wasm");
    std::fs::copy(&v1, &v2).unwrap();
    let v2 = v2.display().to_string();
    eventually_within(
        "an apply through the restarted hub",
        Duration::from_secs(30),
        async || {
            let applied = lattice_tests::process::lattice_ctl()
                .args([
                    "get",
                    "apps",
                    "--nats-url",
                    &hub.url(),
                    "--js-domain",
                    "hub",
                ])
                .output()
                .unwrap();
            applied.status.success().then_some(())
        },
    )
    .await;
    apply(&hub, dir.path(), &v2);
    eventually_within(
        "version 2 in both clusters",
        Duration::from_secs(30),
        async || {
            let runs_v2 = |host: &Host| host.actor(&id("hello")).is_some_and(|a| a.origin() == v2);
            (runs_v2(&east) && runs_v2(&west)).then_some(())
        },
    )
    .await;
    hosts::leave(east_lattice, east).await;
    hosts::leave(west_lattice, west).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_cluster_serves_on_and_after_the_heal_nothing_runs_twice() {
    let leaf_port = lattice_tests::free_port();
    let link = lattice_tests::proxy::Proxy::start(leaf_port).await;
    let hub = NatsServer::start_hub_on(leaf_port, Some(link.port()));
    let east_nats = NatsServer::start_leaf_through("east", link.port());
    let west_nats = NatsServer::start_leaf("west", leaf_port);
    eventually("east's leaf to reach the hub", async || {
        east_nats
            .logged(&["Leafnode connection created"])
            .then_some(())
    })
    .await;
    let Shop {
        east: (east, east_lattice),
        west: (west, west_lattice),
        spare: (spare, spare_lattice),
        dir: _app,
    } = shop(&hub, &east_nats.url(), &west_nats.url()).await;
    let all = [&east, &west, &spare];
    let running = |actor: &str| all.iter().filter(|h| h.actor(&id(actor)).is_some()).count();
    eventually("hello in both clusters, stock in west", async || {
        (east.actor(&id("hello")).is_some() && running("hello") == 2 && running("stock") == 1)
            .then_some(())
    })
    .await;
    let east_ingress = answering_ingress(&east).await;
    // Stock runs in west only: east's ingress reaches it through the hub.
    let east_to_stock = answering_ingress_to(&east, "stock").await;

    // East is cut off from the hub, alive: it serves on from what runs
    // there, and west places east's replica on its spare host.
    let leaf_closed = ["Leafnode connection closed"];
    let closed_before = east_nats.logged_times(&leaf_closed);
    link.cut();
    // Once east's server has seen its leaf connection go, a call that needs
    // the other side fails at once, naming what it needs. (A call already
    // on its way when the cut came is lost and fails at its deadline.)
    eventually("east's server to see the cut", async || {
        (east_nats.logged_times(&leaf_closed) > closed_before).then_some(())
    })
    .await;
    let started = Instant::now();
    let reply = http_client::get(&east_to_stock).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "a call across the cut took {:?}: not at once",
        started.elapsed()
    );
    reply.assert_error(502, "no host in lattice default runs stock");
    let load = Load::running(&east_ingress).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(west.actor(&id("hello")).is_some() && spare.actor(&id("hello")).is_some()) {
        assert!(
            Instant::now() < deadline,
            "west did not take east's replica in 30 s; the app's status: {}",
            app_status(&hub)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (served, failed) = load.finish_after(50).await;
    // The cut held: through the hub only west's hosts answer.
    let hosts = lattice_tests::process::lattice_ctl()
        .args(["get", "hosts", "--nats-url", &hub.url(), "-o", "json"])
        .output()
        .unwrap();
    let hosts: serde_json::Value = serde_json::from_slice(&hosts.stdout).unwrap();
    assert_eq!(hosts.as_array().map(Vec::len), Some(2), "{hosts}");
    assert_eq!(
        failed,
        0,
        "east's ingress failed {failed} of {} while cut off",
        served + failed
    );
    assert!(
        east.actor(&id("hello")).is_some(),
        "east stopped serving while cut off"
    );

    // Healed: one replica per zone again, no component twice.
    link.heal();
    eventually_within(
        "one hello per zone and one stock after the heal",
        Duration::from_secs(30),
        async || {
            (east.actor(&id("hello")).is_some() && running("hello") == 2 && running("stock") == 1)
                .then_some(())
        },
    )
    .await;
    eventually("east to reach stock again after the heal", async || {
        (http_client::get(&east_to_stock).await.status == 200).then_some(())
    })
    .await;
    for (host, lattice) in [
        (east, east_lattice),
        (west, west_lattice),
        (spare, spare_lattice),
    ] {
        hosts::leave(lattice, host).await;
    }
}

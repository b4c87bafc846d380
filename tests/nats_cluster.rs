//! A lattice on a three-server NATS cluster with its state replicated
//! three times (`--kv-replicas 3`), as the README advises for production.
//! Two hosts serve an app (hello on both, an HTTP server on each); one
//! server of the three is killed (SIGKILL) under a steady load: every
//! request is still answered, and `get hosts`, `get links` and `get apps`
//! answer through the two left. The server comes back on its own store and
//! catches up without anyone's help; then a second server is killed, which
//! only leaves a quorum if the first truly rejoined.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lattice_host::lattice::{ClusterKeys, Lattice};
use lattice_host::Host;
use lattice_tests::hosts;
use lattice_tests::nats::NatsCluster;
use lattice_tests::process::ctl_at;
use lattice_tests::{eventually, eventually_within, fixtures, http_client};

async fn host(url: &str, seed: &str) -> (Host, Lattice) {
    let host = hosts::labelled_host(Default::default(), None);
    let cluster = ClusterKeys::new(nkeys::KeyPair::from_seed(seed).unwrap(), &[]);
    let mut config = hosts::lattice_config(url, cluster);
    config.kv_replicas = 3;
    let lattice = Lattice::join(host.clone(), &config).await.unwrap();
    (host, lattice)
}

/// `lattice-ctl ARGS -o json` through the cluster, when it succeeds.
fn json_of(url: &str, args: &[&str]) -> Option<String> {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = ctl_at(url, &all);
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether hosts, links and apps all answer through `url`, naming both
/// hosts, hello's link and the app.
fn lattice_answers(url: &str, hosts: &[&Host]) -> Option<()> {
    let listed = json_of(url, &["get", "hosts"])?;
    let links = json_of(url, &["get", "links"])?;
    let apps = json_of(url, &["get", "apps"])?;
    (hosts.iter().all(|h| listed.contains(h.id().as_str()))
        && links.contains("hello")
        && apps.contains("\"greeting\""))
    .then_some(())
}

/// The URL of `host`'s HTTP ingress to hello, once it answers 200.
async fn ingress(host: &Host) -> String {
    let url = eventually("the host's ingress", async || {
        host.http_endpoints()
            .into_iter()
            .find(|e| e.link.target.as_str() == "hello")
            .map(|e| e.url())
    })
    .await;
    eventually("the ingress to answer", async || {
        (http_client::get(&url).await.status == 200).then_some(())
    })
    .await;
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_nats_server_of_three_dead_the_lattice_answers_and_serves() {
    let mut cluster = NatsCluster::start(3).await;
    let url = cluster.url();
    let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let (east, east_lattice) = host(&url, &seed).await;
    let (west, west_lattice) = host(&url, &seed).await;
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("greeting.toml");
    std::fs::write(
        &app,
        format!(
            r#"[app]
name = "greeting"

[[actors]]
id = "hello"
reference = "{}"
placement = {{ daemon = true }}

[[providers]]
id = "http"
kind = "http-server"
placement = {{ daemon = true }}

[[links]]
source = "http"
target = "hello"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "127.0.0.1:0" }}
"#,
            fixtures::wasm("hello").display()
        ),
    )
    .unwrap();
    let applied = ctl_at(&url, &["apply", app.to_str().unwrap()]);
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let urls = [ingress(&east).await, ingress(&west).await];

    // A steady load on both hosts' ingress, every answer counted.
    let (served, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn({
        let (served, failed, stop) = (served.clone(), failed.clone(), stop.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                for url in &urls {
                    if http_client::get(url).await.status == 200 {
                        served.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    });

    let stream = format!("KV_LATTICE_{}", "default");
    for victim in [0, 1] {
        cluster.servers[victim].kill();
        let through_the_rest = url.clone();
        eventually_within(
            "hosts, links and apps to answer through the servers left",
            Duration::from_secs(60),
            async || {
                let url = through_the_rest.clone();
                let (east, west) = (east.clone(), west.clone());
                tokio::task::spawn_blocking(move || lattice_answers(&url, &[&east, &west]))
                    .await
                    .ok()?
            },
        )
        .await;
        let before = served.load(Ordering::Relaxed);
        eventually("requests served with the server dead", async || {
            (served.load(Ordering::Relaxed) > before + 20).then_some(())
        })
        .await;
        // Back on its own store: it rejoins and catches up by itself.
        cluster.servers[victim].restart();
        cluster.wait_for_replicas(&stream).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    let (served, failed) = (
        served.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
    );
    eprintln!("{served} requests served, {failed} failed, across two server deaths");
    assert_eq!(failed, 0, "{failed} of {} requests failed", served + failed);
    hosts::leave(east_lattice, east).await;
    hosts::leave(west_lattice, west).await;
}

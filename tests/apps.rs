//! Apps: `lattice-ctl apply` stores a manifest with placements in the
//! lattice, and the hosts' reconciler brings it about: replicas spread over
//! zones, replaced when their host dies, rolled to a new version and back,
//! reported with reasons when they cannot be placed, and removed with the
//! app. Bad apps are refused by `apply` in one line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use lattice_host::lattice::Lattice;
use lattice_host::Host;
use lattice_interfaces::protocol::app::AppStatus;
use lattice_tests::hosts::{self, id};
use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at as ctl, succeeded as ok};
use lattice_tests::{eventually, eventually_within, fixtures};

/// A development host labelled `zone=ZONE` (and `extra`), joined to the
/// lattice at `url`.
async fn host_in(url: &str, zone: &str, extra: &[(&str, &str)]) -> (Host, Lattice) {
    host_with_key(url, zone, extra, None).await
}

/// Like [`host_in`], with the host key `seed` when given.
async fn host_with_key(
    url: &str,
    zone: &str,
    extra: &[(&str, &str)],
    seed: Option<&str>,
) -> (Host, Lattice) {
    let mut labels: BTreeMap<String, String> = [("zone".to_string(), zone.to_string())].into();
    labels.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let identity = seed.map(|seed| lattice_host::HostIdentity::from_seed(seed).unwrap());
    let host = hosts::labelled_host(labels, identity);
    let config = hosts::lattice_config(url, lattice_host::lattice::ClusterKeys::development());
    let lattice = Lattice::join(host.clone(), &config).await.unwrap();
    (host, lattice)
}

fn write_app(dir: &std::path::Path, name: &str, body: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, body).unwrap();
    path.display().to_string()
}

fn hello_app(reference: &str, placement: &str) -> String {
    format!(
        "[app]\nname = \"shop\"\n\n[[actors]]\nid = \"hello\"\nreference = \"{reference}\"\nplacement = {placement}\n"
    )
}

/// hello, and a copy of it in `dir` (another reference, the same component).
fn two_versions(dir: &std::path::Path) -> (String, String) {
    let v1 = fixtures::wasm("hello").display().to_string();
    let v2 = dir.join("hello-v2.wasm");
    std::fs::copy(&v1, &v2).unwrap();
    (v1, v2.display().to_string())
}

/// The app's status once a host reconciled it (`None` before: pending).
async fn status(url: &str, app: &str) -> Option<AppStatus> {
    let out = ctl(url, &["app", "status", app, "-o", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    (out.status.success() && json["state"] != "pending")
        .then(|| serde_json::from_value(json).unwrap())
}

fn running_hello(hosts: &[&Host]) -> Vec<String> {
    hosts
        .iter()
        .filter(|h| h.actor(&id("hello")).is_some())
        .map(|h| h.id().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_spreads_over_zones_replaces_a_dead_hosts_replica_and_goes_when_deleted() {
    let nats = NatsServer::start();
    let url = nats.url();
    let mut east = vec![
        host_in(&url, "east", &[]).await,
        host_in(&url, "east", &[]).await,
    ];
    let (west, lattice_west) = host_in(&url, "west", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello");
    let app = write_app(
        dir.path(),
        "shop",
        &hello_app(
            &hello.display().to_string(),
            "{ replicas = 2, spread = { label = \"zone\", weights = { east = 50, west = 50 } } }",
        ),
    );
    let applied = ok(&ctl(&url, &["apply", &app]));
    assert!(applied.contains("app shop version 1 applied"), "{applied}");

    // One replica in each zone.
    eventually("hello on one east and one west host", async || {
        let running = running_hello(&[&east[0].0, &east[1].0, &west]);
        (running.len() == 2 && running.contains(&west.id().to_string())).then_some(())
    })
    .await;
    let converged = eventually("the app to converge", async || {
        status(&url, "shop").await.filter(|s| s.converged)
    })
    .await;
    assert_eq!(converged.components[0].desired, 2);
    let listed = ok(&ctl(&url, &["get", "apps"]));
    assert!(
        listed.contains("shop") && listed.contains("converged"),
        "{listed}"
    );

    // The east host running it dies (leaves without a word): the other east
    // host takes its replica, within 3 silent passes and one placement.
    let dead_index = east
        .iter()
        .position(|(host, _)| host.actor(&id("hello")).is_some())
        .unwrap();
    let (dead, dead_lattice) = east.remove(dead_index);
    let (survivor, survivor_lattice) = east.remove(0);
    let killed = Instant::now();
    dead_lattice.leave().await;
    dead.shutdown(Duration::ZERO).await;
    eventually_within(
        "the replica to move to the other east host",
        Duration::from_secs(20),
        async || survivor.actor(&id("hello")).map(drop),
    )
    .await;
    let moved_after = killed.elapsed();
    assert!(west.actor(&id("hello")).is_some(), "the west replica stays");
    eprintln!("replica re-placed {moved_after:?} after its host died");

    // Deleting the app stops what it runs, everywhere.
    ok(&ctl(&url, &["delete", "app", "shop"]));
    eventually("hello to stop everywhere", async || {
        running_hello(&[&survivor, &west]).is_empty().then_some(())
    })
    .await;
    eventually("the app to be gone", async || {
        let listed = ok(&ctl(&url, &["get", "apps"]));
        listed.contains("no apps").then_some(())
    })
    .await;
    hosts::leave(survivor_lattice, survivor).await;
    hosts::leave(lattice_west, west).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplaceable_app_says_why_and_is_placed_when_a_matching_host_appears() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (plain, plain_lattice) = host_in(&url, "east", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello").display().to_string();
    let app = write_app(
        dir.path(),
        "shop",
        &hello_app(&hello, "{ replicas = 1, constraints = { gpu = \"yes\" } }"),
    );
    ok(&ctl(&url, &["apply", &app]));
    let stuck = eventually("a reason in the app's status", async || {
        status(&url, "shop")
            .await
            .and_then(|s| s.components[0].reason.clone())
    })
    .await;
    assert!(
        stuck.contains("gpu=yes") && stuck.contains("no other host matches"),
        "{stuck}"
    );
    let shown = ok(&ctl(&url, &["app", "status", "shop"]));
    assert!(shown.contains("gpu=yes"), "{shown}");
    assert!(plain.actor(&id("hello")).is_none());

    let (gpu, gpu_lattice) = host_in(&url, "east", &[("gpu", "yes")]).await;
    eventually("hello on the gpu host", async || {
        gpu.actor(&id("hello")).map(drop)
    })
    .await;
    eventually("the app to converge", async || {
        status(&url, "shop").await.filter(|s| s.converged).map(drop)
    })
    .await;
    hosts::leave(gpu_lattice, gpu).await;
    hosts::leave(plain_lattice, plain).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_rolls_out_and_an_old_one_comes_back() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = host_in(&url, "east", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = two_versions(dir.path());
    let reference = || host.actor(&id("hello")).map(|a| a.origin().to_string());

    ok(&ctl(
        &url,
        &[
            "apply",
            &write_app(dir.path(), "v1", &hello_app(&v1, "{ replicas = 1 }")),
        ],
    ));
    eventually("version 1 to run", async || {
        (reference() == Some(v1.clone())).then_some(())
    })
    .await;
    let applied = ok(&ctl(
        &url,
        &[
            "apply",
            &write_app(dir.path(), "v2", &hello_app(&v2, "{ replicas = 1 }")),
        ],
    ));
    assert!(applied.contains("version 2"), "{applied}");
    eventually("version 2 to run", async || {
        (reference() == Some(v2.clone())).then_some(())
    })
    .await;
    ok(&ctl(&url, &["apply", "--app", "shop", "--version", "1"]));
    eventually("version 1 to run again", async || {
        (reference() == Some(v1.clone())).then_some(())
    })
    .await;
    let refused = ctl(&url, &["apply", "--app", "shop", "--version", "9"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && stderr.contains("app shop: no version 9 (kept: 1, 2)"),
        "{stderr}"
    );
    // The file of the current version applied again changes nothing.
    let again = ok(&ctl(
        &url,
        &[
            "apply",
            &write_app(dir.path(), "v1", &hello_app(&v1, "{ replicas = 1 }")),
        ],
    ));
    assert!(again.contains("app shop unchanged: version 1"), "{again}");
    let listed = ok(&ctl(&url, &["get", "apps"]));
    assert!(listed.contains("1,2"), "no third version kept: {listed}");
    hosts::leave(lattice, host).await;
    // With no host left to reconcile it, a new app is pending: said, and
    // not an error.
    let idle = hello_app(&v1, "{ replicas = 1 }").replace("name = \"shop\"", "name = \"idle\"");
    ok(&ctl(
        &url,
        &["apply", &write_app(dir.path(), "idle", &idle)],
    ));
    let pending = ok(&ctl(&url, &["app", "status", "idle"]));
    assert!(
        pending.contains("app idle version 1: pending: no host has reconciled it yet"),
        "{pending}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_refuses_a_bad_app_in_one_line_naming_what_and_why() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = host_in(&url, "east", &[]).await;
    let registry = lattice_tests::registry::RegistryServer::start();
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello").display().to_string();
    let missing_ref = registry.reference("missing:1");
    let cases = [
        ("no-app", format!("[[actors]]\nid = \"hello\"\nreference = \"{hello}\"\n"), "not an app: add an [app] table"),
        ("bad-name", format!("[app]\nname = \"Shop!\"\n[[actors]]\nid = \"hello\"\nreference = \"{hello}\"\n"), "app name \"Shop!\""),
        ("zero-spread", hello_app(&hello, "{ replicas = 2, spread = { label = \"zone\", weights = { east = 0 } } }"), "actor \"hello\": spread over zone cannot be satisfied"),
        ("bad-label", hello_app(&hello, "{ constraints = { \"zo ne\" = \"x\" } }"), "is not a label"),
        ("daemon-replicas", hello_app(&hello, "{ daemon = true, replicas = 2 }"), "leave out replicas"),
        ("unknown-field", hello_app(&hello, "{ replica = 2 }"), "unknown field `replica`"),
        ("range-without-rule", hello_app(&hello, "{ replicas = { min = 0, max = 3 } }"), "needs a scale rule"),
        ("rule-without-range", hello_app(&hello, "{ replicas = 2, scale = { target_in_flight = 5 } }"), "a scale rule needs replicas = { min, max }"),
        ("upside-down-range", hello_app(&hello, "{ replicas = { min = 4, max = 2 }, scale = { target_in_flight = 5 } }"), "is not a range"),
        ("provider-scaled", format!("{}\n[[providers]]\nid = \"http\"\nkind = \"http-server\"\nplacement = {{ replicas = {{ min = 1, max = 2 }}, scale = {{ target_in_flight = 5 }} }}\n", hello_app(&hello, "{ replicas = 1 }")), "providers do not autoscale"),
        ("missing-file", hello_app("/nonexistent/hello.wasm", "{ replicas = 1 }"), "actor \"hello\": cannot read /nonexistent/hello.wasm"),
        ("missing-artifact", hello_app(&missing_ref, "{ replicas = 1 }"), "app shop: "),
        ("stray-link", format!("{}\n[[links]]\nsource = \"http\"\ntarget = \"hello\"\ninterface = \"wasi:http/incoming-handler\"\n", hello_app(&hello, "{ replicas = 1 }")), "source \"http\" is neither an actor nor a provider"),
    ];
    for (name, body, reason) in cases {
        let file = write_app(dir.path(), name, &body);
        let out = ctl(
            &url,
            &[
                "apply",
                &file,
                "--allow-insecure-registry",
                &registry.address(),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name} was applied");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
    }
    let missing = ctl(
        &url,
        &[
            "apply",
            &write_app(
                dir.path(),
                "m",
                &hello_app(&missing_ref, "{ replicas = 1 }"),
            ),
            "--allow-insecure-registry",
            &registry.address(),
        ],
    );
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("not found in the registry"), "{stderr}");
    let listed = ok(&ctl(&url, &["get", "apps"]));
    assert!(listed.contains("no apps"), "{listed}");
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_restarted_with_its_key_gets_its_replica_back_once() {
    let nats = NatsServer::start();
    let url = nats.url();
    let seed = nkeys::KeyPair::new_server().seed().unwrap();
    let (host, lattice) = host_with_key(&url, "east", &[("role", "edge")], Some(&seed)).await;
    let (other, other_lattice) = host_in(&url, "east", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello").display().to_string();
    let app = write_app(
        dir.path(),
        "shop",
        &hello_app(
            &hello,
            "{ replicas = 1, constraints = { role = \"edge\" } }",
        ),
    );
    ok(&ctl(&url, &["apply", &app]));
    eventually("hello on the edge host", async || {
        host.actor(&id("hello")).map(drop)
    })
    .await;

    // The host restarts with the same key, empty: it gets hello back, and
    // no host ever runs two.
    lattice.leave().await;
    host.shutdown(Duration::ZERO).await;
    let (again, again_lattice) =
        host_with_key(&url, "east", &[("role", "edge")], Some(&seed)).await;
    assert_eq!(again.id(), host.id());
    eventually("hello back on the restarted host", async || {
        again.actor(&id("hello")).map(drop)
    })
    .await;
    let converged = eventually("the app to converge", async || {
        status(&url, "shop").await.filter(|s| s.converged)
    })
    .await;
    assert_eq!(converged.components[0].running, [again.id().to_string()]);
    assert!(
        other.actor(&id("hello")).is_none(),
        "placed on a host without role=edge"
    );
    hosts::leave(again_lattice, again).await;
    hosts::leave(other_lattice, other).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_applied_under_load_fails_no_request() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;

    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = host_in(&url, "east", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = two_versions(dir.path());
    let with_http = |reference: &str| {
        format!(
            "{}\n[[providers]]\nid = \"http\"\nkind = \"http-server\"\n\n[[links]]\nsource = \"http\"\ntarget = \"hello\"\ninterface = \"wasi:http/incoming-handler\"\nsource_config = {{ address = \"127.0.0.1:0\" }}\n",
            hello_app(reference, "{ replicas = 1 }")
        )
    };
    ok(&ctl(
        &url,
        &["apply", &write_app(dir.path(), "v1", &with_http(&v1))],
    ));
    let ingress = eventually("the ingress", async || {
        host.http_endpoints().first().map(|e| e.url())
    })
    .await;
    eventually("hello to answer", async || {
        (lattice_tests::http_client::get(&ingress).await.status == 200).then_some(())
    })
    .await;

    let (served, failed, stop) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let load = tokio::spawn({
        let (served, failed, stop, url) = (
            served.clone(),
            failed.clone(),
            stop.clone(),
            ingress.clone(),
        );
        async move {
            while !stop.load(Ordering::Relaxed) {
                if lattice_tests::http_client::get(&url).await.status == 200 {
                    served.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    });
    ok(&ctl(
        &url,
        &["apply", &write_app(dir.path(), "v2", &with_http(&v2))],
    ));
    eventually("version 2 to run", async || {
        (host.actor(&id("hello")).map(|a| a.origin().to_string()) == Some(v2.clone())).then_some(())
    })
    .await;
    let more = served.load(Ordering::Relaxed) + 50;
    eventually("requests on version 2", async || {
        (served.load(Ordering::Relaxed) > more).then_some(())
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    load.await.unwrap();
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "{} served",
        served.load(Ordering::Relaxed)
    );
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_host_hands_its_replica_over_then_stops() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (one, one_lattice) = host_in(&url, "east", &[]).await;
    let (two, two_lattice) = host_in(&url, "east", &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello").display().to_string();
    let app = write_app(dir.path(), "shop", &hello_app(&hello, "{ replicas = 1 }"));
    ok(&ctl(&url, &["apply", &app]));
    let first = eventually("hello to be placed", async || {
        running_hello(&[&one, &two]).first().cloned()
    })
    .await;
    let (drained, other) = if first == one.id() {
        (&one, &two)
    } else {
        (&two, &one)
    };

    // Labels can be set and removed by hand too.
    ok(&ctl(
        &url,
        &["label", "put", other.id().as_str(), "rack=r1"],
    ));
    assert_eq!(other.labels().get("rack").map(String::as_str), Some("r1"));
    ok(&ctl(&url, &["label", "del", other.id().as_str(), "rack"]));
    assert!(!other.labels().contains_key("rack"));

    let out = ok(&ctl(
        &url,
        &["host", "drain", drained.id().as_str(), "--wait", "60"],
    ));
    assert!(out.contains("drained"), "{out}");
    // Its replica runs on the other host, and the drained host was asked to
    // stop (its lattice says so).
    assert!(other.actor(&id("hello")).is_some(), "hello did not move");
    let stopped = if drained.id() == one.id() {
        &one_lattice
    } else {
        &two_lattice
    };
    tokio::time::timeout(Duration::from_secs(10), stopped.stopped())
        .await
        .expect("the drained host was asked to stop");
    let status = status(&url, "shop").await.unwrap();
    assert!(status.converged, "{status:?}");

    // A host that cannot hand over (no other host matches) is left running,
    // saying why.
    let refused = ctl(&url, &["host", "drain", other.id().as_str(), "--wait", "3"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("have not converged without it"), "{said}");
    assert!(other.actor(&id("hello")).is_some());
    hosts::leave(one_lattice, one).await;
    hosts::leave(two_lattice, two).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_sent_sigterm_hands_its_replica_over_before_it_stops() {
    let nats = NatsServer::start();
    let url = nats.url();
    let binary = fixtures::binary("lattice-host");
    let mut stopping = HostProcess::start(&binary, &url, "default", &[]);
    let dir = tempfile::tempdir().unwrap();
    let hello = fixtures::wasm("hello").display().to_string();
    let app = write_app(dir.path(), "shop", &hello_app(&hello, "{ replicas = 1 }"));
    ok(&ctl(&url, &["apply", &app]));
    eventually("hello to run on the only host", async || {
        status(&url, "shop")
            .await
            .filter(|s| s.converged && s.components.iter().any(|c| c.running == [stopping.id()]))
    })
    .await;
    let (other, other_lattice) = host_in(&url, "east", &[]).await;

    // What Kubernetes does to a pod it deletes.
    stopping.terminate();
    let exit = stopping
        .wait_exit(Duration::from_secs(60))
        .expect("the host exits after SIGTERM");
    assert!(exit.success(), "{exit}");
    assert!(stopping.logged(&["handing over app replicas", "shop"]));
    assert!(!stopping.logged(&["stopping before these apps converged"]));
    // It waited until the replica ran elsewhere: no gap for the app.
    assert!(
        other.actor(&id("hello")).is_some(),
        "hello was not running on the other host when the first one exited"
    );
    hosts::leave(other_lattice, other).await;
}

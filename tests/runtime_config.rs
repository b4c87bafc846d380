//! Runtime config: an actor reads the named config entries it lists through
//! `wasi:config/store`, merged in order (a later entry wins a key). A
//! manifest writes entries in `[config.NAME]` tables; on a lattice,
//! `lattice-ctl config put` writes them, `start actor --config NAME` names
//! them, and a change reaches the next request with no restart. An actor
//! naming an entry that does not exist does not start, and says which.

use lattice_tests::hosts::{self, id};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at as ctl, succeeded as ok};
use lattice_tests::{eventually, fixtures, http_client};

/// The `configured` example reading `reads`, served over HTTP on a free
/// port by provider `http`.
fn configured(reads: &[&str]) -> ManifestBuilder {
    ManifestBuilder::new()
        .actor("configured", &fixtures::wasm("configured"))
        .reads(reads)
        .provider("http", "http-server")
        .http_link("http", "configured", "127.0.0.1:0")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_writes_named_config_and_its_actor_reads_it() {
    let manifest = configured(&["base", "local"])
        .named_config("base", &[("greeting", "Howdy"), ("name", "Base")])
        .named_config("local", &[("name", "Local")])
        .build();
    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    let reply = http_client::get(&url).await;
    assert_eq!(reply.body, "Howdy from Local!\n", "later entries win a key");
    let all = http_client::get(&format!("{url}config")).await;
    assert_eq!(all.body, "greeting=Howdy\nname=Local\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_put_on_a_lattice_reaches_the_next_request_and_a_missing_entry_is_named() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = hosts::dev_lattice(&url).await;
    let wasm = fixtures::wasm("configured").display().to_string();

    ok(&ctl(
        &url,
        &["config", "put", "greeting", "greeting=Hi", "name=East"],
    ));
    ok(&ctl(
        &url,
        &[
            "start",
            "actor",
            "configured",
            &wasm,
            "--config",
            "greeting",
        ],
    ));
    let endpoint = hosts::serve_http(&host, &lattice, "configured").await;
    assert_eq!(http_client::get(&endpoint).await.body, "Hi from East!\n");

    // A change reaches the instances made after it: no restart.
    ok(&ctl(
        &url,
        &["config", "put", "greeting", "greeting=Bye", "name=East"],
    ));
    eventually("the new greeting", async || {
        (http_client::get(&endpoint).await.body == "Bye from East!\n").then_some(())
    })
    .await;

    // An entry that does not exist: nothing starts, one line names it.
    let refused = ctl(
        &url,
        &[
            "start",
            "actor",
            "unconfigured",
            &wasm,
            "--config",
            "nowhere",
        ],
    );
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("named config \"nowhere\" does not exist"),
        "{error}"
    );
    assert_eq!(error.trim().lines().count(), 1, "{error}");
    assert!(host.actor(&id("unconfigured")).is_none());

    // Deleted: the actor reads no entry, so its defaults.
    ok(&ctl(&url, &["config", "del", "greeting"]));
    eventually("the defaults once the entry is gone", async || {
        (http_client::get(&endpoint).await.body == "Hello from Lattice!\n").then_some(())
    })
    .await;
    hosts::leave(lattice, host).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_owns_its_named_config_and_takes_it_when_deleted() {
    let nats = NatsServer::start();
    let url = nats.url();
    let (host, lattice) = hosts::dev_lattice(&url).await;
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("greeter.toml");
    std::fs::write(
        &app,
        configured(&["greeting"])
            .app("greeter")
            .named_config("greeting", &[("greeting", "Ahoy")])
            .toml(),
    )
    .unwrap();
    ok(&ctl(&url, &["apply", app.to_str().unwrap()]));
    let endpoint = eventually("the app's endpoint", async || {
        host.http_endpoints().first().map(|e| e.url())
    })
    .await;
    eventually("the app's greeting", async || {
        (http_client::get(&endpoint).await.body == "Ahoy from Lattice!\n").then_some(())
    })
    .await;
    assert!(ok(&ctl(&url, &["config", "get", "greeting"])).contains("Ahoy"));

    // A new version reading one more entry: the running actor's next
    // instances read it, with no restart (its call counters carry on).
    let calls_before = host.actor(&id("configured")).unwrap().stats().calls;
    std::fs::write(
        &app,
        configured(&["greeting", "loud"])
            .app("greeter")
            .named_config("greeting", &[("greeting", "Ahoy")])
            .named_config("loud", &[("name", "LOUD")])
            .toml(),
    )
    .unwrap();
    ok(&ctl(&url, &["apply", app.to_str().unwrap()]));
    eventually("the new version's config", async || {
        (http_client::get(&endpoint).await.body == "Ahoy from LOUD!\n").then_some(())
    })
    .await;
    assert!(host.actor(&id("configured")).unwrap().stats().calls > calls_before);

    ok(&ctl(&url, &["delete", "app", "greeter"]));
    eventually("the app's config to go with it", async || {
        (!ctl(&url, &["config", "get", "greeting"]).status.success()
            && host.actor(&id("configured")).is_none())
        .then_some(())
    })
    .await;
    hosts::leave(lattice, host).await;
}

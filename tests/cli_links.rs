//! Links do not outlive what owns them, and stale state can be reset
//! without a host.
//!
//! `lattice-ctl up MANIFEST --nats-url …` owns its manifest's links: it
//! replaces a stale link at the same key when it starts, and deletes the
//! links it put when it stops, so the next README block starts clean. When
//! no host runs at all, `lattice-ctl link del` and `lattice-ctl reset --yes`
//! still work: the lattice's state bucket is reachable directly. The test
//! reads the bucket through `link.get` and the CLI's exit codes and output.

use std::process::{Output, Stdio};
use std::time::Duration;

use lattice_interfaces::protocol::control::{op, Empty};
use lattice_tests::hosts::http_link;
use lattice_tests::lattice::Control;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{lattice_ctl, printed_url, terminate_and_wait};
use lattice_tests::{eventually, fixtures};

fn ctl(url: &str, args: &[&str]) -> Output {
    lattice_ctl()
        .args(["--nats-url", url])
        .args(args)
        .output()
        .unwrap()
}

/// `lattice-ctl up MANIFEST` joined to the lattice at `url`.
fn up(url: &str, manifest: &std::path::Path) -> std::process::Child {
    lattice_ctl()
        .args(["up", "--allow-unsigned", "--no-cache", "--nats-url", url])
        .arg(manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

async fn links(control: &Control) -> Vec<String> {
    let mut links: Vec<String> = control
        .ok::<op::GetLinks>(None, Empty {})
        .await
        .iter()
        .map(ToString::to_string)
        .collect();
    links.sort();
    links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_owns_its_links_and_state_is_repaired_without_a_host() {
    let nats = NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("hello.toml");
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    std::fs::write(
        &manifest,
        ManifestBuilder::new()
            .actor("hello", &fixtures::wasm("hello"))
            .provider("http", "http-server")
            .http_link("http", "hello", &address)
            .toml(),
    )
    .unwrap();

    // A stale link at the manifest's key, left by an earlier run (another
    // target): the first `up` replaces it.
    let js = async_nats::jetstream::new(async_nats::connect(&url).await.unwrap());
    // Signed by a cluster key of its own, as a development host signs.
    let state = lattice_host::lattice::LatticeState::open(&js, "LATTICE_default", 1)
        .await
        .unwrap()
        .with_signing(lattice_host::lattice::LinkSigning {
            signer: std::sync::Arc::new(nkeys::KeyPair::new_cluster()),
            signers: lattice_interfaces::protocol::link_entry::LinkSigners::Any,
        });
    state
        .put_link(&http_link("http", "gone", &address))
        .await
        .unwrap();
    let mut first = up(&url, &manifest);
    let (served, _) = printed_url(&mut first);
    let control = Control::connect(&url, "default").await;
    assert_eq!(
        links(&control).await,
        ["http -> hello wasi:http/incoming-handler"]
    );
    let exit = terminate_and_wait(&mut first, "lattice-ctl up", Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
    // On exit it deleted what it put.
    let stored = async_nats::jetstream::new(control.nats().clone())
        .get_key_value("LATTICE_default")
        .await
        .unwrap();
    let mut keys = stored.keys().await.unwrap();
    assert!(
        futures::StreamExt::next(&mut keys).await.is_none(),
        "links left behind after up stopped"
    );
    drop(served);

    // Stale state with no host running: put a link straight into the
    // bucket, as a crashed host would leave it, and a config entry.
    let stale = http_link("web", "gone", &address);
    state.put_link(&stale).await.unwrap();
    stored
        .put("config.app", br#"{"colour": "blue"}"#.to_vec().into())
        .await
        .unwrap();
    // Listed with no host running, read from the bucket, and said so.
    let listed = ctl(&url, &["get", "links", "-o", "json"]);
    let links: serde_json::Value = serde_json::from_str(&stdout_of(&listed)).unwrap();
    assert_eq!(links[0]["target"], "gone", "{links}");
    let said = String::from_utf8_lossy(&listed.stderr);
    assert!(said.contains("no host answered"), "{said}");

    let deleted = stdout_of(&ctl(&url, &["link", "del", "web", "wasi:http"]));
    assert!(
        deleted.contains("link web -> gone") && deleted.contains("no host answered"),
        "{deleted}"
    );
    assert!(stored
        .get("link.web.wasi.http.default")
        .await
        .unwrap()
        .is_none());

    // reset says what it deletes (apps too), refuses without --yes,
    // naming the lattice, and clears with it.
    let help = stdout_of(&ctl(&url, &["reset", "--help"]));
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("link, named config, claims record and app"),
        "{help}"
    );
    let refused = ctl(&url, &["reset"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("lattice default") && message.contains("--yes"),
        "{message}"
    );
    let reset = stdout_of(&ctl(&url, &["reset", "--yes"]));
    assert!(
        reset.contains("0 links, 1 config, 0 claims, 0 app records deleted"),
        "{reset}"
    );
    assert!(stored.get("config.app").await.unwrap().is_none());

    // A second up starts from nothing and serves at once.
    let mut again = up(&url, &manifest);
    let (served, _) = printed_url(&mut again);
    let client = lattice_tests::http_client::HttpClient::default();
    eventually("hello to answer after a clean start", async || {
        client.get(&served).await.ok().filter(|r| r.status == 200)
    })
    .await;
    terminate_and_wait(&mut again, "lattice-ctl up", Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_request_and_pub_stand_in_for_the_nats_cli() {
    let nats = NatsServer::start();
    let url = nats.url();
    let client = async_nats::connect(&url).await.unwrap();
    let mut questions = client.subscribe("echo.>").await.unwrap();
    lattice_rpc::server_caught_up(&client, Duration::from_secs(10))
        .await
        .unwrap();
    let responder = client.clone();
    let echo = tokio::spawn(async move {
        let mut published = None;
        while let Some(message) = futures::StreamExt::next(&mut questions).await {
            match message.reply {
                Some(reply) => {
                    let answer = format!("echo: {}", String::from_utf8_lossy(&message.payload));
                    responder.publish(reply, answer.into()).await.unwrap();
                }
                None => {
                    published = Some(String::from_utf8_lossy(&message.payload).into_owned());
                    break;
                }
            }
        }
        published
    });
    let asked = tokio::task::spawn_blocking({
        let url = url.clone();
        move || ctl(&url, &["msg", "request", "echo.hi", "hello"])
    })
    .await
    .unwrap();
    assert_eq!(stdout_of(&asked).trim(), "echo: hello");
    let told = tokio::task::spawn_blocking({
        let url = url.clone();
        move || ctl(&url, &["msg", "pub", "echo.note", "noted"])
    })
    .await
    .unwrap();
    stdout_of(&told);
    assert_eq!(echo.await.unwrap().as_deref(), Some("noted"));
    // Nobody listening: one line that says so.
    let nobody = ctl(
        &url,
        &["msg", "request", "nobody.here", "x", "--timeout", "2"],
    );
    assert!(!nobody.status.success());
    let said = String::from_utf8_lossy(&nobody.stderr);
    assert!(said.contains("nobody.here"), "{said}");
}

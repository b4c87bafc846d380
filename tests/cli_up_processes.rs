//! `lattice-ctl up` with the examples' `*.process.toml` manifests, as the
//! README runs them: the HTTP server, key-value and messaging providers as
//! their own processes on a lattice, started and supervised by the host
//! `up` runs.
//!
//! The manifests are the shipped ones, with only the HTTP port, the NATS
//! URL and the folder of the built files changed for the test.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use lattice_tests::fixtures;
use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::NatsServer;

/// The shipped manifest `examples/NAME`, pointed at `nats_url`, a free
/// HTTP port and the absolute folder of the built files.
fn example_manifest(dir: &std::path::Path, name: &str, nats_url: &str) -> std::path::PathBuf {
    let examples = fixtures::repo_root().join("examples");
    let text = std::fs::read_to_string(examples.join(name))
        .unwrap()
        .replace("127.0.0.1:8082", "127.0.0.1:0")
        .replace(
            "127.0.0.1:8080",
            &format!("127.0.0.1:{}", lattice_tests::free_port()),
        )
        .replace("nats://127.0.0.1:4222", nats_url)
        .replace(
            "../build/",
            &format!("{}/", examples.join("build").display()),
        );
    let path = dir.join(name.replace('/', "-"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `lattice-ctl up` joined to `nats_url` on `manifest`.
fn up(nats_url: &str, manifest: &std::path::Path) -> Child {
    Command::new(lattice_tests::fixtures::binary("lattice-ctl"))
        .env("RUST_LOG", "warn")
        .args([
            "up",
            "--no-cache",
            "--allow-unsigned",
            "--nats-url",
            nats_url,
        ])
        .arg(manifest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn stop(mut child: Child) {
    Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    let exit = lattice_tests::wait_for("lattice-ctl to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn kv_counter_counts_with_its_provider_as_a_process() {
    fixtures::wasm("kv_counter");
    fixtures::provider_binary("lattice-provider-keyvalue");
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = example_manifest(
        dir.path(),
        "kv-counter/kv-counter.process.toml",
        &nats.url(),
    );
    let mut child = up(&nats.url(), &manifest);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("up ended before printing a URL")
            .unwrap();
        if let Some(rest) = line.trim().strip_prefix("http://") {
            break format!("http://{}", rest.split_whitespace().next().unwrap());
        }
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = HttpClient::default();
    let get = || {
        runtime
            .block_on(client.get(&format!("{url}visits")))
            .unwrap()
    };
    // The provider process starts in the background: poll until it counts.
    let first = lattice_tests::wait_for(
        "the provider process to serve",
        Duration::from_secs(30),
        || {
            let reply = get();
            (reply.status == 200).then(|| reply.body.trim().parse::<u64>().unwrap())
        },
    );
    assert_eq!(first, 1);
    assert_eq!(get().body.trim(), "2");
    stop(child);
}

#[test]
fn hello_answers_through_an_http_server_process() {
    fixtures::wasm("hello");
    fixtures::provider_binary("lattice-provider-http-server");
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = example_manifest(dir.path(), "hello/hello.process.toml", &nats.url());
    let address = std::fs::read_to_string(&manifest)
        .unwrap()
        .split("address = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let child = up(&nats.url(), &manifest);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = HttpClient::default();
    let reply = lattice_tests::wait_for(
        "the HTTP server process to answer",
        Duration::from_secs(30),
        || {
            runtime
                .block_on(client.get(&format!("http://{address}/")))
                .ok()
                .filter(|reply| reply.status == 200)
        },
    );
    assert_eq!(reply.body, "Hello from Lattice!\n");
    stop(child);
    // The provider process went with its host.
    assert!(std::net::TcpStream::connect(&address).is_err());
}

#[test]
fn echo_messaging_answers_with_its_provider_as_a_process() {
    fixtures::wasm("echo_messaging");
    fixtures::provider_binary("lattice-provider-messaging-nats");
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let manifest = example_manifest(
        dir.path(),
        "echo-messaging/echo-messaging.process.toml",
        &nats.url(),
    );
    let child = up(&nats.url(), &manifest);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(async_nats::connect(nats.url())).unwrap();
    let ask = |body: &str| {
        runtime.block_on(async {
            let reply = tokio::time::timeout(
                Duration::from_secs(1),
                client.request("echo.hi", body.to_string().into()),
            )
            .await;
            match reply {
                Ok(Ok(message)) => Some(String::from_utf8_lossy(&message.payload).into_owned()),
                _ => None,
            }
        })
    };
    let answer =
        lattice_tests::wait_for("echo to answer", Duration::from_secs(30), || ask("hello"));
    assert_eq!(answer, "echo: hello");
    assert_eq!(ask("again").as_deref(), Some("echo: again"));
    stop(child);
}

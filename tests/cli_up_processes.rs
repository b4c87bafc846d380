//! `lattice-ctl up` with the examples' `*.process.toml` manifests, as the
//! README runs them: the HTTP server, key-value and messaging providers as
//! their own processes on a lattice, started and supervised by the host
//! `up` runs.
//!
//! The manifests are the shipped ones, with only the HTTP port, the NATS
//! URL and the folder of the built files changed for the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use lattice_tests::http_client::HttpClient;
use lattice_tests::nats::{ask, NatsServer};
use lattice_tests::process::{lattice_ctl, printed_url, terminate_and_wait};
use lattice_tests::{fixtures, wait_for};

/// The shipped manifest `examples/NAME`, pointed at `nats_url`, a free
/// HTTP port and the absolute folder of the built files.
fn example_manifest(dir: &Path, name: &str, nats_url: &str) -> PathBuf {
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

/// A shipped process manifest ready to run: its NATS server, and the
/// manifest rewritten for the test in a folder of its own.
struct Example {
    nats: NatsServer,
    manifest: PathBuf,
    _dir: tempfile::TempDir,
}

impl Example {
    /// Builds actor `actor` and provider binary `provider`, starts NATS and
    /// points `examples/NAME` at it.
    fn prepare(name: &str, actor: &str, provider: &str) -> Self {
        fixtures::wasm(actor);
        fixtures::provider_binary(provider);
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let manifest = example_manifest(dir.path(), name, &nats.url());
        Self {
            nats,
            manifest,
            _dir: dir,
        }
    }

    /// Runs `lattice-ctl up` joined to the example's NATS server on its
    /// manifest.
    fn up(&self) -> Child {
        lattice_ctl()
            .args([
                "up",
                "--no-cache",
                "--allow-unsigned",
                "--allow-unsigned-providers",
                "--nats-url",
                &self.nats.url(),
            ])
            .arg(&self.manifest)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }
}

fn stop(mut child: Child) {
    let exit = terminate_and_wait(&mut child, "lattice-ctl", Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}");
}

#[test]
fn kv_counter_counts_with_its_provider_as_a_process() {
    let example = Example::prepare(
        "kv-counter/kv-counter.process.toml",
        "kv_counter",
        "lattice-provider-keyvalue",
    );
    let mut child = example.up();
    let (url, _) = printed_url(&mut child);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = HttpClient::default();
    let get = || {
        runtime
            .block_on(client.get(&format!("{url}visits")))
            .unwrap()
    };
    // The provider process starts in the background: poll until it counts.
    let first = wait_for(
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
    let example = Example::prepare(
        "hello/hello.process.toml",
        "hello",
        "lattice-provider-http-server",
    );
    let address = std::fs::read_to_string(&example.manifest)
        .unwrap()
        .split("address = \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    let child = example.up();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = HttpClient::default();
    let reply = wait_for(
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
    let example = Example::prepare(
        "echo-messaging/echo-messaging.process.toml",
        "echo_messaging",
        "lattice-provider-messaging-nats",
    );
    let child = example.up();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = runtime.block_on(example.nats.client());
    let echo = |body: &str| runtime.block_on(ask(&client, "echo.hi", body));
    let answer = wait_for("echo to answer", Duration::from_secs(30), || echo("hello"));
    assert_eq!(answer, "echo: hello");
    assert_eq!(echo("again").as_deref(), Some("echo: again"));
    stop(child);
}

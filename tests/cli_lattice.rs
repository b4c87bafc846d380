//! The README's two-host walk-through with `lattice-ctl`.
//!
//! With `nats-server -js` running, an operator starts two hosts, lists them,
//! starts the hello actor and the HTTP provider on the first, puts the link,
//! and curl gets `Hello from Lattice!`; `get links` shows the link through
//! any host; `host stop` stops one. The hosts here are `lattice-ctl up`
//! processes joined to the lattice (the same host as `lattice-host`), and the
//! test reads the CLI's JSON output, its exit codes and the HTTP answer.

use std::process::Output;
use std::time::Duration;

use lattice_tests::fixtures;
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use serde_json::Value;

fn ctl_binary() -> String {
    lattice_tests::fixtures::binary("lattice-ctl")
}

fn ctl(url: &str, args: &[&str]) -> Output {
    lattice_tests::process::lattice_ctl()
        .args(args)
        .args(["--nats-url", url])
        .output()
        .unwrap()
}

fn ok_json(output: Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[test]
fn two_hosts_an_actor_a_provider_a_link_and_curl() {
    let nats = NatsServer::start();
    let url = nats.url();
    let first = HostProcess::start_command(
        &[&ctl_binary(), "up"],
        &url,
        "default",
        &["--label", "role=edge"],
    );
    let mut second = HostProcess::start_command(&[&ctl_binary(), "up"], &url, "default", &[]);

    let hosts = ok_json(ctl(&url, &["get", "hosts", "-o", "json"]));
    assert_eq!(hosts.as_array().unwrap().len(), 2, "{hosts}");
    // Connection and output flags before the subcommand work the same.
    let before = lattice_tests::process::lattice_ctl()
        .args(["--nats-url", &url, "-o", "json", "get", "hosts"])
        .output()
        .unwrap();
    assert_eq!(ok_json(before).as_array().unwrap().len(), 2);

    let hello = fixtures::wasm("hello").display().to_string();
    let started = ctl(
        &url,
        &[
            "start",
            "actor",
            "hello",
            &hello,
            "--host",
            first.id().as_str(),
        ],
    );
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    // Placed by label rather than by host id.
    let provider = ctl(
        &url,
        &[
            "start",
            "provider",
            "http",
            "http-server",
            "--constraint",
            "role=edge",
        ],
    );
    assert!(
        String::from_utf8_lossy(&provider.stdout).contains(first.id().as_str()),
        "{}",
        String::from_utf8_lossy(&provider.stderr)
    );
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    let link = ctl(
        &url,
        &[
            "link",
            "put",
            "http",
            "hello",
            "wasi:http/incoming-handler",
            "--source-config",
            &format!("address={address}"),
        ],
    );
    assert!(
        link.status.success(),
        "{}",
        String::from_utf8_lossy(&link.stderr)
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let reply = lattice_tests::wait_for("hello to answer", Duration::from_secs(20), || {
        runtime
            .block_on(HttpClient::default().get(&format!("http://{address}/")))
            .ok()
            .filter(|r| r.status == 200)
    });
    assert_eq!(reply.body, "Hello from Lattice!\n");

    let links = ok_json(ctl(&url, &["get", "links", "-o", "json"]));
    assert_eq!(links[0]["source_config"]["address"], address.as_str());
    let inventory = ok_json(ctl(
        &url,
        &["get", "inventory", first.id().as_str(), "-o", "json"],
    ));
    assert_eq!(inventory[0]["actors"][0]["id"], "hello");

    // Config round trip.
    assert!(
        ctl(&url, &["config", "put", "app", "colour=blue", "size=3"])
            .status
            .success()
    );
    let config = ok_json(ctl(&url, &["config", "get", "app", "-o", "json"]));
    assert_eq!(config["colour"], "blue");
    assert!(ctl(&url, &["config", "del", "app"]).status.success());
    let missing = ctl(&url, &["config", "get", "app"]);
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "error: no config named \"app\""
    );

    // stop without --host finds the host that runs it; a ghost is named.
    let stopped = ctl(&url, &["stop", "provider", "http"]);
    assert!(
        String::from_utf8_lossy(&stopped.stdout)
            .contains(&format!("stopped on host {}", first.id())),
        "{}",
        String::from_utf8_lossy(&stopped.stderr)
    );
    lattice_tests::wait_for("the listener to close", Duration::from_secs(20), || {
        std::net::TcpStream::connect(&address)
            .is_err()
            .then_some(())
    });
    let ghost = ctl(&url, &["stop", "actor", "ghost"]);
    assert!(!ghost.status.success());
    assert_eq!(
        String::from_utf8_lossy(&ghost.stderr).trim(),
        "error: no host in lattice default runs actor ghost (see lattice-ctl get inventory)"
    );

    // host stop: the second host leaves and the lattice says so.
    assert!(ctl(&url, &["host", "stop", second.id().as_str()])
        .status
        .success());
    assert!(second
        .wait_exit(Duration::from_secs(20))
        .is_some_and(|s| s.success()));
    let hosts = ok_json(ctl(&url, &["get", "hosts", "-o", "json"]));
    assert_eq!(hosts.as_array().unwrap().len(), 1, "{hosts}");
}

#[test]
fn connection_failures_name_the_url_and_an_empty_lattice_says_so() {
    let port = lattice_tests::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = ctl(&url, &["get", "hosts"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: cannot connect to NATS at {url}: ")),
        "{stderr}"
    );

    let nats = NatsServer::start();
    let out = ctl(&nats.url(), &["get", "hosts"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim(),
        format!(
            "error: no host in lattice default at {} answered a ping",
            nats.url()
        )
    );
    let out = ctl(&nats.url(), &["get", "links"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: no host in lattice default at {} answered link.get",
            nats.url()
        )),
        "{stderr}"
    );
}

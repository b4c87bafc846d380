//! Components built by another toolchain than Rust's: two Python
//! components made with componentize-py (checked in under
//! `examples/fixtures/python_*`, with their source and `build.sh`). One
//! answers HTTP; the other also logs through `wasi:logging` and reads its
//! greeting through `wasi:config/store`. Each bundles the CPython
//! interpreter (about 18 MB), so these tests also show that a component of
//! that size loads and serves.

use std::path::PathBuf;
use std::time::Duration;

use lattice_interfaces::protocol::control::{op, ConfigPut, StartProvider};
use lattice_tests::hosts::{self, id};
use lattice_tests::http_client::{self, HttpClient};
use lattice_tests::lattice::{scale, start_provider, Control, HostProcess};
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;

/// The checked-in component `examples/fixtures/NAME/NAME.wasm`.
fn python(name: &str) -> PathBuf {
    let path = lattice_tests::fixtures::repo_root()
        .join("examples/fixtures")
        .join(name)
        .join(format!("{name}.wasm"));
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_component_serves_http() {
    let manifest = ManifestBuilder::new()
        .actor("py", &python("python_hello"))
        .provider("http", "http-server")
        .http_link("http", "py", "127.0.0.1:0")
        .build();
    let host = hosts::applied(&manifest).await;
    let url = hosts::first_url(&host);
    http_client::get(&format!("{url}anything"))
        .await
        .assert_answer(200, "Hello from Python!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_python_component_reads_runtime_config_and_logs_through_wasi_logging() {
    let nats = NatsServer::start();
    let ctl = Control::connect(&nats.url(), "default").await;
    let binary = lattice_tests::fixtures::binary("lattice-host");
    let host = HostProcess::start(&binary, &nats.url(), "default", &[]);
    ctl.ok::<op::PutConfig>(
        None,
        ConfigPut {
            name: id("greeting"),
            values: [("greeting".to_string(), "Hi".to_string())].into(),
        },
    )
    .await;
    let reference = python("python_configured").display().to_string();
    let mut request = scale("py", &reference, 4);
    request.config = Some(vec![id("greeting")]);
    ctl.ok::<op::ScaleActor>(Some(host.id()), request).await;
    let provider: StartProvider = start_provider("http", "http-server");
    ctl.ok::<op::StartProvider>(Some(host.id()), provider).await;
    let address = format!("127.0.0.1:{}", lattice_tests::free_port());
    ctl.ok::<op::PutLink>(None, hosts::http_link("http", "py", &address))
        .await;
    let url = format!("http://{address}/orders?id=7");
    let client = HttpClient::default();
    let reply = lattice_tests::eventually(&format!("{url} to answer"), async || {
        client.get(&url).await.ok()
    })
    .await;
    reply.assert_answer(200, "Hi from Python!");
    lattice_tests::wait_for(
        "the component's log line in the host's log",
        Duration::from_secs(10),
        || {
            host.logged(&[
                "INFO",
                "serving /orders?id=7",
                "actor=py",
                "context=\"python\"",
            ])
            .then_some(())
        },
    );
}

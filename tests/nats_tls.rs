//! NATS over TLS with client certificates, as `examples/nats/tls.conf`
//! sets a server up (`verify: true`): a `lattice-host` given its
//! certificate with `--nats-tls-cert`/`--nats-tls-key` and the CA with
//! `--nats-ca` joins; `lattice-ctl` with a certificate of its own sees it;
//! without one it is refused, in one line.

use std::time::Duration;

use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::lattice_ctl;
use lattice_tests::tls::TestCa;
use lattice_tests::{fixtures, wait_for};

#[test]
fn a_host_joins_over_nats_tls_with_its_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("nats CA");
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let ca_file = write("ca.pem", &ca.pem);
    let (server, server_key) = ca.leaf("nats");
    let (server, server_key) = (
        write("server.pem", &server),
        write("server.key", &server_key),
    );
    let (host, host_key) = ca.leaf("host");
    let (host, host_key) = (write("host.pem", &host), write("host.key", &host_key));
    let (operator, operator_key) = ca.leaf("operator");
    let (operator, operator_key) = (
        write("operator.pem", &operator),
        write("operator.key", &operator_key),
    );
    // The example's TLS block, with these files.
    let example =
        std::fs::read_to_string(fixtures::repo_root().join("examples/nats/tls.conf")).unwrap();
    let config = example
        .replace("\"server.pem\"", &format!("{server:?}"))
        .replace("\"server.key\"", &format!("{server_key:?}"))
        .replace("\"ca.pem\"", &format!("{ca_file:?}"));
    let config_file = write("tls.conf", &config);
    let nats = NatsServer::start_with_config(std::path::Path::new(&config_file));
    let url = format!("tls://127.0.0.1:{}", nats.port());

    let tls = |cert: &str, key: &str| {
        vec![
            "--nats-ca".to_string(),
            ca_file.clone(),
            "--nats-tls-cert".to_string(),
            cert.to_string(),
            "--nats-tls-key".to_string(),
            key.to_string(),
        ]
    };
    let host_args = tls(&host, &host_key);
    let host_args: Vec<&str> = host_args.iter().map(String::as_str).collect();
    let process = HostProcess::start(
        &fixtures::binary("lattice-host"),
        &url,
        "default",
        &host_args,
    );

    let operator_args = tls(&operator, &operator_key);
    let found = wait_for(
        "the host in `get hosts` over TLS",
        Duration::from_secs(20),
        || {
            let output = lattice_ctl()
                .args(["get", "hosts", "--nats-url", &url])
                .args(&operator_args)
                .output()
                .unwrap();
            let printed = String::from_utf8_lossy(&output.stdout).into_owned();
            (output.status.success() && printed.contains(&process.id().as_str()[..8]))
                .then_some(printed)
        },
    );
    assert!(found.contains(&process.id().as_str()[..8]), "{found}");

    // No client certificate: the server refuses the connection.
    let output = lattice_ctl()
        .args(["get", "hosts", "--nats-url", &url, "--nats-ca", &ca_file])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(said.trim().lines().count(), 1, "{said}");
    assert!(said.contains("127.0.0.1"), "{said}");
    drop(process);
}

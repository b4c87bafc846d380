//! A provider process starts with an empty environment plus the few
//! variables it needs (its log filter, `PATH`, CA-bundle paths, the time
//! zone): a host given its seeds and its actors' secrets by environment,
//! the container way, hands none of them to the providers it runs. What a
//! provider needs of the lattice (its NATS credentials, its signing key and
//! grant) comes on its stdin, for it alone.
//!
//! The signal: what a provider process finds in its own environment, as it
//! writes it out at start (issue 29, finding 1; before the fix it held
//! every one of the host's variables).

use std::time::Duration;

use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{ctl_at, succeeded};
use lattice_tests::{fixtures, wait_for};

#[test]
fn a_provider_process_sees_none_of_its_hosts_secrets() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("environment");
    let script = dir.path().join("envdump");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nenv > {}.part && mv {}.part {}\nexec cat > /dev/null\n",
                dump.display(),
                dump.display(),
                dump.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cluster_seed = nkeys::KeyPair::new_cluster().seed().unwrap();
    let secret = "hunter2-actors-api-token";
    let host = HostProcess::start_with_env(
        &[&fixtures::binary("lattice-host")],
        &nats.url(),
        "default",
        &[],
        &[
            ("LATTICE_CLUSTER_SEED", &cluster_seed),
            ("LATTICE_SECRET_API_TOKEN", secret),
            ("RUST_LOG", "info,lattice_host=info"),
        ],
    );
    succeeded(&ctl_at(
        &nats.url(),
        &[
            "start",
            "provider",
            "envdump",
            script.to_str().unwrap(),
            "--host",
            host.id().as_str(),
        ],
    ));
    let environment = wait_for(
        "the provider process to write its environment",
        Duration::from_secs(20),
        || std::fs::read_to_string(&dump).ok(),
    );

    assert!(
        !environment.contains(&cluster_seed),
        "the provider sees the host's cluster seed:\n{environment}"
    );
    assert!(
        !environment.contains(secret),
        "the provider sees a secret meant for actors:\n{environment}"
    );
    let names: Vec<&str> = environment
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    assert!(
        !names.iter().any(|name| name.starts_with("LATTICE_")),
        "the provider sees the host's settings: {names:?}"
    );
    // What it needs still reaches it.
    assert!(
        environment
            .lines()
            .any(|line| line == "RUST_LOG=info,lattice_host=info"),
        "the provider lost its log filter:\n{environment}"
    );
}

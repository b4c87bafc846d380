//! A provider process that hangs (runs, but answers no health check) is
//! stopped and started again by its host, as one that exits would be,
//! once its checks have failed three times in a row over ten seconds.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use lattice_tests::hosts::{self, id};
use lattice_tests::nats::{self, NatsServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_its_health_checks_is_restarted() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let mut stopped = nats::subscribe(&nats.url(), "lattice.default.evt.provider_stopped").await;
    let mut started = nats::subscribe(&nats.url(), "lattice.default.evt.provider_started").await;
    // Reads its stdin and nothing else: alive, never healthy.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hung");
    std::fs::write(&script, "#!/bin/sh\nexec cat > /dev/null\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    lattice
        .start_provider_process(
            &id("hung"),
            &script.display().to_string(),
            Default::default(),
        )
        .await
        .unwrap();

    let first = nats::next_event(&mut started, Duration::from_secs(10)).await;
    assert_eq!(first["data"]["starts"], 1, "{first}");
    // Health checks every 200 ms: failing for 10 s stops it...
    let stop = nats::next_event(&mut stopped, Duration::from_secs(30)).await;
    let reason = stop["data"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("unhealthy: ") && reason.contains("health checks failed in a row"),
        "{stop}"
    );
    assert!(stop["data"]["restarting_in_ms"].is_u64(), "{stop}");
    // ... and it is started again.
    let again = nats::next_event(&mut started, Duration::from_secs(10)).await;
    assert_eq!(again["data"]["starts"], 2, "{again}");
    hosts::leave(lattice, host).await;
}

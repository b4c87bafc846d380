//! A provider process that hangs (runs, but answers no health check) is
//! stopped and started again by its host, as one that exits would be,
//! once its checks have failed three times in a row over ten seconds.

use std::time::Duration;

use lattice_tests::hosts;
use lattice_tests::nats::{self, NatsServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_that_fails_its_health_checks_is_restarted() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let mut stopped = nats::subscribe(&nats.url(), "lattice.default.evt.provider_stopped").await;
    let mut started = nats::subscribe(&nats.url(), "lattice.default.evt.provider_started").await;
    // Reads its stdin and nothing else: alive, never healthy.
    let dir = tempfile::tempdir().unwrap();
    hosts::start_script_provider(&lattice, dir.path(), "hung", "exec cat > /dev/null").await;

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

//! `lattice-ctl logs ACTOR [-f]`: an actor's log lines from every host
//! that runs it, over the lattice: those the hosts kept, then new ones. Two hosts run the `http_logs` fixture (one
//! `wasi:logging` line at warn per request, naming its path); requests to
//! each must show up in one `logs` stream, tagged with the host, and a
//! `--host` filter keeps one host's lines only.

use std::process::Stdio;
use std::time::Duration;

use lattice_tests::hosts::{self, start_fixture};
use lattice_tests::nats::NatsServer;
use lattice_tests::process::{self, terminate_and_wait, CapturedStderr, PrintedLines};

/// `lattice-ctl logs logs -f ARGS` against `url`: the child, the lines it
/// printed so far, and its stderr.
fn follow(url: &str, args: &[&str]) -> (std::process::Child, PrintedLines, CapturedStderr) {
    let mut child = process::lattice_ctl()
        .args(["logs", "logs", "-f", "--nats-url", url])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = CapturedStderr::of(&mut child);
    let printed = PrintedLines::of(&mut child);
    lattice_tests::wait_for("logs to subscribe", Duration::from_secs(20), || {
        stderr
            .has_line(&["Following the log lines of actor logs"])
            .then_some(())
    });
    (child, printed, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follows_an_actor_on_two_hosts_and_filters_by_host() {
    let nats = NatsServer::start();
    let (_, (east, east_lattice), (west, west_lattice)) =
        hosts::two_hosts_sharing_a_cluster_key(&nats.url()).await;
    let on_east = start_fixture(&east, "logs", "http_logs").await;
    let on_west = start_fixture(&west, "logs", "http_logs").await;
    let (mut all, printed, _all_stderr) = follow(&nats.url(), &[]);
    let east_prefix = east.id().as_str()[..8].to_string();
    let (mut east_only, east_printed, _east_stderr) =
        follow(&nats.url(), &["--host", &east_prefix, "--level", "warn"]);

    // Each host's actor logs a line per request; both reach the stream.
    let west_prefix = west.id().as_str()[..8].to_string();
    let seen = |lines: &PrintedLines, prefix: &str| {
        lines
            .lines()
            .iter()
            .any(|l| l.starts_with(prefix) && l.contains("warn  http_logs: a request for /"))
    };
    lattice_tests::eventually("lines from both hosts", async || {
        hosts::status_of_get(&on_east).await;
        hosts::status_of_get(&on_west).await;
        (seen(&printed, &east_prefix) && seen(&printed, &west_prefix)).then_some(())
    })
    .await;
    // The filtered stream has east's lines and no other host's.
    lattice_tests::eventually("east's lines in the filtered stream", async || {
        hosts::status_of_get(&on_east).await;
        seen(&east_printed, &east_prefix).then_some(())
    })
    .await;
    let east_lines = east_printed.lines();
    assert!(
        east_lines.iter().all(|l| l.starts_with(&east_prefix)),
        "{east_lines:?}"
    );
    terminate_and_wait(&mut all, "lattice-ctl logs", Duration::from_secs(10));
    terminate_and_wait(&mut east_only, "lattice-ctl logs", Duration::from_secs(10));
    hosts::leave(east_lattice, east).await;
    hosts::leave(west_lattice, west).await;
}

/// Lines logged before `logs` ran are kept by the host: `logs` prints
/// them, tagged with the host and the instance that logged them, and
/// exits; `--since` keeps the recent ones only; `-f` prints them once,
/// then follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_prints_the_lines_a_host_kept_and_since_limits_them() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let actor = start_fixture(&host, "logs", "http_logs").await;
    let prefix = host.id().as_str()[..8].to_string();
    for path in ["/first", "/second"] {
        let answer = actor
            .handle_http(hosts::get(&format!("http://localhost{path}")))
            .await
            .expect("the request is answered");
        assert_eq!(answer.status(), 200);
    }
    let url = nats.url();
    let kept = tokio::task::spawn_blocking(move || {
        let all = process::ctl_at(&url, &["logs", "logs"]);
        let recent = process::ctl_at(&url, &["logs", "logs", "--since", "1ms"]);
        let hour = process::ctl_at(&url, &["logs", "logs", "--since", "1h", "-o", "json"]);
        let nobody = process::ctl_at(&url, &["logs", "nobody"]);
        (all, recent, hour, nobody)
    })
    .await
    .unwrap();
    let (all, recent, hour, nobody) = kept;
    let printed = String::from_utf8_lossy(&all.stdout).to_string();
    assert!(
        all.status.success(),
        "{}",
        String::from_utf8_lossy(&all.stderr)
    );
    let lines: Vec<&str> = printed.lines().collect();
    let first = lines
        .iter()
        .position(|l| l.contains("a request for /first"))
        .unwrap_or_else(|| panic!("{printed}"));
    let second = lines
        .iter()
        .position(|l| l.contains("a request for /second"))
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(first < second, "oldest first: {printed}");
    // Each request ran in an instance of its own.
    let first_line = lines.get(first).copied().unwrap_or_default();
    let second_line = lines.get(second).copied().unwrap_or_default();
    assert!(
        first_line.starts_with(&format!("{prefix} #")),
        "{first_line}"
    );
    assert_ne!(
        first_line.split(' ').nth(1),
        second_line.split(' ').nth(1),
        "{printed}"
    );
    // Both lines were logged before `--since 1ms` began, none after.
    assert!(recent.status.success());
    assert!(
        !String::from_utf8_lossy(&recent.stdout).contains("a request for"),
        "{}",
        String::from_utf8_lossy(&recent.stdout)
    );
    let hour: Vec<lattice_interfaces::protocol::logs::LogLine> =
        String::from_utf8_lossy(&hour.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    assert!(hour
        .iter()
        .any(|l| l.text.contains("/second") && l.host == host.id().as_str()));
    assert!(!nobody.status.success());
    assert!(
        String::from_utf8_lossy(&nobody.stderr).contains("no host in lattice"),
        "{}",
        String::from_utf8_lossy(&nobody.stderr)
    );

    // Following: the kept lines once, then what comes.
    let (mut follower, followed, _stderr) = follow(&nats.url(), &[]);
    let third = actor
        .handle_http(hosts::get("http://localhost/third"))
        .await
        .expect("the request is answered");
    assert_eq!(third.status(), 200);
    lattice_tests::eventually("the new line", async || {
        followed
            .lines()
            .iter()
            .any(|l| l.contains("a request for /third"))
            .then_some(())
    })
    .await;
    let seen = followed.lines();
    let count = |path: &str| seen.iter().filter(|l| l.contains(path)).count();
    assert_eq!(
        (count("/first"), count("/second"), count("/third")),
        (1, 1, 1),
        "{seen:?}"
    );
    terminate_and_wait(&mut follower, "lattice-ctl logs", Duration::from_secs(10));
    hosts::leave(lattice, host).await;
}

#[test]
fn a_level_that_is_not_one_is_refused_in_one_line() {
    let out = process::lattice_ctl()
        .args(["logs", "logs", "--level", "loud"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("\"loud\" is not a level: trace, debug, info, warn, error"),
        "{stderr}"
    );
}

/// An actor that logs 1,000 lines in one request is answered, and the
/// lattice carries no more of its lines than its budget of 200 a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_actor_is_served_and_its_lines_stay_within_its_budget() {
    let nats = NatsServer::start();
    let (host, lattice) = hosts::dev_lattice(&nats.url()).await;
    let actor = start_fixture(&host, "logs", "http_logs").await;
    let (mut follower, printed, _stderr) = follow(&nats.url(), &[]);
    let flood = actor
        .handle_http(hosts::get("http://localhost/flood"))
        .await
        .expect("the flood request is answered");
    assert_eq!(flood.status(), 200);
    // The first line, naming the request, comes through; wait for it.
    lattice_tests::eventually("the flood's first line", async || {
        let lines = printed.lines();
        lines
            .iter()
            .any(|l| l.contains("a request for /flood"))
            .then_some(())
    })
    .await;
    // The budget is per second: of a 1,000-line request at most 200 lines
    // are carried. A later request's line, once the next second lets it
    // through, marks the end of what the flood could send.
    let carried = lattice_tests::eventually("a line after the flood", async || {
        let _ = actor
            .handle_http(hosts::get("http://localhost/after"))
            .await;
        let lines = printed.lines();
        lines
            .iter()
            .any(|l| l.contains("a request for /after"))
            .then(|| lines.iter().filter(|l| l.contains("flood line")).count())
    })
    .await;
    assert!(
        carried > 0 && carried < 200,
        "{carried} of the flood's 1,000 lines crossed the lattice"
    );
    terminate_and_wait(&mut follower, "lattice-ctl logs", Duration::from_secs(10));
    hosts::leave(lattice, host).await;
}

//! `lattice-ctl logs ACTOR -f`: an actor's log lines from every host that
//! runs it, over the lattice. Two hosts run the `http_logs` fixture (one
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

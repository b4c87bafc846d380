// Test support may fail the test it serves: panics and expects are its way to report.
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

//! Test support shared by Lattice's integration tests: real servers on free
//! ports, the example actors built once, and a small HTTP client.
//!
//! Everything started here is stopped when its handle drops, even when a test
//! fails; readiness is polled with a deadline, never assumed after a sleep.

#[cfg(feature = "browser")]
pub mod bench;
pub mod browser;
pub mod fixtures;
pub mod hosts;
pub mod http_client;
pub mod lattice;
pub mod manifest;
pub mod nats;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod redis;
pub mod registry;
pub mod tls;
pub mod upstream;
pub mod walkthrough;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A TCP port that was free a moment ago on 127.0.0.1, and that no earlier
/// call in this process returned: the kernel may hand the same port to two
/// binds in a row once the first listener closes (a test once got one port
/// for its admin endpoint and its HTTP server).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("cannot find a free port on 127.0.0.1");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// Polls `check` every 20 ms until it returns `Some` or `deadline` passes.
pub fn wait_for_opt<T>(deadline: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `check` every 20 ms until it returns `Some`, or fails the test
/// after `deadline` naming `what` it waited for.
pub fn wait_for<T>(what: &str, deadline: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let until = Instant::now() + deadline;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls async `check` every 50 ms until it returns `Some`, or fails the
/// test after 20 s naming `what` it waited for. The one way tests wait for
/// a condition; never a fixed sleep.
pub async fn eventually<T>(what: &str, check: impl AsyncFnMut() -> Option<T>) -> T {
    eventually_within(what, Duration::from_secs(20), check).await
}

/// Like [`eventually`], failing the test after `deadline`.
pub async fn eventually_within<T>(
    what: &str,
    deadline: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> T {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! What a guest makes its host hold is counted against the actor's memory
//! limit, beside its linear memory: the names it gives key-value buckets
//! and `wasmcloud:bus` interfaces, the bucket handles it keeps open, and
//! the buckets it makes the in-memory store create. A hostile actor
//! limited to 64 MiB that opens buckets with 16 MiB names, keeps a hundred
//! thousand handles open, or names a hundred thousand 12 KiB interfaces
//! leaves its host no larger than its limit plus a fixed allowance, and the
//! host serves on. Names within the caps still count: an actor limited to
//! 16 MiB that keeps naming interfaces is stopped at its limit.
//!
//! The signal: the host process's resident memory before and after the
//! attack (issue 29, finding 3: before the fix four requests grew the host
//! by 1.5 GiB, for good).

use std::time::Duration;

use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::HostProcess;
use lattice_tests::manifest::ManifestBuilder;
use lattice_tests::nats::NatsServer;
use lattice_tests::{fixtures, free_port};

/// The actor's memory limit.
const LIMIT_MIB: u64 = 64;
/// What the host may grow by beyond the limit: the allocator keeping pages
/// of the strings it copied out of the guest and refused, the instance
/// pool's bookkeeping, the HTTP connections.
const ALLOWANCE_MIB: u64 = 96;

/// The resident memory of process `pid`, in KiB.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("the host's VmRSS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_actor_cannot_make_its_host_hold_memory_beyond_its_limit() {
    let nats = NatsServer::start();
    let address = format!("127.0.0.1:{}", free_port());
    let small_address = format!("127.0.0.1:{}", free_port());
    let manifest = ManifestBuilder::new()
        .actor("bomb", &fixtures::wasm("kv_name_bomb"))
        .set("memory_limit_mib", LIMIT_MIB)
        .provider("http", "http-server")
        .provider("kv", "keyvalue")
        .http_link("http", "bomb", &address)
        .link("bomb", "kv", "wasi:keyvalue/store,atomics,batch")
        .actor("small", &fixtures::wasm("kv_name_bomb"))
        .set("memory_limit_mib", 16)
        .provider("http-small", "http-server")
        .http_link("http-small", "small", &small_address)
        .toml();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.toml");
    std::fs::write(&path, manifest).unwrap();
    let host = HostProcess::start(
        &fixtures::binary("lattice-host"),
        &nats.url(),
        "default",
        &["--manifest", path.to_str().unwrap()],
    );
    let client = HttpClient::default();
    let base = format!("http://{address}");
    let warm = client
        .get_until_ok(&format!("{base}/warm-up"), Duration::from_secs(20))
        .await;
    assert!(warm.body.contains("no attack"), "{}", warm.body);
    let before = resident_kib(host.pid());

    let mut answers = Vec::new();
    for _ in 0..4 {
        for attack in ["huge", "many", "names"] {
            let reply = client.get_reply(&format!("{base}/{attack}")).await;
            answers.push(format!("/{attack}: {} {}", reply.status, reply.body.trim()));
        }
    }
    let after = resident_kib(host.pid());
    let grown_mib = after.saturating_sub(before) / 1024;
    assert!(
        grown_mib <= LIMIT_MIB + ALLOWANCE_MIB,
        "the host grew by {grown_mib} MiB under the attack ({before} -> {after} KiB):\n{}",
        answers.join("\n")
    );
    // The refusals say what was refused.
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("/huge: 200 opened=0") && a.contains("bucket name")),
        "{}",
        answers.join("\n")
    );
    // Names within the caps count against the limit all the same.
    let small = client
        .get_reply(&format!("http://{small_address}/short-names"))
        .await;
    assert!(
        small.body.contains("the host cannot hold"),
        "{} {}",
        small.status,
        small.body
    );
    // And the host serves on.
    let after_attack = client.get_reply(&format!("{base}/still-there")).await;
    assert_eq!(after_attack.status, 200, "{}", after_attack.body);
}

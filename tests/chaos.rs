//! Chaos: a steady mixed load through one fault after another.
//!
//! Three `lattice-host` processes share a cluster key: an edge host with
//! the HTTP server and `hello`, and two workers, each running two
//! kv-counter actors (one counting in Redis, one in NATS JetStream KV) and
//! the key-value provider as a process of its own, all placed by one app.
//! Worker `w2` reaches NATS through a TCP proxy the test can cut. Three
//! loops keep requests going to `hello` (local to the edge) and to both
//! counters (remote, through a provider on another process) while the test,
//! in turn, SIGKILLs a worker, SIGTERMs a worker, restarts `nats-server`,
//! cuts `w2` off and heals it, restarts Redis, and SIGKILLs a provider
//! process; a replaced worker comes back as a new process, and the app's
//! reconciler places its share on it again.
//!
//! Asserted: every acknowledged increment is in the final count exactly
//! once (each 200 saw a count no other 200 saw, and the final count lies
//! between the acknowledged increments and those plus the failed ones);
//! the SIGTERM loses nothing; nothing fails while no fault is on; every
//! failure is an HTTP error status with a reason; the lattice serves every
//! route again after each fault. Counts per phase are printed.
//!
//! `LATTICE_CHAOS_ROUNDS=N` runs the fault sequence N times (the long run
//! of BENCHMARKS.md); `./scripts/test` runs it once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lattice_tests::fixtures;
use lattice_tests::http_client::HttpClient;
use lattice_tests::lattice::HostProcess;
use lattice_tests::nats::NatsServer;
use lattice_tests::proxy::Proxy;
use lattice_tests::redis::RedisServer;

/// The three routes of the edge's HTTP server.
const ROUTES: [&str; 3] = ["hello", "redis", "nats"];

/// One answer the load got.
#[derive(Debug, Clone)]
struct Answer {
    /// The phase it ended in (counted there).
    phase: usize,
    /// The phase it was sent in: a call in flight when a fault began may
    /// fail because of it.
    sent: usize,
    route: usize,
    status: u16,
    body: String,
}

/// What the load records, phase by phase.
#[derive(Default)]
struct Record {
    phase: AtomicUsize,
    answers: Mutex<Vec<Answer>>,
    stop: AtomicBool,
}

impl Record {
    fn answers(&self) -> Vec<Answer> {
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Record {
    /// GETs `route` once and records the answer in the current phase.
    async fn get(&self, client: &HttpClient, base: &str, route: usize) -> Answer {
        let sent = self.phase.load(Ordering::SeqCst);
        let reply = client.get(&format!("{base}{}/visits", ROUTES[route])).await;
        let phase = self.phase.load(Ordering::SeqCst);
        let answer = match reply {
            Ok(reply) => Answer {
                phase,
                sent,
                route,
                status: reply.status,
                body: reply.body,
            },
            // No HTTP answer at all: the edge itself is up throughout, so
            // this is a failure without a status, which the test refuses.
            Err(error) => Answer {
                phase,
                sent,
                route,
                status: 0,
                body: error.to_string(),
            },
        };
        self.answers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(answer.clone());
        answer
    }
}

/// Sends requests to `route` one after another until told to stop.
async fn load(client: HttpClient, base: String, route: usize, record: Arc<Record>) {
    while !record.stop.load(Ordering::SeqCst) {
        if record.get(&client, &base, route).await.status != 200 {
            // A failing route is not hammered in a tight loop.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The lattice under test.
struct Lattice {
    nats: NatsServer,
    redis: RedisServer,
    proxy: Proxy,
    seed: String,
    /// Kept running (and killed at the end) for the whole test.
    _edge: HostProcess,
    w2: HostProcess,
    w3: HostProcess,
    base: String,
}

impl Lattice {
    /// A host labelled `role=ROLE` joined through `url`.
    fn host(seed: &str, url: &str, role: &str) -> HostProcess {
        let label = format!("role={role}");
        HostProcess::start(
            &fixtures::binary("lattice-host"),
            url,
            "default",
            &[
                "--cluster-seed",
                seed,
                "--label",
                &label,
                "--call-timeout-secs",
                "5",
                "--reconcile-ms",
                "500",
            ],
        )
    }

    fn worker(&self) -> HostProcess {
        Self::host(&self.seed, &self.nats.url(), "worker")
    }

    async fn start() -> Self {
        let nats = NatsServer::start();
        let redis = RedisServer::start_persistent();
        let proxy = Proxy::start(nats.port()).await;
        let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
        let address = format!("127.0.0.1:{}", lattice_tests::free_port());
        let edge = Self::host(&seed, &nats.url(), "edge");
        let w2 = Self::host(
            &seed,
            &format!("nats://127.0.0.1:{}", proxy.port()),
            "worker",
        );
        let w3 = Self::host(&seed, &nats.url(), "worker");
        apply(&nats, &redis, &address);
        Self {
            nats,
            redis,
            proxy,
            seed,
            _edge: edge,
            w2,
            w3,
            base: format!("http://{address}/"),
        }
    }
}

/// Applies the app: hello on the edge, both counters and the key-value
/// provider process on every worker, the HTTP server on the edge.
fn apply(nats: &NatsServer, redis: &RedisServer, address: &str) {
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("chaos.toml");
    let hello = fixtures::wasm("hello").display().to_string();
    let counter = fixtures::wasm("kv_counter").display().to_string();
    let kv = fixtures::binary("lattice-provider-keyvalue");
    let worker = r#"placement = { daemon = true, constraints = { role = "worker" } }"#;
    let edge = r#"placement = { constraints = { role = "edge" } }"#;
    let mut text = format!(
        r#"[app]
name = "chaos"

[[actors]]
id = "hello"
reference = "{hello}"
{edge}

[[actors]]
id = "count-redis"
reference = "{counter}"
{worker}

[[actors]]
id = "count-nats"
reference = "{counter}"
{worker}

[[providers]]
id = "http"
kind = "http-server"
{edge}

[[providers]]
id = "kv"
kind = "{kv}"
{worker}

[[links]]
source = "count-redis"
target = "kv"
interface = "wasi:keyvalue/store,atomics"
target_config = {{ url = "{redis}" }}

[[links]]
source = "count-nats"
target = "kv"
interface = "wasi:keyvalue/store,atomics"
target_config = {{ bucket = "chaos", nats_url = "{nats}" }}
"#,
        redis = redis.url(),
        nats = nats.url(),
    );
    for (route, target) in [
        ("hello", "hello"),
        ("redis", "count-redis"),
        ("nats", "count-nats"),
    ] {
        text.push_str(&format!(
            r#"
[[links]]
source = "http"
target = "{target}"
name = "{route}"
interface = "wasi:http/incoming-handler"
source_config = {{ address = "{address}", path = "/{route}" }}
"#
        ));
    }
    std::fs::write(&app, text).unwrap();
    lattice_tests::process::succeeded(&lattice_tests::process::ctl_at(
        &nats.url(),
        &["apply", app.to_str().unwrap()],
    ));
}

/// Waits until every route answers 200 five times in a row (the lattice
/// converged), failing the test after 90 s. Its requests are recorded like
/// the load's (they increment the counters too).
async fn converged(record: &Record, client: &HttpClient, base: &str, after: &str) {
    let mut in_a_row = 0;
    lattice_tests::eventually_within(
        &format!("every route to answer again after {after}"),
        Duration::from_secs(90),
        async || {
            let mut all = true;
            for route in 0..ROUTES.len() {
                all &= record.get(client, base, route).await.status == 200;
            }
            in_a_row = if all { in_a_row + 1 } else { 0 };
            if in_a_row < 5 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            (in_a_row >= 5).then_some(())
        },
    )
    .await;
}

/// The pid of the key-value provider process that host `host` started
/// (its only child: the host runs it from a copy named by its hash).
fn provider_process_of(host: &HostProcess) -> Option<u32> {
    let parent = host.pid().to_string();
    std::fs::read_dir("/proc").ok()?.find_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let (state, ppid) = (fields.next()?, fields.next()?);
        (ppid == parent && state != "Z").then_some(pid)
    })
}

/// A phase: a name, and whether a fault is on during it.
struct Phase {
    name: String,
    fault: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_load_rides_through_kills_restarts_and_partitions() {
    let rounds: usize = std::env::var("LATTICE_CHAOS_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let mut lattice = Lattice::start().await;
    let client = HttpClient::default();
    let base = lattice.base.clone();
    converged(&Record::default(), &client, &base, "the start").await;

    let record = Arc::new(Record::default());
    let mut phases = vec![Phase {
        name: "steady".into(),
        fault: false,
    }];
    let loads: Vec<_> = (0..ROUTES.len())
        .map(|route| tokio::spawn(load(client.clone(), base.clone(), route, record.clone())))
        .collect();
    let hold = Duration::from_secs(3);
    tokio::time::sleep(hold).await;

    // Each fault: begin a fault phase, do it, let the load run into it, heal,
    // wait for the lattice to serve again, then a quiet phase that must not
    // fail at all.
    let mut begin = |name: String, fault: bool| {
        phases.push(Phase { name, fault });
        record.phase.store(phases.len() - 1, Ordering::SeqCst);
    };
    for round in 1..=rounds {
        begin(format!("{round}: SIGKILL worker w3"), true);
        lattice.w3.kill();
        tokio::time::sleep(hold).await;
        lattice.w3 = lattice.worker();
        converged(&record, &client, &base, "the SIGKILL").await;
        begin(format!("{round}: after SIGKILL"), false);
        tokio::time::sleep(hold).await;

        // A graceful stop loses nothing: the other worker takes new calls
        // while this one finishes what it took.
        begin(format!("{round}: SIGTERM worker w3"), false);
        lattice.w3.terminate();
        assert!(
            lattice.w3.wait_exit(Duration::from_secs(30)).is_some(),
            "w3 did not exit after SIGTERM"
        );
        tokio::time::sleep(hold).await;
        lattice.w3 = lattice.worker();
        converged(&record, &client, &base, "the SIGTERM").await;

        begin(format!("{round}: restart nats-server"), true);
        lattice.nats.restart();
        converged(&record, &client, &base, "the NATS restart").await;
        begin(format!("{round}: after NATS restart"), false);
        tokio::time::sleep(hold).await;

        begin(format!("{round}: cut w2 off"), true);
        lattice.proxy.cut();
        tokio::time::sleep(hold).await;
        lattice.proxy.heal();
        converged(&record, &client, &base, "the partition").await;
        begin(format!("{round}: after partition"), false);
        tokio::time::sleep(hold).await;

        begin(format!("{round}: restart redis"), true);
        lattice.redis.restart();
        converged(&record, &client, &base, "the Redis restart").await;
        begin(format!("{round}: after Redis restart"), false);
        tokio::time::sleep(hold).await;

        begin(format!("{round}: SIGKILL a provider process"), true);
        let pid = lattice_tests::eventually("w2's key-value provider process", async || {
            provider_process_of(&lattice.w2)
        })
        .await;
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        tokio::time::sleep(hold).await;
        converged(&record, &client, &base, "the provider's SIGKILL").await;
        begin(format!("{round}: after provider SIGKILL"), false);
        tokio::time::sleep(hold).await;
    }
    record.stop.store(true, Ordering::SeqCst);
    for load in loads {
        load.await.unwrap();
    }
    begin("the final count".into(), false);
    for (route, name) in ROUTES.iter().enumerate().skip(1) {
        let last = record.get(&client, &base, route).await;
        assert_eq!(last.status, 200, "{name}: {}", last.body);
    }

    // What each phase saw.
    let answers = record.answers();
    let mut table = String::from("phase | ok | failed | failures\n");
    for (index, phase) in phases.iter().enumerate() {
        let seen: Vec<&Answer> = answers.iter().filter(|a| a.phase == index).collect();
        let failed: Vec<&&Answer> = seen.iter().filter(|a| a.status != 200).collect();
        // Per status and route: how many, and the first one's reason.
        let mut kinds: BTreeMap<String, (usize, String)> = BTreeMap::new();
        for answer in &failed {
            let kind = kinds
                .entry(format!("{} {}", answer.status, ROUTES[answer.route]))
                .or_insert_with(|| (0, answer.body.trim().chars().take(100).collect()));
            kind.0 += 1;
        }
        table.push_str(&format!(
            "{} | {} | {} | {kinds:?}\n",
            phase.name,
            seen.len() - failed.len(),
            failed.len()
        ));
    }
    println!("{table}");
    for (index, phase) in phases.iter().enumerate() {
        for answer in answers
            .iter()
            .filter(|a| a.phase == index && a.status != 200)
        {
            // Every failure is an HTTP error with a reason.
            assert!(
                answer.status >= 500 && !answer.body.trim().is_empty(),
                "{}: a failure without a status and reason: {answer:?}\n{table}",
                phase.name
            );
            assert!(
                phases[answer.sent..=answer.phase].iter().any(|p| p.fault),
                "{}: a call failed while no fault was on: {answer:?}\n{table}",
                phase.name
            );
        }
    }

    // Every acknowledged increment counted exactly once: each 200 saw a
    // count no other saw; the count now (the highest, from the final read)
    // is at least the acknowledged increments and at most those plus the
    // failed ones (a failed call may or may not have counted). The start's
    // convergence check counted a few before the record began.
    for (route, name) in ROUTES.iter().enumerate().skip(1) {
        let mut acked: Vec<u64> = answers
            .iter()
            .filter(|a| a.route == route && a.status == 200)
            .map(|a| {
                a.body
                    .trim()
                    .parse()
                    .unwrap_or_else(|e| panic!("{name}: {a:?}: {e}"))
            })
            .collect();
        let failed = answers
            .iter()
            .filter(|a| a.route == route && a.status != 200)
            .count();
        acked.sort_unstable();
        let acks = acked.len();
        acked.dedup();
        assert_eq!(
            acked.len(),
            acks,
            "{name}: two acknowledged increments saw the same count"
        );
        let first = acked.first().copied().unwrap_or(1);
        let total = acked.last().copied().unwrap_or(0);
        let counted = (total + 1 - first) as usize;
        println!("{name}: {acks} acknowledged, {failed} failed, {counted} counted");
        assert!(
            counted >= acks && counted <= acks + failed,
            "{name}: {counted} counted for {acks} acknowledged and {failed} failed\n{table}"
        );
    }
}

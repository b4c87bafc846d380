//! Routing benchmark: what a call costs where its target runs.
//!
//! In one run, with calls made one at a time (latency) on loopback:
//! 1. raw NATS request/reply with async-nats (the floor of any remote call);
//! 2. a remote actor call: host A calls `uppercase#upper` over its link,
//!    `uppercase` runs only on host B, which holds the same cluster seed
//!    (seal with the seed's MAC, NATS, check, instantiate, call); then the
//!    same to host C, which only trusts A's key (so A signs, C verifies);
//! 3. a local actor call through the router (link lookup, in-process);
//! 4. a direct call to the actor with no router (the actor's own time);
//! 5. signing and verifying one envelope, and sealing and checking one,
//!    on their own.
//!
//! Run with `./scripts/bench` or `cargo bench -p lattice-host --bench routing`
//! (needs nats-server). Knob: `BENCH_CALLS` (default 2000 per line).

// Test and bench code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lattice_host::lattice::{ClusterKeys, Lattice, LatticeConfig, NatsArgs};
use lattice_host::{ActorLimits, Host, HostConfig, RuntimeConfig, TrustPolicy};
use lattice_interfaces::protocol::rpc::{Invocation, MacKey, SignedInvocation};
use lattice_interfaces::{ComponentId, Contract, Link};
use lattice_tests::nats::NatsServer;
use wasmtime::component::Val;

/// `uppercase` started on `host` as `id`.
async fn start_uppercase(host: &Host, id: &ComponentId, wasm: &[u8]) -> Arc<lattice_host::Actor> {
    host.start_actor_from_bytes(
        id.clone(),
        "uppercase.wasm",
        wasm.to_vec(),
        ActorLimits::default(),
    )
    .await
    .unwrap()
}

/// Times making an envelope (`make`) and checking it as a receiver does:
/// the received bytes as they are, the outer map decoded, `holds` on it,
/// the invocation decoded. Two lines, named by `names`.
fn make_and_check(
    calls: usize,
    names: [&'static str; 2],
    mut make: impl FnMut() -> Vec<u8>,
    mut holds: impl FnMut(&SignedInvocation) -> bool,
) -> [Line; 2] {
    let (mut made, mut checked) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    for _ in 0..calls {
        let started = Instant::now();
        let message = make();
        made.push(started.elapsed());
        let started = Instant::now();
        let envelope = SignedInvocation::decode(&message).unwrap();
        assert!(holds(&envelope));
        envelope.invocation().unwrap();
        checked.push(started.elapsed());
    }
    let [make_name, check_name] = names;
    [
        Line {
            name: make_name,
            samples: made,
        },
        Line {
            name: check_name,
            samples: checked,
        },
    ]
}

/// The allocator the binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Answers every invocation with its own payload.
struct Echo;

impl lattice_rpc::InvocationHandler for Echo {
    fn serve(&self, _invocation: Invocation, payload: Vec<u8>) -> lattice_rpc::ServeFuture<'_> {
        Box::pin(async move { Ok(payload) })
    }
}

struct Line {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Line {
    fn print(&mut self) {
        self.samples.sort();
        let n = self.samples.len();
        let pct = |p: f64| self.samples[((n as f64 * p) as usize).min(n - 1)];
        let total: Duration = self.samples.iter().sum();
        println!(
            "{:<52} {:>10.1} {:>10.1} {:>12.0}",
            self.name,
            pct(0.50).as_secs_f64() * 1e6,
            pct(0.99).as_secs_f64() * 1e6,
            n as f64 / total.as_secs_f64()
        );
    }
}

async fn time<F, Fut>(name: &'static str, calls: usize, mut f: F) -> Line
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..calls / 10 {
        f().await; // warm up
    }
    let mut samples = Vec::with_capacity(calls);
    for _ in 0..calls {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    Line { name, samples }
}

fn host() -> Host {
    Host::new(HostConfig {
        trust: TrustPolicy {
            allow_unsigned: true,
            ..TrustPolicy::default()
        },
        runtime: RuntimeConfig {
            cache_dir: None,
            ..RuntimeConfig::default()
        },
        ..HostConfig::default()
    })
    .unwrap()
}

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let wasm = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/build/uppercase.wasm"),
    )
    .expect("run ./scripts/build-examples first");
    let nats = NatsServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let seed = nkeys::KeyPair::new_cluster().seed().unwrap();
        let config = || LatticeConfig {
            nats: NatsArgs {
                url: Some(nats.url()),
                lattice: "bench".into(),
                ..NatsArgs::default()
            },
            heartbeat: Duration::from_secs(30),
            kv_replicas: 1,
            cluster: ClusterKeys::new(nkeys::KeyPair::from_seed(&seed).unwrap(), &[]),
            call_timeout: Duration::from_secs(10),
            provider_health: Duration::from_millis(200),
            provider_grant: Duration::from_secs(3600),
            provider_credentials: None,
            reconcile: lattice_host::lattice::ReconcilerTiming::every(Duration::from_secs(2)),
        };
        let (a, b, c) = (host(), host(), host());
        let lattice_a = Lattice::join(a.clone(), &config()).await.unwrap();
        let lattice_b = Lattice::join(b.clone(), &config()).await.unwrap();
        // Host C has a cluster key of its own and trusts A's: it cannot
        // check A's MAC, so A signs what it sends C.
        let a_public = nkeys::KeyPair::from_seed(&seed).unwrap().public_key();
        let lattice_c = Lattice::join(
            c.clone(),
            &LatticeConfig {
                cluster: ClusterKeys::new(nkeys::KeyPair::new_cluster(), &[a_public]),
                ..config()
            },
        )
        .await
        .unwrap();
        let upper = ComponentId::new("uppercase").unwrap();
        let actor_b = start_uppercase(&b, &upper, &wasm).await;
        let upper_on_c = ComponentId::new("uppercase-signed").unwrap();
        start_uppercase(&c, &upper_on_c, &wasm).await;
        let signed_caller = ComponentId::new("signed-caller").unwrap();
        let local = ComponentId::new("local-caller").unwrap();
        let remote = ComponentId::new("remote-caller").unwrap();
        let upper_on_a = ComponentId::new("uppercase-here").unwrap();
        start_uppercase(&a, &upper_on_a, &wasm).await;
        let contract = Contract::parse("example:uppercase/convert").unwrap();
        lattice_a
            .put_link(Link::new(remote.clone(), upper.clone(), contract.clone()))
            .await
            .unwrap();
        lattice_a
            .put_link(Link::new(
                local.clone(),
                upper_on_a.clone(),
                contract.clone(),
            ))
            .await
            .unwrap();
        lattice_a
            .put_link(Link::new(signed_caller.clone(), upper_on_c, contract))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await; // let host B subscribe and mirror

        // 1. The floor: raw NATS request/reply.
        let client = async_nats::connect(nats.url()).await.unwrap();
        let mut echo = client.subscribe("bench.echo").await.unwrap();
        let responder = client.clone();
        tokio::spawn(async move {
            while let Some(m) = echo.next().await {
                if let Some(reply) = m.reply {
                    let _ = responder.publish(reply, m.payload).await;
                }
            }
        });
        client.flush().await.unwrap();
        let payload = bytes::Bytes::from(vec![7u8; 64]);
        let mut lines = vec![
            time("raw NATS request/reply (async-nats, 64 B)", calls, || {
                let (c, p) = (client.clone(), payload.clone());
                async move {
                    c.request("bench.echo", p).await.unwrap();
                }
            })
            .await,
        ];
        // 2. The RPC layer alone: a sealed invocation to a callee that
        // checks it and answers with the payload (no host, no actor).
        let echo_target = ComponentId::new("rpc-echo").unwrap();
        let rpc_client = async_nats::connect(nats.url()).await.unwrap();
        let cluster_key = Arc::new(nkeys::KeyPair::from_seed(&seed).unwrap());
        let mac = MacKey::of(&cluster_key).unwrap();
        let callee = lattice_rpc::Callee::new(
            rpc_client.clone(),
            Arc::new(lattice_rpc::Verifier::new([&cluster_key.public_key()]).holding(mac.clone())),
            64,
        );
        let subjects = lattice_interfaces::protocol::subjects::Subjects::new("bench-rpc").unwrap();
        let subscription = rpc_client
            .queue_subscribe(subjects.rpc(echo_target.as_str()), echo_target.to_string())
            .await
            .unwrap();
        tokio::spawn({
            let callee = callee.clone();
            async move {
                callee
                    .serve(
                        echo_target.to_string(),
                        subscription,
                        Arc::new(Echo),
                        tokio_util::sync::CancellationToken::new(),
                    )
                    .await
            }
        });
        rpc_client.flush().await.unwrap();
        let caller = Arc::new(
            lattice_rpc::Caller::new(
                client.clone(),
                subjects,
                cluster_key,
                "NBENCH",
                None,
                Duration::from_secs(10),
            )
            .sealing(mac),
        );
        let echo_link = Link::new(
            remote.clone(),
            ComponentId::new("rpc-echo").unwrap(),
            Contract::parse("example:uppercase/convert").unwrap(),
        );
        let args = lattice_host::encode_values(&[Val::String("hello, lattice".into())]).unwrap();
        lines.push(
            time(
                "RPC layer alone: sealed call to an echo callee",
                calls,
                || {
                    let (caller, link, payload) = (caller.clone(), echo_link.clone(), args.clone());
                    async move {
                        caller
                            .invoke(lattice_rpc::Call {
                                link: &link,
                                interface: "example:uppercase/convert",
                                function: "upper",
                                payload,
                            })
                            .await
                            .unwrap();
                    }
                },
            )
            .await,
        );
        let text = || vec![Val::String("hello, lattice".into())];
        // Calls `upper` on host A as `source`, wherever its link leads.
        let from = |source: &ComponentId| {
            let (a, source) = (a.clone(), source.clone());
            move || {
                let (a, source) = (a.clone(), source.clone());
                async move {
                    a.call(&source, "example:uppercase/convert", "upper", text())
                        .await
                        .unwrap();
                }
            }
        };
        for (name, source) in [
            ("remote actor call via router (A -> NATS -> B)", &remote),
            ("remote actor call, signed (A -> NATS -> C)", &signed_caller),
            ("local actor call via router (in-process)", &local),
        ] {
            lines.push(time(name, calls, from(source)).await);
        }
        lines.push(
            time("direct call to the actor, no router", calls, || {
                let actor = actor_b.clone();
                async move {
                    actor
                        .call_function("example:uppercase/convert", "upper", text())
                        .await
                        .unwrap();
                }
            })
            .await,
        );
        // 5. Signing and verifying one envelope.
        let key = nkeys::KeyPair::from_seed(&seed).unwrap();
        let envelope = Invocation {
            id: "N-1".into(),
            source: "remote-caller".into(),
            target: "uppercase".into(),
            interface: "example:uppercase/convert".into(),
            function: "upper".into(),
            link_name: "default".into(),
            deadline_ms: 0,
            traceparent: None,
            origin_host: "N".into(),
            cluster_key: key.public_key(),
            lattice: "default".into(),
            payload: vec![0; 32],
            payload_ref: None,
            grant: None,
        };
        // Hosts decode trusted keys once, at start.
        let verifier = nkeys::KeyPair::from_public_key(&key.public_key()).unwrap();
        lines.extend(make_and_check(
            calls,
            [
                "sign one envelope (encode + Ed25519)",
                "verify one envelope (decode + Ed25519)",
            ],
            || envelope.sign(&key).unwrap(),
            |signed| {
                verifier
                    .verify(&signed.invocation, &signed.signature)
                    .is_ok()
            },
        ));
        let mac = MacKey::of(&key).unwrap();
        lines.extend(make_and_check(
            calls,
            [
                "seal one envelope (encode + HMAC-SHA256)",
                "check one sealed envelope (decode + HMAC-SHA256)",
            ],
            || envelope.seal(&mac).unwrap(),
            |sealed| mac.checks(&sealed.invocation, &sealed.mac),
        ));

        println!("{calls} calls per line, one at a time");
        println!(
            "{:<52} {:>10} {:>10} {:>12}",
            "what", "p50 us", "p99 us", "calls/s"
        );
        let mut p50 = Vec::new();
        for line in &mut lines {
            line.print();
            p50.push(line.samples[line.samples.len() / 2]);
        }
        let (floor, layer, remote, signed, local, direct) =
            (p50[0], p50[1], p50[2], p50[3], p50[4], p50[5]);
        println!(
            "RPC layer alone / NATS floor: {:.2}",
            layer.as_secs_f64() / floor.as_secs_f64()
        );
        println!(
            "remote call / (NATS floor + actor's own time): {:.2} (signed: {:.2})",
            remote.as_secs_f64() / (floor + direct).as_secs_f64(),
            signed.as_secs_f64() / (floor + direct).as_secs_f64()
        );
        println!(
            "router overhead on a local call (p50): {:.1} us",
            (local.as_secs_f64() - direct.as_secs_f64()) * 1e6
        );
        println!(
            "local vs remote (p50): {:.1}x faster in-process",
            remote.as_secs_f64() / local.as_secs_f64()
        );
        lattice_a.leave().await;
        lattice_b.leave().await;
        lattice_c.leave().await;
    });
}

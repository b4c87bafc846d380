//! The RPC layer on its own: a `Caller` and a `Callee` of `lattice-rpc`
//! over a real `nats-server`, with handlers that hold their answers.
//!
//! A callee that stops while invocations wait for it serves them rather
//! than dropping them: NATS already delivered them to its connection, so
//! no other host can take them, and their callers would wait out their
//! deadlines for an answer that never comes. The callee here serves one
//! invocation at a time with a handler that holds each until the test lets
//! go, so that the others are, for certain, in the subscription's buffer
//! when the stop comes.
//!
//! A call lasts as long as its deadline says, not as long as the NATS
//! client's default request timeout (10 s).
//!
//! Between processes holding the same cluster seed, invocations travel
//! sealed with the seed's MAC instead of signed; a process that only trusts
//! the key asks for a signature, and gets one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::protocol::rpc::{Invocation, MacKey, SignedInvocation};
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ComponentId, Contract, InvocationError, Link};
use lattice_rpc::{Call, Callee, Caller, InvocationHandler, ServeFuture, Verifier};
use lattice_tests::eventually;
use lattice_tests::nats::NatsServer;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// A callee serving `example:test/test` of target `callee` on a connection
/// of its own, and a caller on another connection, both of one cluster key.
struct Pair {
    callee: Callee,
    callee_client: async_nats::Client,
    caller: Arc<Caller>,
    caller_client: async_nats::Client,
    link: Link,
    stop: CancellationToken,
    serving: tokio::task::JoinHandle<()>,
}

/// What the two sides of a [`Pair`] do with the cluster key's seed.
#[derive(Clone, Copy, PartialEq)]
enum Seed {
    /// The caller signs; the callee trusts the public key.
    Signatures,
    /// The caller seals with the seed's MAC; the callee holds the seed too.
    HeldByBoth,
    /// The caller seals with the seed's MAC; the callee only trusts the key.
    HeldByCallerOnly,
}

impl Pair {
    /// `handler` serves at most `concurrent` invocations at once; calls
    /// wait up to `timeout` for their answers.
    async fn start(
        nats: &NatsServer,
        handler: Arc<dyn InvocationHandler>,
        concurrent: usize,
        timeout: Duration,
    ) -> Self {
        Self::start_with(nats, handler, concurrent, timeout, Seed::Signatures).await
    }

    async fn start_with(
        nats: &NatsServer,
        handler: Arc<dyn InvocationHandler>,
        concurrent: usize,
        timeout: Duration,
        seed: Seed,
    ) -> Self {
        Self::start_within(nats, handler, concurrent, timeout, seed, None).await
    }

    /// As [`Self::start_with`], the callee pulling large arguments within
    /// `budget` if given.
    async fn start_within(
        nats: &NatsServer,
        handler: Arc<dyn InvocationHandler>,
        concurrent: usize,
        timeout: Duration,
        seed: Seed,
        budget: Option<lattice_rpc::budget::PayloadBudget>,
    ) -> Self {
        let subjects = Subjects::new("test").unwrap();
        let key = Arc::new(nkeys::KeyPair::new_cluster());
        let mac = MacKey::of(&key).unwrap();
        let verifier = Verifier::new([&key.public_key()]);
        let verifier = Arc::new(match seed {
            Seed::HeldByBoth => verifier.holding(mac.clone()),
            Seed::Signatures | Seed::HeldByCallerOnly => verifier,
        });
        let callee_client = nats.client().await;
        let callee = Callee::new(callee_client.clone(), verifier, concurrent);
        let callee = match budget {
            Some(budget) => callee.within(budget),
            None => callee,
        };
        let subscription = callee_client
            .queue_subscribe(subjects.rpc("callee"), "callee".to_string())
            .await
            .unwrap();
        let stop = CancellationToken::new();
        let serving = tokio::spawn({
            let (callee, stop) = (callee.clone(), stop.clone());
            async move {
                callee
                    .serve("callee".into(), subscription, handler, stop)
                    .await
            }
        });
        let caller_client = nats.client().await;
        let caller = Caller::new(
            caller_client.clone(),
            subjects,
            key,
            "NCALLER",
            None,
            timeout,
        );
        let caller = Arc::new(match seed {
            Seed::Signatures => caller,
            Seed::HeldByBoth | Seed::HeldByCallerOnly => caller.sealing(mac),
        });
        let link = Link::new(
            ComponentId::new("caller").unwrap(),
            ComponentId::new("callee").unwrap(),
            Contract::parse("example:test/test").unwrap(),
        );
        Self {
            callee,
            callee_client,
            caller,
            caller_client,
            link,
            stop,
            serving,
        }
    }

    /// A call with `payload`, answered in its own task.
    fn call(&self, payload: Vec<u8>) -> tokio::task::JoinHandle<Result<Vec<u8>, InvocationError>> {
        let (caller, link) = (self.caller.clone(), self.link.clone());
        tokio::spawn(async move {
            caller
                .invoke(Call {
                    link: &link,
                    interface: "example:test/test",
                    function: "echo",
                    payload,
                })
                .await
        })
    }
}

/// Answers each payload with itself, once the test releases it.
struct HeldEcho {
    /// Invocations that reached the handler.
    started: AtomicUsize,
    release: Semaphore,
}

impl InvocationHandler for HeldEcho {
    fn serve(&self, _invocation: Invocation, payload: Vec<u8>) -> ServeFuture<'_> {
        Box::pin(async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            let _released = self.release.acquire().await.map_err(|_| {
                InvocationError::new(lattice_interfaces::ErrorKind::Failed, "closed")
            })?;
            Ok(payload)
        })
    }
}

#[tokio::test]
async fn a_stopping_callee_serves_the_invocations_already_delivered_to_it() {
    const CALLS: usize = 5;
    let nats = NatsServer::start();
    let handler = Arc::new(HeldEcho {
        started: AtomicUsize::new(0),
        release: Semaphore::new(0),
    });
    // One invocation at a time.
    let pair = Pair::start(&nats, handler.clone(), 1, Duration::from_secs(20)).await;
    let calls: Vec<_> = (0..CALLS)
        .map(|n| pair.call(vec![u8::try_from(n).unwrap()]))
        .collect();

    // One is being served; the server has handed the rest to the callee's
    // connection: the callers' messages reached the server before their
    // flush came back, and the server writes them to the callee before the
    // answer to the callee's own flush.
    eventually("the first call to reach the handler", async || {
        (handler.started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    eventually("every call to be published", async || {
        let published = pair
            .caller_client
            .statistics()
            .out_messages
            .load(Ordering::SeqCst);
        (published >= CALLS as u64).then_some(())
    })
    .await;
    pair.caller_client.flush().await.unwrap();
    pair.callee_client.flush().await.unwrap();

    // Stop, then let the handler go: every call is answered.
    pair.stop.cancel();
    handler.release.add_permits(CALLS);
    for (n, call) in calls.into_iter().enumerate() {
        let answer = call.await.unwrap();
        assert_eq!(
            answer.as_deref().map_err(|e| e.to_string()),
            Ok(&[u8::try_from(n).unwrap()][..]),
            "call {n} was dropped by the stopping callee"
        );
    }
    tokio::time::timeout(Duration::from_secs(10), pair.serving)
        .await
        .expect("the serve loop ends once it has drained")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        pair.callee.tasks().close();
        pair.callee.tasks().wait().await;
    })
    .await
    .expect("every invocation's task ends");
}

/// Answers each payload with itself after `delay`.
struct SlowEcho {
    delay: Duration,
}

impl InvocationHandler for SlowEcho {
    fn serve(&self, _invocation: Invocation, payload: Vec<u8>) -> ServeFuture<'_> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(payload)
        })
    }
}

#[tokio::test]
async fn a_call_answered_after_12_s_within_its_30_s_deadline_succeeds() {
    let nats = NatsServer::start();
    let slow = Arc::new(SlowEcho {
        delay: Duration::from_secs(12),
    });
    let pair = Pair::start(&nats, slow, 8, Duration::from_secs(30)).await;
    let answer = pair.call(b"late".to_vec()).await.unwrap();
    assert_eq!(answer.map_err(|e| e.to_string()), Ok(b"late".to_vec()));
    pair.stop.cancel();
}

/// Answers each payload with itself and counts what it served.
#[derive(Default)]
struct CountingEcho {
    served: AtomicUsize,
}

impl InvocationHandler for CountingEcho {
    fn serve(&self, _invocation: Invocation, payload: Vec<u8>) -> ServeFuture<'_> {
        self.served.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { Ok(payload) })
    }
}

/// How each envelope on the callee's subject was sealed, in order, as a
/// listener beside the callee saw them: `"mac"` or `"signature"`.
async fn seals_seen(spy: &mut async_nats::Subscriber, count: usize) -> Vec<&'static str> {
    use futures::StreamExt as _;
    let mut seen = Vec::new();
    while seen.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(10), spy.next())
            .await
            .expect("an envelope within 10 s")
            .unwrap();
        let envelope = SignedInvocation::decode(&message.payload).unwrap();
        seen.push(
            match (envelope.mac.is_empty(), envelope.signature.is_empty()) {
                (false, true) => "mac",
                (true, false) => "signature",
                _ => "both or neither",
            },
        );
    }
    seen
}

/// What three calls from a [`Pair`] set up as `seed` came to, each pair on
/// a server of its own: how the first `envelopes` envelopes on the wire
/// were sealed, how many calls the handler served, and whether the caller
/// now signs for the callee.
async fn three_calls(seed: Seed, envelopes: usize) -> (Vec<&'static str>, usize, bool) {
    let nats = NatsServer::start();
    let handler = Arc::new(CountingEcho::default());
    let pair = Pair::start_with(&nats, handler.clone(), 8, Duration::from_secs(10), seed).await;
    let subject = Subjects::new("test").unwrap().rpc("callee");
    let mut spy = pair.caller_client.subscribe(subject).await.unwrap();
    pair.caller_client.flush().await.unwrap();
    for n in 0..3u8 {
        let answer = pair.call(vec![n]).await.unwrap();
        assert_eq!(answer.map_err(|e| e.to_string()), Ok(vec![n]));
    }
    let seals = seals_seen(&mut spy, envelopes).await;
    pair.stop.cancel();
    (
        seals,
        handler.served.load(Ordering::SeqCst),
        pair.caller.signs_for("callee"),
    )
}

#[tokio::test]
async fn a_callee_holding_the_seed_checks_the_mac_and_one_that_only_trusts_the_key_gets_signatures()
{
    // Both hold the seed: every call goes sealed with the MAC, and is served.
    let (seals, served, signs) = three_calls(Seed::HeldByBoth, 3).await;
    assert_eq!(seals, ["mac", "mac", "mac"]);
    assert_eq!((served, signs), (3, false));

    // The callee only trusts the key: the first call is asked for a
    // signature and sent again signed, served once; the next are signed.
    let (seals, served, signs) = three_calls(Seed::HeldByCallerOnly, 4).await;
    assert_eq!(seals, ["mac", "signature", "signature", "signature"]);
    assert_eq!((served, signs), (3, true));
}

/// A large argument is pulled only once the callee's payload budget has
/// room for it (issue 29, finding 4): a verified caller can no longer make
/// a callee hold 64 MiB per invocation in flight. With a 2 MiB budget, a
/// 1.5 MiB argument is served, two at once are not both pulled (one is
/// refused `busy` while the other is held), one of 3 MiB is refused
/// outright, and none of the refused reached the handler.
#[tokio::test]
async fn a_large_argument_is_pulled_only_within_the_callees_budget() {
    let nats = NatsServer::start();
    let handler = Arc::new(HeldEcho {
        started: AtomicUsize::new(0),
        release: Semaphore::new(0),
    });
    let pair = Pair::start_within(
        &nats,
        handler.clone(),
        8,
        Duration::from_secs(20),
        Seed::Signatures,
        Some(lattice_rpc::budget::PayloadBudget::new(2 << 20)),
    )
    .await;
    let argument = vec![7u8; 3 << 19];
    let held = pair.call(argument.clone());
    eventually("the first argument to reach the handler", async || {
        (handler.started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    let refused = pair.call(argument.clone()).await.unwrap().unwrap_err();
    assert_eq!(
        refused.kind,
        lattice_interfaces::ErrorKind::Busy,
        "{refused}"
    );
    assert!(refused.message.contains("payload budget"), "{refused}");
    let too_large = pair.call(vec![7u8; 3 << 20]).await.unwrap().unwrap_err();
    assert!(
        too_large
            .message
            .contains("more than this host's payload budget"),
        "{too_large}"
    );
    assert_eq!(
        handler.started.load(Ordering::SeqCst),
        1,
        "a refused argument was served"
    );
    handler.release.add_permits(8);
    assert_eq!(held.await.unwrap().unwrap(), argument);
    // The room came back with the answer: the same argument is served again.
    assert_eq!(
        pair.call(argument.clone()).await.unwrap().unwrap(),
        argument
    );
    pair.stop.cancel();
}

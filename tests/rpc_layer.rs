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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lattice_interfaces::protocol::rpc::Invocation;
use lattice_interfaces::protocol::subjects::Subjects;
use lattice_interfaces::{ComponentId, Contract, InvocationError, Link};
use lattice_rpc::{Call, Callee, Caller, InvocationHandler, ServeFuture, Verifier};
use lattice_tests::eventually;
use lattice_tests::nats::NatsServer;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

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
    let subjects = Subjects::new("drain").unwrap();
    let key = Arc::new(nkeys::KeyPair::new_cluster());
    let verifier = Arc::new(Verifier::new([&key.public_key()]));

    // The callee: its own connection, one invocation at a time.
    let callee_client = nats.client().await;
    let callee = Callee::new(callee_client.clone(), verifier, 1);
    let subscription = callee_client
        .queue_subscribe(subjects.rpc("echo"), "echo".to_string())
        .await
        .unwrap();
    let handler = Arc::new(HeldEcho {
        started: AtomicUsize::new(0),
        release: Semaphore::new(0),
    });
    let stop = CancellationToken::new();
    let serving = tokio::spawn({
        let (callee, handler, stop) = (callee.clone(), handler.clone(), stop.clone());
        async move {
            callee
                .serve("echo".into(), subscription, handler, stop)
                .await
        }
    });

    // Five calls at once from another connection.
    let caller_client = nats.client().await;
    let caller = Arc::new(Caller::new(
        caller_client.clone(),
        subjects.clone(),
        key,
        "NCALLER",
        None,
        Duration::from_secs(20),
    ));
    let link = Link::new(
        ComponentId::new("caller").unwrap(),
        ComponentId::new("echo").unwrap(),
        Contract::parse("example:echo/echo").unwrap(),
    );
    let calls: Vec<_> = (0..CALLS)
        .map(|n| {
            let (caller, link) = (caller.clone(), link.clone());
            tokio::spawn(async move {
                caller
                    .invoke(Call {
                        link: &link,
                        interface: "example:echo/echo",
                        function: "echo",
                        payload: vec![u8::try_from(n).unwrap()],
                    })
                    .await
            })
        })
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
        (caller_client
            .statistics()
            .out_messages
            .load(Ordering::SeqCst)
            >= CALLS as u64)
            .then_some(())
    })
    .await;
    caller_client.flush().await.unwrap();
    callee_client.flush().await.unwrap();

    // Stop, then let the handler go: every call is answered.
    stop.cancel();
    handler.release.add_permits(CALLS);
    for (n, call) in calls.into_iter().enumerate() {
        let answer = call.await.unwrap();
        assert_eq!(
            answer.as_deref().map_err(|e| e.to_string()),
            Ok(&[u8::try_from(n).unwrap()][..]),
            "call {n} was dropped by the stopping callee"
        );
    }
    tokio::time::timeout(Duration::from_secs(10), serving)
        .await
        .expect("the serve loop ends once it has drained")
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        callee.tasks().close();
        callee.tasks().wait().await;
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
    let subjects = Subjects::new("slow").unwrap();
    let key = Arc::new(nkeys::KeyPair::new_cluster());
    let callee_client = nats.client().await;
    let callee = Callee::new(
        callee_client.clone(),
        Arc::new(Verifier::new([&key.public_key()])),
        8,
    );
    let subscription = callee_client
        .queue_subscribe(subjects.rpc("slow"), "slow".to_string())
        .await
        .unwrap();
    let stop = CancellationToken::new();
    tokio::spawn({
        let (callee, stop) = (callee.clone(), stop.clone());
        let handler = Arc::new(SlowEcho {
            delay: Duration::from_secs(12),
        });
        async move {
            callee
                .serve("slow".into(), subscription, handler, stop)
                .await
        }
    });
    let caller = Caller::new(
        nats.client().await,
        subjects,
        key,
        "NCALLER",
        None,
        Duration::from_secs(30),
    );
    let link = Link::new(
        ComponentId::new("caller").unwrap(),
        ComponentId::new("slow").unwrap(),
        Contract::parse("example:slow/slow").unwrap(),
    );
    let answer = caller
        .invoke(Call {
            link: &link,
            interface: "example:slow/slow",
            function: "wait",
            payload: b"late".to_vec(),
        })
        .await;
    assert_eq!(answer.map_err(|e| e.to_string()), Ok(b"late".to_vec()));
    stop.cancel();
}

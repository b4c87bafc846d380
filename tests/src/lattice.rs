//! Lattice hosts as real processes, and a raw NATS client speaking the
//! control protocol as `docs/protocol.md` writes it (no Lattice client code).

use lattice_interfaces::protocol::control::{op, Empty, Operation, ScaleActor, StartProvider};
use lattice_interfaces::protocol::rpc::InvocationResponse;
use lattice_interfaces::{ErrorKind, HostId};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use serde_json::Value;

/// A `lattice-host` process, killed (SIGKILL) when dropped.
pub struct HostProcess {
    child: Child,
    id: HostId,
    /// Its log, shown when the test fails.
    stderr: crate::process::CapturedStderr,
}

impl HostProcess {
    /// Starts `binary` (the `lattice-host` executable) joined to the lattice
    /// at `nats_url` with `extra` arguments, and waits until it says it
    /// joined. Its id is known in advance: the test makes its server key.
    pub fn start(binary: &str, nats_url: &str, lattice: &str, extra: &[&str]) -> Self {
        Self::start_command(&[binary], nats_url, lattice, extra)
    }

    /// Like [`Self::start`], with a command of several words (e.g.
    /// `lattice-ctl up`).
    pub fn start_command(command: &[&str], nats_url: &str, lattice: &str, extra: &[&str]) -> Self {
        Self::start_with_env(command, nats_url, lattice, extra, &[])
    }

    /// Like [`Self::start_command`], with `env` set for the process.
    pub fn start_with_env(
        command: &[&str],
        nats_url: &str,
        lattice: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let (binary, leading) = command.split_first().expect("a command");
        let key = nkeys::KeyPair::new_server();
        let seed = key.seed().expect("a new key has a seed");
        let mut child = Command::new(binary)
            .args(leading)
            .args([
                "--nats-url",
                nats_url,
                "--lattice",
                lattice,
                "--allow-unsigned",
                "--allow-unsigned-providers",
                "--no-cache",
            ])
            .args(extra)
            .env("LATTICE_HOST_SEED", seed)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        // Its log, and what it prints, shown only when the test fails.
        let stderr = crate::process::CapturedStderr::of(&mut child);
        let stdout = child.stdout.take().expect("piped stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        let printed = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("joined lattice") {
                    let _ = sender.send(());
                }
                printed.push(format!("stdout: {line}"));
            }
        });
        receiver
            .recv_timeout(Duration::from_secs(20))
            .expect("lattice-host did not join the lattice within 20 s");
        Self {
            child,
            id: HostId::of_key(&key).expect("a server key"),
            stderr,
        }
    }

    /// Whether the host has logged a line containing each of `parts`.
    pub fn logged(&self, parts: &[&str]) -> bool {
        self.stderr.has_line(parts)
    }

    /// The host id.
    pub fn id(&self) -> &HostId {
        &self.id
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Asks the process to stop, as an orchestrator would (SIGTERM).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `deadline` for the process to exit by itself.
    pub fn wait_exit(&mut self, deadline: Duration) -> Option<std::process::ExitStatus> {
        crate::wait_for_opt(deadline, || self.child.try_wait().ok().flatten())
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Did it die before the test ended, and how?
            if let Ok(Some(status)) = self.child.try_wait() {
                self.stderr
                    .push(format!("exited before the test ended: {status}"));
            }
        }
        self.kill();
        self.stderr.show_if_failing(&format!("host {}", self.id));
    }
}

/// A raw control-protocol client for lattice `lattice`.
#[derive(Clone)]
pub struct RawControl {
    /// The NATS connection.
    pub nats: async_nats::Client,
    /// The lattice id.
    pub lattice: String,
}

impl RawControl {
    /// Connects to `url`.
    pub async fn connect(url: &str, lattice: &str) -> Self {
        let nats = async_nats::connect(url)
            .await
            .expect("test connects to NATS");
        Self {
            nats,
            lattice: lattice.to_string(),
        }
    }

    /// `lattice.<L>.ctl.v1.<op>[.<host>]`.
    pub fn subject(&self, op: &str, host: Option<&str>) -> String {
        match host {
            Some(h) => format!("lattice.{}.ctl.v1.{op}.{h}", self.lattice),
            None => format!("lattice.{}.ctl.v1.{op}", self.lattice),
        }
    }

    /// Sends raw `payload` and returns the reply as JSON.
    pub async fn request_raw(&self, op: &str, host: Option<&str>, payload: Vec<u8>) -> Value {
        let subject = self.subject(op, host);
        let reply = tokio::time::timeout(
            Duration::from_secs(20),
            self.nats.request(subject.clone(), payload.into()),
        )
        .await
        .unwrap_or_else(|_| panic!("no reply on {subject} within 20 s"))
        .unwrap_or_else(|e| panic!("request on {subject} failed: {e}"));
        serde_json::from_slice(&reply.payload)
            .unwrap_or_else(|e| panic!("reply on {subject} is not JSON: {e}"))
    }

    /// Sends `body` and returns the reply as JSON.
    pub async fn request(&self, op: &str, host: Option<&str>, body: Value) -> Value {
        self.request_raw(op, host, serde_json::to_vec(&body).expect("JSON"))
            .await
    }

    /// Sends `body` and returns `response` of a successful reply, failing
    /// the test with the reply's message otherwise.
    pub async fn ok(&self, op: &str, host: Option<&str>, body: Value) -> Value {
        let reply = self.request(op, host, body).await;
        assert_eq!(reply["success"], true, "{op} failed: {reply}");
        reply["response"].clone()
    }

    /// Publishes `body` to a scatter-gather `op` and collects the responses
    /// of successful replies for `window`.
    pub async fn gather(&self, op: &str, body: Value, window: Duration) -> Vec<Value> {
        let inbox = self.nats.new_inbox();
        let mut replies = self.nats.subscribe(inbox.clone()).await.expect("subscribe");
        self.nats
            .publish_with_reply(
                self.subject(op, None),
                inbox,
                serde_json::to_vec(&body).expect("JSON").into(),
            )
            .await
            .expect("publish");
        let mut gathered = Vec::new();
        let until = tokio::time::Instant::now() + window;
        while let Ok(Some(message)) = tokio::time::timeout_at(until, replies.next()).await {
            let reply: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
            if reply["success"] == true {
                gathered.push(reply["response"].clone());
            }
        }
        gathered
    }

    /// Host ids that answer a ping within one second, sorted.
    pub async fn ping_ids(&self) -> Vec<HostId> {
        let mut ids: Vec<HostId> = self
            .gather("host.ping", serde_json::json!({}), Duration::from_secs(1))
            .await
            .iter()
            .filter_map(|h| h["host_id"].as_str().and_then(|id| id.parse().ok()))
            .collect();
        ids.sort();
        ids
    }
}

/// An invocation as a test writes it: who calls what, over which link.
#[derive(Debug, Clone)]
pub struct TestCall<'a> {
    /// The invocation id (each is served once).
    pub id: &'a str,
    /// The caller.
    pub source: &'a str,
    /// The callee.
    pub target: &'a str,
    /// `ns:pkg/iface`.
    pub interface: &'a str,
    /// The function.
    pub function: &'a str,
    /// The link name.
    pub link_name: &'a str,
    /// The encoded arguments.
    pub payload: Vec<u8>,
}

/// An invocation and the key that signs it when it is encoded: a test may
/// change any field first (through `DerefMut`) and it is signed as changed.
pub struct SignedCall {
    /// The invocation.
    pub invocation: lattice_interfaces::protocol::rpc::Invocation,
    seed: String,
}

impl SignedCall {
    /// The message for the `rpc` subject, signed now.
    pub fn encode(&self) -> Result<Vec<u8>, lattice_interfaces::protocol::rpc::EnvelopeError> {
        let key = nkeys::KeyPair::from_seed(&self.seed).expect("a test seed decodes");
        self.invocation.sign(&key)
    }

    /// Sends the call, signed now, to its target in lattice `default`
    /// through `nats`; the target's response.
    pub async fn send(&self, nats: &async_nats::Client) -> InvocationResponse {
        let message = self.encode().expect("a test invocation encodes");
        rpc(nats, &self.invocation.target, message).await
    }
}

/// Sends `message` (a signed invocation, or garbage) on
/// `lattice.default.rpc.<target>` through `nats`; the response, decoded.
pub async fn rpc(nats: &async_nats::Client, target: &str, message: Vec<u8>) -> InvocationResponse {
    let subject = format!("lattice.default.rpc.{target}");
    let reply = nats
        .request(subject.clone(), message.into())
        .await
        .unwrap_or_else(|e| panic!("no answer on {subject}: {e}"));
    InvocationResponse::decode(&reply.payload).expect("an invocation response")
}

/// The message of the error in `response`, failing the test unless it
/// is an error of `kind`.
pub fn refusal(response: InvocationResponse, kind: ErrorKind) -> String {
    let error = response.error.expect("the call was refused");
    assert_eq!(error.kind, kind, "{error:?}");
    error.message
}

impl std::ops::Deref for SignedCall {
    type Target = lattice_interfaces::protocol::rpc::Invocation;
    fn deref(&self) -> &Self::Target {
        &self.invocation
    }
}

impl std::ops::DerefMut for SignedCall {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.invocation
    }
}

impl TestCall<'_> {
    /// The envelope, due in 10 s, to be signed by `key`, carrying `grant`.
    pub fn signed(
        self,
        key: &nkeys::KeyPair,
        grant: Option<lattice_interfaces::protocol::rpc::ProviderGrant>,
    ) -> SignedCall {
        let invocation = lattice_interfaces::protocol::rpc::Invocation {
            id: self.id.into(),
            source: self.source.into(),
            target: self.target.into(),
            interface: self.interface.into(),
            function: self.function.into(),
            link_name: self.link_name.into(),
            deadline_ms: lattice_interfaces::protocol::rpc::unix_ms() + 10_000,
            traceparent: None,
            // A provider's calls come from the host its grant names.
            origin_host: grant
                .as_ref()
                .map_or_else(|| "NTEST".into(), |grant| grant.host_id.clone()),
            cluster_key: key.public_key(),
            lattice: "default".into(),
            payload: self.payload,
            payload_ref: None,
            grant,
        };
        SignedCall {
            invocation,
            seed: key.seed().expect("a test key has a seed"),
        }
    }
}

/// Puts `link` through `lattice`, retrying while NATS is coming back (after
/// a restart), failing the test after `deadline`.
pub async fn put_link_until_stored(
    lattice: &lattice_host::lattice::Lattice,
    link: &lattice_interfaces::Link,
    deadline: Duration,
) {
    let until = tokio::time::Instant::now() + deadline;
    while let Err(error) = lattice.put_link(link.clone()).await {
        assert!(
            tokio::time::Instant::now() < until,
            "link put never landed: {error}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The lattice's control interface as tests drive it: typed requests, the
/// very types the hosts decode, failing the test on an unexpected outcome.
/// (Malformed requests go through [`RawControl`].)
#[derive(Clone)]
pub struct Control {
    /// The typed client.
    pub client: lattice_client::ControlClient,
}

impl Control {
    /// Connects to lattice `lattice` at `url`; requests wait up to 20 s.
    pub async fn connect(url: &str, lattice: &str) -> Self {
        let nats = async_nats::connect(url)
            .await
            .expect("test connects to NATS");
        Self::from_client(nats, url, lattice)
    }

    /// A control client of lattice `lattice` over `nats` (connected to
    /// `url`, with credentials of the test's choosing).
    pub fn from_client(nats: async_nats::Client, url: &str, lattice: &str) -> Self {
        let client =
            lattice_client::ControlClient::new(nats, lattice, url, Duration::from_secs(20))
                .expect("a valid lattice id");
        Self { client }
    }

    /// The NATS connection.
    pub fn nats(&self) -> &async_nats::Client {
        self.client.nats()
    }

    /// Sends `request` to `O` (at `host`) and returns its response, failing
    /// the test with the reply's message otherwise.
    pub async fn ok<O: Operation>(
        &self,
        host: Option<&HostId>,
        request: O::Request,
    ) -> O::Response {
        self.client
            .request::<O>(host, &request)
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", O::NAME))
    }

    /// Sends `request` to `O` (at `host`) and returns the message of its
    /// refusal, failing the test if it succeeded.
    pub async fn refused<O: Operation>(
        &self,
        host: Option<&HostId>,
        request: O::Request,
    ) -> String {
        match self.client.request::<O>(host, &request).await {
            Err(lattice_client::ControlError::Refused { message, .. }) => message,
            Err(other) => panic!("{} failed without a refusal: {other}", O::NAME),
            Ok(_) => panic!("{} succeeded; a refusal was expected", O::NAME),
        }
    }

    /// The responses to scatter-gather `O` that arrive within a second.
    pub async fn gather<O: Operation>(&self, request: O::Request) -> Vec<O::Response> {
        self.client
            .gather::<O>(&request, Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{} failed: {e}", O::NAME))
    }

    /// Host ids that answer a ping within one second, sorted.
    pub async fn ping_ids(&self) -> Vec<HostId> {
        let mut ids: Vec<HostId> = self
            .gather::<op::Ping>(Empty {})
            .await
            .into_iter()
            .map(|h| h.host_id)
            .collect();
        ids.sort();
        ids
    }
}

/// `actor.scale` of actor `id` from `reference` to `max_instances`.
pub fn scale(id: &str, reference: &str, max_instances: u32) -> ScaleActor {
    ScaleActor {
        models: Default::default(),
        actor_id: crate::hosts::id(id),
        actor_ref: reference.to_string(),
        max_instances,
        instance_reuse: None,
        min_instances: None,
        config: None,
        secrets: None,
    }
}

/// `provider.start` of built-in provider `kind` as `id`.
pub fn start_provider(id: &str, kind: &str) -> StartProvider {
    StartProvider {
        provider_id: crate::hosts::id(id),
        reference: kind.to_string(),
        config: Default::default(),
    }
}

//! A real `nats-server` with JetStream, on a free port, in a temporary
//! folder, killed when dropped.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use crate::{free_port, wait_for};

/// The `nats-server` the tests run: `LATTICE_TEST_NATS_SERVER` when set
/// (`./scripts/test` runs the suite on a current release and on Debian's
/// 2.9), else the one on `PATH`.
fn nats_server_command() -> Command {
    Command::new(
        std::env::var_os("LATTICE_TEST_NATS_SERVER").unwrap_or_else(|| "nats-server".into()),
    )
}

/// A running `nats-server`.
pub struct NatsServer {
    child: Child,
    port: u16,
    /// JetStream storage and the server's log.
    store: tempfile::TempDir,
    /// A configuration file it runs with, if any.
    config: Option<std::path::PathBuf>,
    /// Folders to keep while it runs (its configuration's).
    keep: Vec<tempfile::TempDir>,
}

/// Writes `text` as a nats-server configuration file in a new folder.
fn write_config(text: &str) -> (std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir for a nats-server config");
    let path = dir.path().join("nats.conf");
    std::fs::write(&path, text).expect("nats-server config written");
    (path, dir)
}

/// Starts `nats-server -js` on `port` (with `config`, if any) with its
/// JetStream storage in `store`, logging (with client connects and
/// disconnects, and permission violations) to `store/log`.
fn spawn(port: u16, store: &Path, config: Option<&Path>) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.join("log"))
        .expect("cannot open the nats-server log");
    let log_too = log.try_clone().expect("cannot share the nats-server log");
    let mut command = nats_server_command();
    if let Some(config) = config {
        command.arg("-c").arg(config);
    }
    command
        .args(["-js", "-D", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(store.join("js"))
        .stdout(log)
        .stderr(log_too)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start nats-server ({e}): run ./scripts/test, or `apt-get install nats-server`"))
}

impl NatsServer {
    /// Starts `nats-server -js` on a free port and waits until it greets
    /// clients. Fails the test with the fix when `nats-server` is missing.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// Like [`Self::start`], on `port` (a server that comes up late where
    /// clients were told to look).
    pub fn start_on(port: u16) -> Self {
        Self::start_with(port, None)
    }

    /// Like [`Self::start`], with the configuration file `config` (accounts,
    /// users, permissions); the command line's port and storage win.
    pub fn start_with_config(config: &Path) -> Self {
        Self::start_with(free_port(), Some(config.to_path_buf()))
    }

    fn start_with(port: u16, config: Option<std::path::PathBuf>) -> Self {
        let store = tempfile::tempdir().expect("cannot make a temp dir for JetStream");
        let child = spawn(port, store.path(), config.as_deref());
        let server = Self {
            child,
            port,
            store,
            config,
            keep: Vec::new(),
        };
        wait_for(
            "nats-server to accept clients",
            Duration::from_secs(10),
            || server.info(),
        );
        server
    }

    /// Stops the server and starts it again on the same port with the same
    /// JetStream storage, as an operator's restart would; waits until it
    /// greets clients.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.port, self.store.path(), self.config.as_deref());
        wait_for(
            "nats-server to accept clients again",
            Duration::from_secs(10),
            || self.info(),
        );
    }

    /// Kills the server (SIGKILL): no goodbye to its clients or leaf nodes.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Whether the server's log has a line containing each of `parts` (it
    /// logs permission violations, for one).
    pub fn logged(&self, parts: &[&str]) -> bool {
        self.logged_times(parts) > 0
    }

    /// How many lines of its log hold all of `parts`.
    pub fn logged_times(&self, parts: &[&str]) -> usize {
        std::fs::read_to_string(self.store.path().join("log")).map_or(0, |log| {
            log.lines()
                .filter(|line| parts.iter().all(|part| line.contains(part)))
                .count()
        })
    }

    /// A hub: JetStream in domain `hub`, taking leaf nodes on the port
    /// returned.
    pub fn start_hub() -> (Self, u16) {
        let leaf_port = free_port();
        (Self::start_hub_on(leaf_port, None), leaf_port)
    }

    /// A hub taking leaf nodes on `leaf_port` that tells leaf nodes to
    /// reconnect to `advertise` (a proxy's port, when a test cuts a leaf
    /// off: a leaf told the real port would reconnect around the cut).
    pub fn start_hub_on(leaf_port: u16, advertise: Option<u16>) -> Self {
        let advertised = advertise.map_or_else(
            || ", no_advertise: true".to_string(),
            |port| format!(", advertise: \"127.0.0.1:{port}\""),
        );
        let config = write_config(&format!(
            "jetstream {{ domain: hub }}\nleafnodes {{ listen: \"127.0.0.1:{leaf_port}\"{advertised} }}\n"
        ));
        let mut hub = Self::start_with(free_port(), Some(config.0.clone()));
        hub.keep(config.1);
        hub
    }

    /// A leaf node of the hub listening for leaf nodes on `hub_leaf_port`,
    /// with JetStream of its own in domain `domain` (the lattice's state
    /// stays in the hub's: hosts use `--js-domain hub`).
    pub fn start_leaf(domain: &str, hub_leaf_port: u16) -> Self {
        let leaf = Self::start_leaf_through(domain, hub_leaf_port);
        wait_for(
            "the leaf node to connect to its hub",
            Duration::from_secs(10),
            || leaf.logged(&["Leafnode connection created"]).then_some(()),
        );
        leaf
    }

    /// A leaf node like [`Self::start_leaf`] that reaches its hub on
    /// `port` (a proxy's, to cut it off later); it waits for nothing.
    pub fn start_leaf_through(domain: &str, port: u16) -> Self {
        let config = write_config(&format!(
            "jetstream {{ domain: {domain} }}\nleafnodes {{ remotes: [ {{ url: \"nats-leaf://127.0.0.1:{port}\" }} ] }}\n"
        ));
        let mut leaf = Self::start_with(free_port(), Some(config.0.clone()));
        leaf.keep(config.1);
        leaf
    }

    /// A server of a cluster: named `name`, routing to its peers on
    /// `route_port`, JetStream clustered with them.
    fn start_routed(name: &str, port: u16, route_port: u16, peers: &[u16]) -> Self {
        let routes: Vec<String> = peers
            .iter()
            .map(|p| format!("\"nats-route://127.0.0.1:{p}\""))
            .collect();
        let config = write_config(&format!(
            "server_name: {name}\ncluster {{ name: lattice-test, listen: \"127.0.0.1:{route_port}\", routes: [ {} ] }}\n",
            routes.join(", ")
        ));
        let mut server = Self::start_with(port, Some(config.0.clone()));
        server.keep(config.1);
        server
    }

    fn keep(&mut self, dir: tempfile::TempDir) {
        self.keep.push(dir);
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A new client connection to the server.
    pub async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("test connects to NATS")
    }

    /// The server's `INFO` greeting (JSON), if it answers now.
    pub fn info(&self) -> Option<String> {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        line.strip_prefix("INFO ")
            .map(|json| json.trim().to_string())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server saw (connects, disconnects,
        // slow consumers); a passing one stays quiet.
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.store.path().join("log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "--- nats-server on port {} (last {} lines) ---\n{}",
                self.port,
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// Sends a request with `body` on `subject` and returns the reply as text,
/// or `None` when nothing answers within a second.
pub async fn ask(client: &async_nats::Client, subject: &str, body: &str) -> Option<String> {
    let reply = tokio::time::timeout(
        Duration::from_secs(1),
        client.request(subject.to_string(), body.to_string().into()),
    )
    .await
    .ok()?
    .ok()?;
    Some(String::from_utf8_lossy(&reply.payload).into_owned())
}

/// Asks until an answer comes, failing the test after `deadline`.
pub async fn ask_until_answered(
    client: &async_nats::Client,
    subject: &str,
    body: &str,
    deadline: Duration,
) -> String {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(answer) = ask(client, subject, body).await {
            return answer;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "nothing answered on {subject} within {deadline:?}"
        );
    }
}

/// Subscribes to `subject` on the NATS server at `url` over a connection of
/// its own (the subscription keeps it open), once the server has it.
pub async fn subscribe(url: &str, subject: &str) -> async_nats::Subscriber {
    let client = async_nats::connect(url)
        .await
        .expect("test connects to NATS");
    let subscription = client
        .subscribe(subject.to_string())
        .await
        .unwrap_or_else(|e| panic!("cannot subscribe to {subject}: {e}"));
    lattice_rpc::server_caught_up(&client, std::time::Duration::from_secs(10))
        .await
        .expect("the subscription reaches NATS");
    subscription
}

/// The next message on `subscription`, failing the test if none comes
/// within `deadline`.
pub async fn next_message(
    subscription: &mut async_nats::Subscriber,
    deadline: Duration,
) -> async_nats::Message {
    tokio::time::timeout(deadline, futures::StreamExt::next(subscription))
        .await
        .unwrap_or_else(|_| panic!("no message within {deadline:?}"))
        .expect("the subscription stays open")
}

/// The next event on `subscription` as JSON (a CloudEvent: its `data`
/// says what happened), failing the test if none comes within `deadline`.
pub async fn next_event(
    subscription: &mut async_nats::Subscriber,
    deadline: Duration,
) -> serde_json::Value {
    let message = next_message(subscription, deadline).await;
    serde_json::from_slice(&message.payload).expect("an event is JSON")
}

/// Fails the test unless echo-messaging answers requests on `echo.>`
/// through `client`: a first one within `deadline` (its subscription starts
/// in the background), then twenty in a row.
pub async fn assert_echo_answers(client: &async_nats::Client, deadline: Duration) {
    let first = ask_until_answered(client, "echo.hello", "hi there", deadline).await;
    assert_eq!(first, "echo: hi there");
    for i in 0..20 {
        let answer = ask(client, &format!("echo.n{i}"), &format!("message {i}"))
            .await
            .unwrap();
        assert_eq!(answer, format!("echo: message {i}"));
    }
}

/// Fails the test unless echo-messaging answers `body` on `echo.late`
/// through a new connection to `server` (one that came up late, where the
/// link said it would) within 30 s.
pub async fn assert_echo_late(server: &NatsServer, body: &str) {
    let client = server.client().await;
    let answer = ask_until_answered(&client, "echo.late", body, Duration::from_secs(30)).await;
    assert_eq!(answer, format!("echo: {body}"));
}

/// Three (or more) `nats-server`s routed into one cluster, JetStream
/// clustered over them: what the README advises for production.
pub struct NatsCluster {
    /// The servers, in the order of [`NatsCluster::url`].
    pub servers: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts `size` servers on free ports, each routing to the others,
    /// and waits until JetStream has a leader (buckets can be made).
    pub async fn start(size: usize) -> Self {
        let ports: Vec<(u16, u16)> = (0..size).map(|_| (free_port(), free_port())).collect();
        let servers = ports
            .iter()
            .enumerate()
            .map(|(i, (port, route))| {
                let peers: Vec<u16> = ports
                    .iter()
                    .filter(|(_, other)| other != route)
                    .map(|(_, other)| *other)
                    .collect();
                NatsServer::start_routed(&format!("n{i}"), *port, *route, &peers)
            })
            .collect();
        let cluster = Self { servers };
        cluster.wait_for_jetstream().await;
        cluster
    }

    /// Every server's URL, comma-separated: what hosts and clients are
    /// given.
    pub fn url(&self) -> String {
        self.servers
            .iter()
            .map(NatsServer::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A client of the cluster, knowing every server.
    pub async fn client(&self) -> async_nats::Client {
        let servers: Vec<async_nats::ServerAddr> = self
            .servers
            .iter()
            .map(|s| s.url().parse().expect("a server address"))
            .collect();
        async_nats::connect(servers)
            .await
            .expect("a client of the NATS cluster")
    }

    /// Waits until the cluster's JetStream makes replicated streams (its
    /// meta leader is elected and every server takes part).
    pub async fn wait_for_jetstream(&self) {
        let client = self.client().await;
        let js = async_nats::jetstream::new(client);
        crate::eventually_within(
            "the cluster's JetStream to elect a leader",
            Duration::from_secs(30),
            async || {
                // A stream with a replica on every server can be made (the
                // account info request of 2.9 does not parse here).
                let config = async_nats::jetstream::stream::Config {
                    name: "cluster-probe".into(),
                    subjects: vec!["cluster-probe".into()],
                    num_replicas: self.servers.len(),
                    ..Default::default()
                };
                js.create_stream(config).await.ok()?;
                js.delete_stream("cluster-probe").await.ok().map(drop)
            },
        )
        .await;
    }

    /// Waits until stream `stream` has all its replicas current: a server
    /// that came back has caught up.
    pub async fn wait_for_replicas(&self, stream: &str) {
        let client = self.client().await;
        let js = async_nats::jetstream::new(client);
        crate::eventually_within(
            "every replica of the stream to be current",
            Duration::from_secs(60),
            async || {
                let mut stream = js.get_stream(stream).await.ok()?;
                let info = stream.info().await.ok()?;
                let cluster = info.cluster.as_ref()?;
                let current = cluster
                    .replicas
                    .iter()
                    .filter(|r| r.current && !r.offline)
                    .count();
                (cluster.leader.is_some() && current + 1 == self.servers.len()).then_some(())
            },
        )
        .await;
    }
}

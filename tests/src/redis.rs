//! A real `redis-server` on a free port, killed when dropped; optionally
//! persistent, to survive a restart.

use std::io::{BufRead, BufReader, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{free_port, wait_for};

/// A running `redis-server`.
pub struct RedisServer {
    child: Child,
    port: u16,
    /// Where an append-only file keeps data across restarts, if asked.
    dir: Option<tempfile::TempDir>,
}

fn spawn(port: u16, dir: Option<&std::path::Path>) -> Child {
    let mut command = Command::new("redis-server");
    command.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
    ]);
    match dir {
        Some(dir) => command
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(dir),
        None => command.args(["--appendonly", "no"]),
    };
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start redis-server ({e}): run ./scripts/test, or `apt-get install redis-server`")
        })
}

impl RedisServer {
    /// Starts `redis-server` on a free port, keeping nothing on disk, and
    /// waits until it answers PING.
    pub fn start() -> Self {
        Self::start_on(free_port(), false)
    }

    /// Like [`Self::start`], with every write kept in an append-only file so
    /// the data survives [`Self::restart`].
    pub fn start_persistent() -> Self {
        Self::start_on(free_port(), true)
    }

    /// Starts on `port`.
    pub fn start_on(port: u16, persistent: bool) -> Self {
        let dir = persistent.then(|| tempfile::tempdir().expect("a temp dir for redis"));
        let child = spawn(port, dir.as_ref().map(tempfile::TempDir::path));
        let server = Self { child, port, dir };
        wait_for(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || server.ping().then_some(()),
        );
        server
    }

    /// Stops the server gracefully (SIGTERM) and starts it again on the
    /// same port with the same data folder.
    pub fn restart(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.child = spawn(self.port, self.dir.as_ref().map(tempfile::TempDir::path));
        wait_for("redis-server to come back", Duration::from_secs(10), || {
            self.ping().then_some(())
        });
    }

    /// Kills the server (SIGKILL): an outage, not a shutdown.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port (and data folder) after
    /// [`Self::kill`], and waits until it answers PING.
    pub fn start_again(&mut self) {
        self.child = spawn(self.port, self.dir.as_ref().map(tempfile::TempDir::path));
        wait_for("redis-server to come back", Duration::from_secs(10), || {
            self.ping().then_some(())
        });
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("+PONG")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

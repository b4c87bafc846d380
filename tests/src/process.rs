//! Processes as the tests run them: `lattice-ctl` commands, signals, and
//! provider binaries started the way a host starts them.

use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use lattice_interfaces::protocol::provider::{Health, HostData};

/// Sends `signal` (e.g. `-TERM`, `-KILL`) to process `pid`, failing the
/// test if `kill` fails.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} {pid} failed: {status}");
}

/// Sends SIGTERM to `child`, as an orchestrator would, and waits up to
/// `deadline` for `what` to exit; its exit status.
pub fn terminate_and_wait(child: &mut Child, what: &str, deadline: Duration) -> ExitStatus {
    signal(child.id(), "-TERM");
    crate::wait_for(&format!("{what} to exit on SIGTERM"), deadline, || {
        child.try_wait().expect("the child can be waited for")
    })
}

/// `lattice-ctl` (built from this workspace) with `RUST_LOG=warn` and no
/// standard input.
pub fn lattice_ctl() -> Command {
    let mut command = Command::new(crate::fixtures::binary("lattice-ctl"));
    command.env("RUST_LOG", "warn").stdin(Stdio::null());
    command
}

/// Runs `lattice-ctl ARGS --nats-url URL` to the end.
pub fn ctl_at(url: &str, args: &[&str]) -> std::process::Output {
    lattice_ctl()
        .args(args)
        .args(["--nats-url", url])
        .output()
        .expect("lattice-ctl runs")
}

/// What a `lattice-ctl` run printed, failing the test (with what it said on
/// stderr) unless it succeeded.
pub fn succeeded(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Reads `child`'s piped standard output until a line holds a URL, as
/// `lattice-ctl up` prints one per endpoint; the URL and that line. The
/// rest of the output is read (and dropped) in the background, so the
/// child never writes into a closed pipe.
pub fn printed_url(child: &mut Child) -> (String, String) {
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the process ended before printing a URL")
            .expect("its output is text");
        let line = line.trim();
        let scheme = ["http://", "https://"]
            .into_iter()
            .find(|scheme| line.starts_with(scheme));
        if let Some(scheme) = scheme {
            let rest = &line[scheme.len()..];
            let url = format!("{scheme}{}", rest.split_whitespace().next().expect("a URL"));
            std::thread::spawn(move || lines.for_each(drop));
            return (url, line.to_string());
        }
    }
}

/// What a child process wrote on its standard error, kept so a passing
/// test stays quiet and a failing one shows it ([`Self::show_if_failing`]).
#[derive(Clone, Default)]
pub struct CapturedStderr {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The reading thread, joined before showing (so nothing the process
    /// wrote before it died is missed).
    reader: std::sync::Arc<std::sync::Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl CapturedStderr {
    /// Reads `child`'s piped standard error in the background.
    pub fn of(child: &mut Child) -> Self {
        let captured = Self::default();
        let stderr = child.stderr.take().expect("piped stderr");
        let lines = captured.lines.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(line);
            }
        });
        *captured
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reader);
        captured
    }

    /// Whether a line written so far contains each of `parts`.
    pub fn has_line(&self, parts: &[&str]) -> bool {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|line| parts.iter().all(|part| line.contains(part)))
    }

    /// Adds a line of the test's own about the process.
    pub fn push(&self, line: String) {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(line);
    }

    /// Prints what `what` wrote, when the current test is failing. Call it
    /// once the process has exited: it first reads what is left (up to 2 s).
    pub fn show_if_failing(&self, what: &str) {
        if !std::thread::panicking() {
            return;
        }
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            let until = std::time::Instant::now() + Duration::from_secs(2);
            while !reader.is_finished() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let lines = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        eprintln!("--- {what} stderr ---\n{}", lines.join("\n"));
    }
}

/// A provider binary started as a host starts one: its host data written
/// on standard input. Killed (SIGKILL) when dropped.
pub struct ProviderProcess {
    child: Child,
    data: HostData,
    stderr: CapturedStderr,
}

impl ProviderProcess {
    /// Starts workspace binary `binary` (e.g. `lattice-provider-keyvalue`)
    /// and hands it `data`.
    pub fn start(binary: &str, data: HostData) -> Self {
        let mut child = Command::new(crate::fixtures::binary(binary))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let stderr = CapturedStderr::of(&mut child);
        let json = serde_json::to_string(&data).expect("host data is JSON");
        writeln!(child.stdin.take().expect("piped stdin"), "{json}")
            .expect("the provider reads its host data");
        Self {
            child,
            data,
            stderr,
        }
    }

    /// Asks for the provider's health on `lattice.<L>.provider.<id>.health`
    /// through `nats` until it answers (it starts in the background), and
    /// returns the answer; fails the test after 20 s.
    pub async fn health(&self, nats: &async_nats::Client) -> Health {
        let subject = format!(
            "lattice.{}.provider.{}.health",
            self.data.lattice, self.data.provider_id
        );
        crate::eventually("the provider to answer its health check", async || {
            let answer = tokio::time::timeout(
                Duration::from_millis(500),
                nats.request(subject.clone(), "".into()),
            )
            .await;
            let message = answer.ok()?.ok()?;
            Some(serde_json::from_slice(&message.payload).expect("health is JSON"))
        })
        .await
    }

    /// Sends SIGTERM and waits up to 20 s for the exit; its exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        terminate_and_wait(&mut self.child, "the provider", Duration::from_secs(20))
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr.show_if_failing("provider process");
    }
}

/// What a child prints on standard output, read a line at a time in the
/// background and kept, so a test can wait for a line and read the rest.
#[derive(Clone, Default)]
pub struct PrintedLines {
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl PrintedLines {
    /// Takes `child`'s piped standard output and starts reading it.
    pub fn of(child: &mut Child) -> Self {
        let printed = Self::default();
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = printed.lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(line);
            }
        });
        printed
    }

    /// The lines printed so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Waits up to `deadline` for a line holding `marker`; everything
    /// printed until then (that line included), or `None`.
    pub fn wait_for(&self, marker: &str, deadline: Duration) -> Option<String> {
        crate::wait_for_opt(deadline, || {
            let lines = self.lines();
            let at = lines.iter().position(|line| line.contains(marker))?;
            let mut printed = lines[..=at].join("\n");
            printed.push('\n');
            Some(printed)
        })
    }
}

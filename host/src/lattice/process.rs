//! Provider processes: a host starts a provider binary, hands it its host
//! data on stdin, checks its health, and restarts it with backoff when it
//! exits, announcing each start, stop and change of health as events.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_interfaces::protocol::events::{LatticeEvent, ProviderChange};
use lattice_interfaces::protocol::provider::{Health, HostData, HostMessage};
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

use lattice_rpc::EventPublisher;

use super::rpc::ProviderKey;

/// First wait before a restart; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A process that ran this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a stopping process may take after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Failed health checks in a row after which a process is restarted...
const UNHEALTHY_AFTER: u32 = 3;
/// ... once they have been failing at least this long (a process that is
/// reconnecting after a NATS restart gets the time to).
const UNHEALTHY_FOR: Duration = Duration::from_secs(10);
/// How long a health check waits for its answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// How a supervisor checks its process's health.
pub(crate) struct HealthCheck {
    pub(crate) client: async_nats::Client,
    pub(crate) subject: String,
    pub(crate) every: Duration,
}

impl HealthCheck {
    /// Asks once: healthy, or why not.
    async fn ask(&self) -> Result<(), String> {
        let answer = tokio::time::timeout(
            HEALTH_TIMEOUT,
            self.client.request(self.subject.clone(), "".into()),
        )
        .await
        .map_err(|_| format!("no answer within {HEALTH_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
        let health: Health = serde_json::from_slice(&answer.payload)
            .map_err(|e| format!("unreadable answer: {e}"))?;
        if health.healthy {
            Ok(())
        } else {
            Err(health.message)
        }
    }
}

/// Where a supervisor gets each run's signing key and its grants, and how
/// it revokes the key when the run ends.
pub(crate) struct Grants {
    pub(crate) keys: super::rpc::ClusterKeys,
    /// How long each grant lasts; renewed at half-life.
    pub(crate) lifetime: Duration,
    pub(crate) client: async_nats::Client,
    /// `grant.revoke`, to every host.
    pub(crate) revoke_subject: String,
    /// Where revocations are kept for whoever was not listening.
    pub(crate) state: super::state::LatticeState,
}

impl Grants {
    /// Revokes `key` here at once, keeps the revocation in the lattice's
    /// bucket (for hosts that join later and provider processes) and tells
    /// every host now (whose answers nobody waits for).
    async fn revoke(&self, key: &ProviderKey, provider_id: &str) {
        let revocation = match key.revocation() {
            Ok(revocation) => revocation,
            Err(error) => {
                tracing::error!(provider = %provider_id, %error, "cannot revoke a provider key");
                return;
            }
        };
        if let Err(error) = self.keys.revoke(&revocation) {
            tracing::error!(provider = %provider_id, %error, "cannot revoke a provider key");
        }
        if let Err(error) = self.state.put_revocation(&revocation).await {
            tracing::warn!(provider = %provider_id, %error, "cannot keep a provider key's revocation in the lattice's bucket");
        }
        let Ok(payload) = serde_json::to_vec(&revocation) else {
            return;
        };
        let inbox = self.client.new_inbox();
        if let Err(error) = self
            .client
            .publish_with_reply(self.revoke_subject.clone(), inbox, payload.into())
            .await
        {
            tracing::warn!(provider = %provider_id, %error, "cannot tell the lattice a provider key is revoked");
        }
    }
}

/// Writes a renewed grant for `key` on the process's stdin every half
/// lifetime, until dropped (which closes stdin: the process stops).
async fn renew_grants(
    mut stdin: tokio::process::ChildStdin,
    key: Arc<ProviderKey>,
    lifetime: Duration,
) {
    let every = (lifetime / 2).max(Duration::from_millis(500));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        ticks.tick().await;
        let line = key
            .grant()
            .map(HostMessage::RenewGrant)
            .and_then(|message| serde_json::to_string(&message).map_err(|e| e.to_string()));
        match line {
            Ok(line) => {
                if stdin.write_all((line + "\n").as_bytes()).await.is_err() {
                    // The process is gone; its supervisor sees it exit.
                    return std::future::pending().await;
                }
            }
            Err(error) => tracing::error!(%error, "cannot renew a provider grant"),
        }
    }
}

/// What a supervisor runs: the host's verified copy of a provider binary.
pub(crate) struct Binary {
    /// What the operator named (events show it).
    pub(crate) reference: String,
    /// The copy to run.
    pub(crate) path: std::path::PathBuf,
    /// Its sha256, checked before every start.
    pub(crate) sha256: String,
}

/// How one run of the process ended.
enum RunEnd {
    Exited(String),
    /// It failed [`UNHEALTHY_AFTER`] health checks in a row: stopped, to
    /// be started again.
    Unhealthy(String),
    Stopped,
}

/// Runs `binary` as provider `data.provider_id` until `stop`: checks its
/// hash before every start; gives each run a fresh key and grant
/// (`grants`), renewed on its stdin and revoked when the run ends; checks
/// its health every `health.every` (events `health_check_passed` /
/// `health_check_failed` when the answer changes); restarts it whenever it
/// exits or fails [`UNHEALTHY_AFTER`] health checks in a row over
/// [`UNHEALTHY_FOR`] (not counting checks made while this host is cut off
/// from NATS); and keeps the running process's id in `pid` (0 between runs).
pub(crate) async fn supervise(
    binary: Binary,
    mut data: HostData,
    grants: Grants,
    events: EventPublisher,
    health: HealthCheck,
    stop: CancellationToken,
    pid: Arc<AtomicU32>,
) {
    // What every event of this provider says: its host, id and binary.
    let base = ProviderChange::of(
        data.host_id.clone(),
        data.provider_id.clone(),
        binary.reference.clone(),
    );
    let mut backoff = lattice_rpc::Backoff::new(FIRST_BACKOFF, MAX_BACKOFF);
    let mut starts = 0u32;
    while !stop.is_cancelled() {
        let spawned = spawn(&binary, &data.provider_id).await;
        let end = match spawned {
            Err(error) => {
                events
                    .publish(LatticeEvent::ProviderStartFailed(ProviderChange {
                        error: Some(error.clone()),
                        ..base.clone()
                    }))
                    .await;
                RunEnd::Exited(error)
            }
            Ok(mut child) => {
                // Each run gets a key of its own, revoked when the run ends.
                let key = Arc::new(ProviderKey::new(
                    &grants.keys,
                    &data.lattice,
                    &data.provider_id,
                    data.host_id.as_str(),
                    grants.lifetime,
                ));
                let line = key.seed().and_then(|seed| {
                    data.invocation_seed = Some(seed);
                    data.invocation_grant = Some(key.grant()?);
                    serde_json::to_string(&data).map_err(|e| e.to_string())
                });
                data.invocation_seed = None;
                // Held open while the process should run (by the renewal
                // task): closing it (or this host dying) stops the process.
                let mut stdin = child.stdin.take();
                match (&mut stdin, line) {
                    (Some(stdin), Ok(line)) => {
                        let _ = stdin.write_all((line + "\n").as_bytes()).await;
                    }
                    (_, Err(error)) => {
                        tracing::error!(provider = %data.provider_id, %error, "cannot write a provider's host data");
                    }
                    (None, Ok(_)) => {}
                }
                let renewal = stdin
                    .map(|stdin| tokio::spawn(renew_grants(stdin, key.clone(), grants.lifetime)));
                starts += 1;
                pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
                let started = Instant::now();
                events
                    .publish(LatticeEvent::ProviderStarted(ProviderChange {
                        pid: child.id(),
                        starts: Some(starts),
                        invocation_key: Some(key.public_key()),
                        ..base.clone()
                    }))
                    .await;
                let end = run(&mut child, &health, &events, &base, &stop).await;
                // The end of its stdin asks the process to stop, as SIGTERM
                // would; past the grace, it is killed.
                if let Some(renewal) = renewal {
                    renewal.abort();
                    let _ = renewal.await;
                }
                grants.revoke(&key, &data.provider_id).await;
                if matches!(end, RunEnd::Stopped | RunEnd::Unhealthy(_))
                    && tokio::time::timeout(STOP_GRACE, child.wait())
                        .await
                        .is_err()
                {
                    let _ = child.kill().await;
                }
                pid.store(0, Ordering::Relaxed);
                if started.elapsed() >= STABLE_AFTER {
                    backoff.reset();
                }
                end
            }
        };
        match end {
            RunEnd::Stopped => {
                events
                    .publish(LatticeEvent::ProviderStopped(ProviderChange {
                        reason: Some("stopped".into()),
                        ..base.clone()
                    }))
                    .await;
                break;
            }
            RunEnd::Exited(status) | RunEnd::Unhealthy(status) => {
                let delay = backoff.delay();
                tracing::warn!(provider = %data.provider_id, %status, ?delay, "provider process ended; restarting");
                let restarting_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                events
                    .publish(LatticeEvent::ProviderStopped(ProviderChange {
                        reason: Some(status.clone()),
                        restarting_in_ms: Some(restarting_in_ms),
                        ..base.clone()
                    }))
                    .await;
                if !backoff.wait(&stop).await {
                    break;
                }
            }
        }
    }
}

/// Starts `binary` after checking its hash; a start that races a fork in
/// another thread (`ETXTBSY` on a just-written file) is tried again.
async fn spawn(binary: &Binary, provider_id: &str) -> Result<tokio::process::Child, String> {
    crate::host::binaries::check(&binary.path, &binary.sha256)
        .map_err(|reason| format!("cannot start {}: {reason}", binary.reference))?;
    let mut attempts = 0;
    loop {
        let mut command = tokio::process::Command::new(&binary.path);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // An empty environment plus what a provider needs: the host's own
        // (its seeds, NATS password, registry credentials, secrets for
        // actors) is not the provider's. What it needs of the lattice comes
        // on its stdin.
        command.env_clear();
        for name in PROVIDER_ENVIRONMENT {
            if let Some(value) = std::env::var_os(name) {
                command.env(name, value);
            }
        }
        // The process's spans join the host's traces.
        if let Some(endpoint) = lattice_rpc::telemetry::endpoint() {
            command.env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        }
        let spawned = command.spawn();
        match spawned {
            Err(error) if error.raw_os_error() == Some(ETXTBSY) && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(error) => return Err(format!("cannot start {}: {error}", binary.reference)),
            Ok(mut child) => {
                if let Some(stderr) = child.stderr.take() {
                    tokio::spawn(forward_stderr(stderr, provider_id.to_string()));
                }
                return Ok(child);
            }
        }
    }
}

/// The host's environment variables a provider process is started with,
/// when the host has them; nothing else of the host's environment reaches
/// it. Its log filter, where to find programs, the CA bundle for TLS
/// (rustls reads the system's roots, or these), and the time zone.
pub(crate) const PROVIDER_ENVIRONMENT: [&str; 6] = [
    "RUST_LOG",
    "RUST_BACKTRACE",
    "PATH",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "TZ",
];

/// Longest line of a provider's standard error kept whole; the rest of a
/// longer one follows as another line.
const MAX_LOG_LINE: u64 = 8 * 1024;

/// Re-emits each line the process writes on standard error as a tracing
/// event of the host, at the level the line names, so a provider's logs go
/// where the host's go (and a test's stay captured).
async fn forward_stderr(stderr: tokio::process::ChildStderr, provider_id: String) {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _};
    let mut reader = tokio::io::BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LOG_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let (level, message) = logged_level(text.trim_end());
        match level {
            "ERROR" => tracing::error!(process = %provider_id, "{message}"),
            "WARN" => tracing::warn!(process = %provider_id, "{message}"),
            "DEBUG" => tracing::debug!(process = %provider_id, "{message}"),
            "TRACE" => tracing::trace!(process = %provider_id, "{message}"),
            _ => tracing::info!(process = %provider_id, "{message}"),
        }
    }
}

/// Splits `2026-11-30T17:24:36.18Z  WARN message` (the format every Lattice
/// process logs in) into its level and message; another line is `INFO`.
fn logged_level(line: &str) -> (&str, &str) {
    let rest = match line.split_once(' ') {
        Some((first, rest)) if first.ends_with('Z') && first.contains('T') => rest.trim_start(),
        _ => line,
    };
    match rest.split_once(' ') {
        Some((level, message))
            if matches!(level, "ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE") =>
        {
            (level, message.trim_start())
        }
        _ => ("INFO", line),
    }
}

/// `ETXTBSY`: the file is open for writing somewhere (Linux's number).
const ETXTBSY: i32 = 26;

/// Waits for the process to exit or `stop`, checking its health meanwhile.
async fn run(
    child: &mut tokio::process::Child,
    health: &HealthCheck,
    events: &EventPublisher,
    base: &ProviderChange,
    stop: &CancellationToken,
) -> RunEnd {
    // The first check comes one period after the start: a process that is
    // still connecting is not reported unhealthy.
    let mut checks =
        tokio::time::interval_at(tokio::time::Instant::now() + health.every, health.every);
    checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last answer: an event goes out when it changes (healthy, or the
    // reason it is not).
    let mut last: Option<Result<(), String>> = None;
    let mut failed_in_a_row = 0u32;
    let mut failing_since: Option<Instant> = None;
    loop {
        tokio::select! {
            status = child.wait() => {
                return RunEnd::Exited(status.map_or_else(|e| e.to_string(), |s| format!("exited: {s}")));
            }
            () = stop.cancelled() => return RunEnd::Stopped,
            _ = checks.tick() => {
                let answer = health.ask().await;
                // While this host cannot reach NATS, a failed check says
                // nothing about the process.
                let connected = health.client.connection_state() == async_nats::connection::State::Connected;
                if answer.is_ok() || !connected {
                    (failed_in_a_row, failing_since) = (0, None);
                } else {
                    failed_in_a_row += 1;
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    if failed_in_a_row >= UNHEALTHY_AFTER && since.elapsed() >= UNHEALTHY_FOR {
                        let reason = answer.as_ref().err().cloned().unwrap_or_default();
                        return RunEnd::Unhealthy(format!(
                            "unhealthy: {failed_in_a_row} health checks failed in a row over {} s, the last: {reason}",
                            since.elapsed().as_secs()
                        ));
                    }
                }
                if last.as_ref() != Some(&answer) {
                    last = Some(answer.clone());
                    match answer {
                        Ok(()) => {
                                events.publish(LatticeEvent::HealthCheckPassed(base.clone())).await;
                        }
                        Err(reason) => {
                                events
                                    .publish(LatticeEvent::HealthCheckFailed(ProviderChange {
                                        reason: Some(reason),
                                        ..base.clone()
                                    }))
                                    .await;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::logged_level;

    #[test]
    fn a_logged_line_gives_its_level_and_message() {
        assert_eq!(
            logged_level("2026-11-30T17:24:36.188570Z  WARN link watch error error=x"),
            ("WARN", "link watch error error=x")
        );
        assert_eq!(logged_level("ERROR boom"), ("ERROR", "boom"));
        assert_eq!(logged_level("plain words"), ("INFO", "plain words"));
        assert_eq!(logged_level(""), ("INFO", ""));
    }
}

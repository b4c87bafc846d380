//! Provider processes: a host starts a provider binary, hands it its host
//! data on stdin, and restarts it with backoff when it exits, announcing
//! each start and stop as events.

use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lattice_interfaces::protocol::events::kinds;
use lattice_interfaces::protocol::provider::HostData;
use serde_json::json;
use tokio::io::AsyncWriteExt as _;
use tokio_util::sync::CancellationToken;

use super::events::EventPublisher;

/// First wait before a restart; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait before a restart.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A process that ran this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(30);
/// How long a stopping process may take after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs `path` as provider `data.provider_id` until `stop`, restarting it
/// whenever it exits. `pid` holds the running process's id (0 between runs).
pub(crate) async fn supervise(
    path: String,
    data: HostData,
    events: EventPublisher,
    stop: CancellationToken,
    pid: Arc<AtomicU32>,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut starts = 0u32;
    let event = |extra: serde_json::Value| {
        let mut data = json!({ "host_id": data.host_id, "provider_id": data.provider_id, "provider_ref": path });
        if let (Some(object), Some(extra)) = (data.as_object_mut(), extra.as_object()) {
            object.extend(extra.clone());
        }
        data
    };
    let line = match serde_json::to_string(&data) {
        Ok(line) => line + "\n",
        Err(error) => {
            tracing::error!(%error, "cannot encode provider host data");
            return;
        }
    };
    while !stop.is_cancelled() {
        let spawned = tokio::process::Command::new(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) => {
                events
                    .publish(
                        kinds::PROVIDER_START_FAILED,
                        event(json!({ "error": format!("cannot start {path}: {error}") })),
                    )
                    .await;
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(line.as_bytes()).await;
        }
        starts += 1;
        pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
        let started = Instant::now();
        events
            .publish(
                kinds::PROVIDER_STARTED,
                event(json!({ "pid": child.id(), "starts": starts })),
            )
            .await;
        tokio::select! {
            status = child.wait() => {
                pid.store(0, Ordering::Relaxed);
                if started.elapsed() >= STABLE_AFTER {
                    backoff = FIRST_BACKOFF;
                }
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                tracing::warn!(provider = %data.provider_id, %status, ?backoff, "provider process exited; restarting");
                events.publish(kinds::PROVIDER_STOPPED, event(json!({ "reason": format!("exited: {status}"), "restarting_in_ms": backoff.as_millis() as u64 }))).await;
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            () = stop.cancelled() => {
                if let Some(id) = child.id() {
                    let _ = tokio::process::Command::new("kill").arg("-TERM").arg(id.to_string()).status().await;
                }
                if tokio::time::timeout(STOP_GRACE, child.wait()).await.is_err() {
                    let _ = child.kill().await;
                }
                pid.store(0, Ordering::Relaxed);
                events.publish(kinds::PROVIDER_STOPPED, event(json!({ "reason": "stopped" }))).await;
                break;
            }
        }
    }
}

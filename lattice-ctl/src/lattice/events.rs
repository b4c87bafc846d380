//! `watch events`: the lattice's CloudEvents as they come.

use futures::StreamExt as _;
use serde_json::Value;

use crate::client::{ConnArgs, LatticeClient};
use crate::output::Format;

/// `watch events`: prints every event until Ctrl-C.
pub async fn watch_events(conn: &ConnArgs, format: Format) -> anyhow::Result<()> {
    let client = LatticeClient::connect(conn).await?;
    let mut events = client
        .nats()
        .subscribe(client.subjects().all_events())
        .await?;
    eprintln!(
        "Watching events of lattice {} (Ctrl-C to stop)",
        client.subjects().lattice()
    );
    let stopped = super::stopped(conn);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return Ok(()),
            event = events.next() => {
                let Some(event) = event else { return Ok(()) };
                match format {
                    Format::Json => println!("{}", String::from_utf8_lossy(&event.payload)),
                    Format::Table | Format::Wadm => {
                        let value: Value = serde_json::from_slice(&event.payload).unwrap_or(Value::Null);
                        let kind = event.subject.rsplit('.').next().unwrap_or_default().to_string();
                        println!("{} {kind:<22} {}", value.pointer("/time").and_then(Value::as_str).unwrap_or("-"), value.pointer("/data").unwrap_or(&Value::Null));
                    }
                }
            }
        }
    }
}
